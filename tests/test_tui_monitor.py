"""The TUI's monitoring view, driven with Pilot on the simulated testbed: the sparkline grows with each read, a
link that goes down is said at once, a leak turns the isolation mark red with its details one key away; and an SVG
snapshot of the view (at a clock the test steps, so that the rates are the same at every run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_tui_snapshots import Album, started, until
from test_tui_snapshots import utc as utc  # a fixture, asked for by name

from conftest import set_switch_options
from kavlan_core.drivers import simulated
from kavlan_core.events import LinkChanged
from kavlan_core.model import DEFAULT
from kavlan_core.service import KavlanService
from kavlan_tui.app import KavlanApp
from kavlan_tui.screens.monitor import IsolationDetails, MonitorScreen, sparkline
from kavlan_tui.widgets.event_log import EventLog

SLOW = {"monitor_interval": 3600.0, "isolation_interval": 3600.0}
"""The view's own timers out of the way: the tests read when they say."""


def test_sparkline_scales_to_the_largest() -> None:
    assert sparkline([0.0, 50.0, 100.0, None]) == "▁▄█ "
    assert sparkline([None, 0.0]) == " ▁"


async def open_monitor(app: KavlanApp, pilot: Any) -> MonitorScreen:
    await started(app, pilot)
    app.main.want_view("sophia")
    await until(pilot, lambda: app.main.view == "sophia")
    app.main.current_board.section(("sophia", DEFAULT)).focus()
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.checks >= 1)
    screen = app.screen
    assert isinstance(screen, MonitorScreen)
    return screen


async def read(pilot: Any, screen: MonitorScreen) -> None:
    done = screen.reads
    screen.read_ports()
    await until(pilot, lambda: screen.reads > done)


def test_the_sparkline_updates_and_a_link_down_is_said(make_service: Callable[..., KavlanService]) -> None:
    service = make_service(**SLOW)
    app = KavlanApp(service, poll_interval=0)
    said: list[str] = []

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_monitor(app, pilot)
            screen.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
            await until(pilot, lambda: screen.reads >= 1)
            for _ in range(3):
                await read(pilot, screen)
            table = screen.query_one("#monitor-ports")
            plain = screen.nodes[0].plain
            line = str(table.get_cell(plain, "sends"))  # type: ignore[attr-defined]
            assert len(line) == 4 and line.strip(), line  # the first read has no rate yet: a space
            assert str(table.get_cell(plain, "link")) == "up"  # type: ignore[attr-defined]
            set_switch_options(service, "sw1", {"down_ports": [screen.nodes[0].port]})
            events: list[Any] = []
            service.events.subscribe(events.append)
            await read(pilot, screen)
            assert str(table.get_cell(plain, "link")) == "DOWN"  # type: ignore[attr-defined]
            assert any(s.startswith("link DOWN: suno-1") for s in said), said
            assert any(isinstance(e, LinkChanged) and not e.up for e in events)
            # and in the main screen's event log, as a move's events are
            log = app.main.query_one(EventLog)
            await until(pilot, lambda: any("link DOWN: suno-1/eth0 (sw1" in t for t in log.lines_text()))

    asyncio.run(asyncio.wait_for(go(), 60))


def test_a_leak_turns_the_mark_red_with_its_details(make_service: Callable[..., KavlanService]) -> None:
    service = make_service(options={"sw1": {"fdb_extra": ["Gi1/0/1 02:00:00:00:00:99 100"]}}, **SLOW)
    app = KavlanApp(service, poll_interval=0)

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_monitor(app, pilot)
            label = screen.query_one("#monitor-mark")
            assert "LEAK: 1 finding" in str(label.render()) and label.has_class("leak")
            log = app.main.query_one(EventLog)
            await until(
                pilot,
                lambda: any(
                    "isolation leak (unknown): 02:00:00:00:00:99" in t
                    and "suno-1/eth0's port sw1/Gi1/0/1" in t
                    for t in log.lines_text()
                ),
            )
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, IsolationDetails))
            details = app.screen
            assert isinstance(details, IsolationDetails)
            assert any("02:00:00:00:00:99 (a MAC no node of the testbed has)" in x for x in details.lines)
            assert any(x.strip().startswith("02:00:00:00:00:99  sw1 Gi1/0/1  unknown") for x in details.lines)
            await pilot.press("escape", "escape")
            await until(pilot, lambda: not isinstance(app.screen, (IsolationDetails, MonitorScreen)))

    asyncio.run(asyncio.wait_for(go(), 60))


class Clock:
    """The simulated switches' wall clock and the monitor's, stepped by the test."""

    def __init__(self) -> None:
        self.t = 1_780_000_000.0

    def time(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from kavlan_core import monitor

    c = Clock()
    monkeypatch.setattr(simulated, "time", SimpleNamespace(time=c.time))
    monkeypatch.setattr(monitor, "time", SimpleNamespace(monotonic=c.monotonic))
    return c


def test_snapshot_of_the_monitoring_view(
    make_service: Callable[..., KavlanService], utc: None, clock: Clock, tmp_path: Path
) -> None:
    service = make_service(clock=lambda: 1_780_000_000.0, **SLOW)
    app = KavlanApp(service, poll_interval=0)
    album = Album(app, tmp_path, (120, 40))

    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_monitor(app, pilot)
            await until(pilot, lambda: screen.reads >= 1)
            for _ in range(6):
                clock.t += 2.0
                await read(pilot, screen)
            await pilot.pause(0.1)
            album.check("monitoring")

    asyncio.run(asyncio.wait_for(go(), 60))
    album.verdict()
    assert time.time() > 0
