"""SVG snapshots of the TUI's main views at a fixed size and clock, compared with tests/snapshots/.

Regenerate them (after a deliberate change of the look) with: KAVLAN_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_tui_snapshots.py
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kavlan_core.model import DEFAULT
from kavlan_core.service import KavlanService
from kavlan_tui.app import KavlanApp
from kavlan_tui.screens.move import MoveDialog
from kavlan_tui.widgets.node_list import NodeList

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KAVLAN_UPDATE_SNAPSHOTS") == "1"
SIZE = (110, 34)
CLOCK = 1_780_000_000.0
REQUEST = """{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=4"""


def normalize(svg: str) -> str:
    """Rich names the SVG's classes after a hash of the content: keep them out of the comparison."""
    return re.sub(r"terminal-\d+", "terminal", svg)


def check(name: str, svg: str, tmp_path: Path) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg)
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}: make it with KAVLAN_UPDATE_SNAPSHOTS=1")
    if normalize(svg) != normalize(path.read_text()):
        actual = tmp_path / f"{name}.svg"
        actual.write_text(svg)
        pytest.fail(
            f"{name} differs from {path.relative_to(Path(__file__).parent.parent)}: see {actual} "
            "(KAVLAN_UPDATE_SNAPSHOTS=1 if the change is deliberate)"
        )


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("KAVLAN_THEME", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def service(make_service: Callable[..., KavlanService], utc: None) -> KavlanService:
    return make_service(clock=lambda: CLOCK)


async def shot(app: KavlanApp, ready: Callable[[], Any], act: Callable[[Any], Any] | None = None) -> str:
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        deadline = time.monotonic() + 5
        while not (app.board is not None and isinstance(app.focused, NodeList)):
            assert time.monotonic() < deadline, "the board was not read in time"
            await pilot.pause(0.01)
        if act is not None:
            await act(pilot)
        deadline = time.monotonic() + 5
        while not ready():
            assert time.monotonic() < deadline, "the view did not get there in time"
            await pilot.pause(0.01)
        await pilot.pause(0.1)
        return app.export_screenshot(title="kavlan-tui")


def test_first_screen_without_a_job(service: KavlanService, tmp_path: Path) -> None:
    app = KavlanApp(service, poll_interval=0)
    check("first-screen", asyncio.run(shot(app, lambda: app.main.view == "sophia")), tmp_path)


def _with_a_job(service: KavlanService) -> int:
    async def setup() -> int:
        job = await service.submit(REQUEST)
        vlan = job.vlans[0].vlan
        await service.set_vlan(list(job.nodes[:2]), vlan)
        await service.dhcp(vlan, True)
        return vlan

    return asyncio.run(setup())


def test_your_jobs_view(service: KavlanService, tmp_path: Path) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)
    check("your-jobs", asyncio.run(shot(app, lambda: app.main.view == "mine")), tmp_path)


def test_your_jobs_view_in_the_light_theme(service: KavlanService, tmp_path: Path) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)

    async def light(pilot: Any) -> None:
        app.theme = "kavlan-light"
        await pilot.pause(0.1)

    check("your-jobs-light", asyncio.run(shot(app, lambda: app.theme == "kavlan-light", light)), tmp_path)


def test_move_dialog(service: KavlanService, tmp_path: Path) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)

    async def move(pilot: Any) -> None:
        board = app.main.current_board
        source = board.section(("sophia", DEFAULT))
        source.focus()
        await pilot.press("space", "space", "m")
        while not app.screen.query("#targets"):
            await pilot.pause(0.01)
        await pilot.press("enter")

    def planned() -> bool:
        return isinstance(app.screen, MoveDialog) and app.screen.plan is not None

    check("move-dialog", asyncio.run(shot(app, planned, move)), tmp_path)


def test_refused_move_dialog(service: KavlanService, tmp_path: Path) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)

    async def refuse(pilot: Any) -> None:
        from kavlan_tui.messages import MoveRequested

        board = app.board
        assert board is not None
        node = board.nodes[("suno-8", "eth0")]
        app.main.post_message(MoveRequested([node], ("sophia", 9)))

    def refused() -> bool:
        return isinstance(app.screen, MoveDialog) and app.screen.query_one("#plan").has_class("-refused")

    check("refused-move", asyncio.run(shot(app, refused, refuse)), tmp_path)
