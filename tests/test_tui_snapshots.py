"""SVG snapshots of the TUI's main views at the sizes users have (80x24, 120x40, 200x60) and in every theme, at a
fixed clock, compared with tests/snapshots/.

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
from kavlan_tui.screens.copy_nodes import CopyScreen
from kavlan_tui.screens.move import MoveDialog
from kavlan_tui.screens.node_detail import NodeScreen
from kavlan_tui.screens.report import ReportScreen
from kavlan_tui.widgets.node_list import NodeList

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KAVLAN_UPDATE_SNAPSHOTS") == "1"
SIZES = [(80, 24), (120, 40), (200, 60)]
CLOCK = 1_780_000_000.0
REQUEST = """{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=4"""
_SECONDS = re.compile(r"\d+\.\d\d(&#160;| )s\b")


def normalize(svg: str) -> str:
    """Rich names the SVG's classes after a hash of the content, and a move takes the time it takes: keep both
    out of the comparison."""
    return _SECONDS.sub("0.00 s", re.sub(r"terminal-\d+", "terminal", svg))


class Album:
    """Compares each view with its snapshot; says every one that differs at the end (not only the first)."""

    def __init__(self, app: KavlanApp, tmp_path: Path, size: tuple[int, int] | None = None) -> None:
        self.app, self.tmp_path = app, tmp_path
        self.suffix = f"-{size[0]}x{size[1]}" if size else ""
        self.differ: list[str] = []

    def check(self, view: str) -> None:
        name = f"{view}{self.suffix}"
        svg = self.app.export_screenshot(title="kavlan-tui")
        path = SNAPSHOTS / f"{name}.svg"
        if UPDATE:
            SNAPSHOTS.mkdir(exist_ok=True)
            path.write_text(svg)
        elif not path.exists():
            self.differ.append(f"no snapshot {path.name}: make it with KAVLAN_UPDATE_SNAPSHOTS=1")
        elif normalize(svg) != normalize(path.read_text()):
            actual = self.tmp_path / f"{name}.svg"
            actual.write_text(svg)
            self.differ.append(f"{name} differs from tests/snapshots/{path.name}: see {actual}")

    def verdict(self) -> None:
        if self.differ:
            pytest.fail("\n".join([*self.differ, "(KAVLAN_UPDATE_SNAPSHOTS=1 if the change is deliberate)"]))


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


async def until(pilot: Any, ready: Callable[[], Any]) -> None:
    """Wait for ``ready``, then for the screen to settle (every refresh it asked for drawn)."""
    deadline = time.monotonic() + 5
    while not ready():
        assert time.monotonic() < deadline, "the view did not get there in time"
        await pilot.pause(0.01)
    await pilot.pause(0.1)


async def started(app: KavlanApp, pilot: Any) -> None:
    app.animation_level = "none"
    await until(pilot, lambda: app.board is not None and isinstance(app.focused, NodeList))


def _with_a_job(service: KavlanService) -> int:
    async def setup() -> int:
        job = await service.submit(REQUEST)
        vlan = job.vlans[0].vlan
        await service.set_vlan(list(job.nodes[:2]), vlan)
        await service.dhcp(vlan, True)
        return vlan

    return asyncio.run(setup())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_first_screen_without_a_job(service: KavlanService, tmp_path: Path, size: tuple[int, int]) -> None:
    app = KavlanApp(service, poll_interval=0)
    album = Album(app, tmp_path, size)

    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await started(app, pilot)
            await until(pilot, lambda: app.main.view == "sophia")
            album.check("first-screen")

    asyncio.run(go())
    album.verdict()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_views(service: KavlanService, tmp_path: Path, size: tuple[int, int]) -> None:
    """Your jobs; a site filtered, then grouped by switch; copying names; the move dialog and its report; a node
    whole, with the events of that move."""
    vlan = _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)
    album = Album(app, tmp_path, size)

    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await started(app, pilot)
            await until(pilot, lambda: app.main.view == "mine")
            album.check("your-jobs")
            app.main.want_view("sophia")
            await until(pilot, lambda: app.main.view == "sophia")
            await pilot.press("slash", *"suno-[2-4]")
            await until(pilot, lambda: app.main.arrangement.query.text == "suno-[2-4]")
            album.check("filtered")
            await pilot.press("escape", "g", "g")
            await until(pilot, lambda: app.main.arrangement.group == "switch")
            album.check("grouped-by-switch")
            await pilot.press("g")
            app.main.want_view("mine")
            await until(pilot, lambda: app.main.view == "mine" and app.main.arrangement.group == "vlan")
            app.main.current_board.section(("sophia", DEFAULT)).focus()
            await pilot.press("space", "space", "c")
            await until(pilot, lambda: isinstance(app.screen, CopyScreen))
            album.check("copy-names")
            await pilot.press("escape", "m")
            await until(pilot, lambda: bool(app.screen.query("#targets")))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, MoveDialog) and app.screen.plan is not None)
            album.check("move-dialog")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ReportScreen) and app.screen.query("#close"))
            album.check("move-report")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, ReportScreen))
            moved = app.main.current_board.section(("sophia", vlan))
            moved.focus()
            moved.cursor = len(moved.rows) - 1
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, NodeScreen))
            album.check("node-detail")

    asyncio.run(go())
    album.verdict()


@pytest.mark.parametrize("theme", ["kavlan-light", "kavlan-high-contrast"])
def test_your_jobs_view_in_the_other_themes(service: KavlanService, tmp_path: Path, theme: str) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)
    album = Album(app, tmp_path)

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await started(app, pilot)
            app.theme = theme
            await until(pilot, lambda: app.theme == theme and app.main.view == "mine")
            album.check(f"your-jobs-{theme.removeprefix('kavlan-')}")

    asyncio.run(go())
    album.verdict()


def test_refused_move_dialog(service: KavlanService, tmp_path: Path) -> None:
    _with_a_job(service)
    app = KavlanApp(service, poll_interval=0)
    album = Album(app, tmp_path)

    async def go() -> None:
        from kavlan_tui.messages import MoveRequested

        async with app.run_test(size=(120, 40)) as pilot:
            await started(app, pilot)
            board = app.board
            assert board is not None
            app.main.post_message(MoveRequested([board.nodes[("suno-8", "eth0")]], ("sophia", 9)))
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, MoveDialog) and app.screen.query_one("#plan").has_class("-refused")
                ),
            )
            album.check("refused-move")

    asyncio.run(go())
    album.verdict()
