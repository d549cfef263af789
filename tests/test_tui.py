"""The TUI driven with Pilot: drag and drop, keyboard moves, the move dialog, refusals, DHCP, drift, themes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.worker import Worker, WorkerState

from kavlan_core import events as ev
from kavlan_core.model import DEFAULT
from kavlan_core.reports import UnreadableSwitch
from kavlan_core.service import KavlanService
from kavlan_tui.app import KavlanApp
from kavlan_tui.messages import DragEnded, DragStarted, MoveRequested
from kavlan_tui.screens.help import HelpScreen
from kavlan_tui.screens.move import MoveDialog
from kavlan_tui.screens.pick_vlan import VlanPicker
from kavlan_tui.screens.report import ReportScreen
from kavlan_tui.screens.reserve import ReserveScreen
from kavlan_tui.widgets.event_log import EventLog
from kavlan_tui.widgets.jobs_panel import JobsPanel
from kavlan_tui.widgets.node_list import NodeList

SIZE = (120, 40)
REQUEST = """{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=3"""


class Clock:
    """A clock the test moves: job walltimes end when the test says."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def until(pilot: Pilot[Any], condition: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.01)


class Harness:
    """An app on a service of the small testbed, the messages it saw, and the service's events."""

    def __init__(self, service: KavlanService) -> None:
        self.service = service
        self.app = KavlanApp(service, poll_interval=0)
        self.messages: list[Message] = []
        self.events: list[ev.Event] = []
        service.events.subscribe(self.events.append)

    def seen(self, kind: type[Message]) -> list[Any]:
        """Messages of a kind, once each (the hook sees a message at every node it bubbles through)."""
        out: dict[int, Any] = {}
        for m in self.messages:
            if isinstance(m, kind):
                out.setdefault(id(m), m)
        return list(out.values())

    def notified(self, words: str) -> bool:
        """Whether the app has shown a notification saying ``words`` (each comes as a Notify message)."""
        return any(words in m.notification.message for m in self.seen(Notify))

    def section(self, site: str, vlan: int) -> NodeList:
        return self.app.main.current_board.section((site, vlan))

    def title(self, site: str, vlan: int) -> str:
        return "".join(seg.text for seg in self.section(site, vlan).title_strip())

    def rows(self, site: str, vlan: int) -> list[str]:
        return [n.node for n in self.section(site, vlan).rows]

    async def ready(self, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: self.app.board is not None and isinstance(self.app.focused, NodeList))

    async def vlan_of(self, *nodes: str) -> list[int]:
        return [v for _n, v in await self.service.vlan_of(list(nodes))]


@pytest.fixture(autouse=True)
def _no_user_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAVLAN_THEME", raising=False)


@pytest.fixture
def harness(make_service: Callable[..., KavlanService]) -> Callable[..., Harness]:
    return lambda **kw: Harness(make_service(**kw))


async def reserved(h: Harness) -> tuple[int, int]:
    """A job of alice: three suno nodes and a routed VLAN; returns (job, vlan)."""
    job = await h.service.submit(REQUEST)
    return job.id, job.vlans[0].vlan


async def on_screen(pilot: Pilot[Any], h: Harness, kind: type[Any], selector: str) -> Any:
    """Wait for a screen to be on top and composed (``selector`` found in it)."""
    await until(pilot, lambda: isinstance(h.app.screen, kind) and bool(h.app.screen.query(selector)))
    return h.app.screen


async def plan_shown(pilot: Pilot[Any], h: Harness) -> MoveDialog:
    def shown() -> bool:
        screen = h.app.screen
        return isinstance(screen, MoveDialog) and (
            screen.plan is not None or any(w.has_class("-refused") for w in screen.query("#plan"))
        )

    await until(pilot, shown)
    assert isinstance(h.app.screen, MoveDialog)
    return h.app.screen


async def drag(pilot: Pilot[Any], source: NodeList, row: int, target: Any, at: int = 1) -> None:
    """Press on a node's line, move past the threshold onto the target, release there (on its line ``at``)."""
    await pilot.mouse_down(source, offset=(10, row + 1))  # below the VLAN's header line
    await pilot.hover(target, offset=(20, 0))
    await pilot.hover(target, offset=(24, at))
    await pilot.mouse_up(target, offset=(24, at))


def test_first_screen_without_a_job_is_read_only_and_offers_to_reserve(
    harness: Callable[..., Harness],
) -> None:
    h = harness()

    async def go() -> None:
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            assert h.app.main.view == "sophia"  # every VLAN of the home site
            board = h.app.main.current_board
            assert "Read-only" in str(board.query_one(".banner").render())
            assert len(h.rows("sophia", DEFAULT)) == 8
            assert "No running job" in str(h.app.main.query_one(JobsPanel).query_one(".jobs-empty").render())
            await pilot.press("r")
            request = (await on_screen(pilot, h, ReserveScreen, "#request")).query_one("#request")
            assert request.value.startswith("{\"type='kavlan'\"}/vlan=1,/nodes=3")  # type: ignore[attr-defined]
            await pilot.click("#reserve-submit")
            await until(
                pilot, lambda: h.app.board is not None and h.app.board.jobs and h.app.main.view == "mine"
            )
            job = h.app.board.jobs[0]
            assert len(job.nodes) == 3 and job.vlans
            await until(pilot, lambda: h.app.main.current_board.has_section(job.vlans[0]))

    asyncio.run(go())


def test_a_slow_first_read_draws_the_screen_at_once_and_the_board_after(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kavlan_tui.app as app_module

    h = harness()
    read = app_module.read_board
    held: list[asyncio.Event] = []  # the first read answers only once the test has seen the screen without it

    async def slow_read(*args: Any) -> Any:
        if not held:
            held.append(asyncio.Event())
            await held[0].wait()
        return await read(*args)

    monkeypatch.setattr(app_module, "read_board", slow_read)

    async def go() -> None:
        async with h.app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: h.app.main is not None and h.app.board is None)
            held[0].set()
            await h.ready(pilot)  # the board came, and has the focus
            assert h.app.main.view == "sophia" and len(h.rows("sophia", DEFAULT)) == 8

    asyncio.run(go())


def test_drag_and_drop_of_one_node_moves_it_after_confirming(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            assert h.app.main.view == "mine"
            source = h.section("sophia", DEFAULT)
            assert [n.node for n in source.rows] == ["suno-1", "suno-2", "suno-3"]
            await drag(pilot, source, 0, h.section("sophia", vlan))
            (started,) = h.seen(DragStarted)
            assert [n.node for n in started.nodes] == ["suno-1"]
            (ended,) = h.seen(DragEnded)
            assert ended.target == ("sophia", vlan)
            (request,) = h.seen(MoveRequested)
            assert request.via == "drag"
            dialog = await plan_shown(pilot, h)
            assert dialog.plan is not None and dialog.plan.port_count == 1
            assert await h.vlan_of("suno-1") == [DEFAULT]  # a drop changes nothing before confirming
            await pilot.press("enter")
            await on_screen(pilot, h, ReportScreen, "#close")
            assert await h.vlan_of("suno-1", "suno-2") == [vlan, DEFAULT]
            assert [r["status"] for r in h.app.screen.rows] == ["success"]
            await pilot.press("escape")
            await until(pilot, lambda: "suno-1" in h.rows("sophia", vlan))
            assert "suno-1" not in h.rows("sophia", DEFAULT)

    asyncio.run(go())


def test_drag_and_drop_of_a_selection_moves_every_selected_node(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            source = h.section("sophia", DEFAULT)
            source.focus()
            await pilot.press("space", "down", "space")  # suno-1 and suno-3 (on two switches)
            assert set(h.app.context.selection) == {("suno-1", "eth0"), ("suno-3", "eth0")}
            await drag(
                pilot, source, 2, h.section("sophia", vlan)
            )  # drag one selected node: the selection goes
            (started,) = h.seen(DragStarted)
            assert sorted(n.node for n in started.nodes) == ["suno-1", "suno-3"]
            dialog = await plan_shown(pilot, h)
            assert dialog.plan is not None and len(dialog.plan.switches) == 2
            await pilot.press("enter")
            await on_screen(pilot, h, ReportScreen, "#close")
            assert await h.vlan_of("suno-1", "suno-2", "suno-3") == [vlan, DEFAULT, vlan]
            assert not h.app.context.selection

    asyncio.run(go())


def test_drag_onto_the_vlan_list_of_the_side(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            source = h.section("sophia", DEFAULT)
            vlan_list = h.app.main.query_one("#vlan-list")
            row = [v.id for v in vlan_list.rows].index(vlan)  # type: ignore[attr-defined]
            await pilot.mouse_down(source, offset=(10, 2))
            await pilot.hover(vlan_list, offset=(3, row))
            await pilot.mouse_up(vlan_list, offset=(3, row))
            (ended,) = h.seen(DragEnded)
            assert ended.target == ("sophia", vlan)
            await plan_shown(pilot, h)

    asyncio.run(go())


def test_a_drag_held_near_the_boards_edge_scrolls_to_a_vlan_off_screen(
    harness: Callable[..., Harness],
) -> None:
    h = harness(user="root")  # may move any node into sophia's global VLAN, the last one of the board

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            board = h.app.main.current_board
            await until(pilot, lambda: board.has_section(("sophia", 18)))
            await pilot.pause()
            target = h.section("sophia", 18)
            shown = board.scrollable_content_region
            assert board.scroll_y == 0 and not shown.contains_region(target.region), "VLAN 18 is off screen"
            source = h.section("sophia", DEFAULT)
            await pilot.mouse_down(source, offset=(10, 1))  # suno-1
            middle = (40, board.region.height // 2)
            await pilot.hover(board, offset=middle)
            await pilot.pause()
            assert not source.edge_scrolling and board.scroll_y == 0, "away from the edges nothing scrolls"
            await pilot.hover(board, offset=(40, board.region.height - 1))  # the bottom line of the board
            # the region follows the scroll at the next layout: wait for both (a scroll that stops short fails)
            await until(
                pilot, lambda: board.scroll_y == board.max_scroll_y and shown.contains_region(target.region)
            )
            await pilot.hover(board, offset=(40, 2))  # near the top (under the column titles): back up
            await until(pilot, lambda: board.scroll_y < board.max_scroll_y - 2)
            await pilot.hover(board, offset=middle)
            await pilot.pause()
            assert not source.edge_scrolling, "it stops once the pointer leaves the edge"
            stopped = board.scroll_y
            await pilot.pause()
            assert board.scroll_y == stopped
            await pilot.hover(board, offset=(40, board.region.height - 1))
            await until(pilot, lambda: board.scroll_y == board.max_scroll_y)
            await pilot.hover(target, offset=(20, 1))
            assert h.app.main.query_one("#drag-ghost").has_class("-ok")
            await pilot.mouse_up(target, offset=(20, 1))
            (ended,) = h.seen(DragEnded)
            assert ended.target == ("sophia", 18) and [n.node for n in ended.nodes] == ["suno-1"]
            dialog = await plan_shown(pilot, h)
            assert dialog.plan is not None and dialog.plan.port_count == 1

    asyncio.run(go())


def test_keyboard_move_select_then_move_to_vlan(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("space", "space", "m")
            picker = await on_screen(pilot, h, VlanPicker, "#targets")
            highlighted = picker.query_one("#targets").highlighted  # type: ignore[attr-defined]
            assert picker.keys[highlighted] == ("sophia", vlan)  # the first VLAN they may use
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            assert {n.node for n in dialog.nodes} == {"suno-1", "suno-2"}
            safeguard = dialog.query_one("#safeguard")
            assert safeguard.disabled and not safeguard.value  # type: ignore[attr-defined]  # simulated: plain move
            await pilot.press("enter")
            await on_screen(pilot, h, ReportScreen, "#close")
            assert await h.vlan_of("suno-1", "suno-2", "suno-3") == [vlan, vlan, DEFAULT]

    asyncio.run(go())


def test_cancelling_the_staged_dialog_changes_nothing(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            await drag(pilot, h.section("sophia", DEFAULT), 0, h.section("sophia", vlan))
            dialog = await plan_shown(pilot, h)
            assert "Gi1/0/1" in str(dialog.query_one("#plan").render())
            await pilot.click("#cancel")
            await until(pilot, lambda: not isinstance(h.app.screen, MoveDialog))
            assert await h.vlan_of("suno-1", "suno-2", "suno-3") == [DEFAULT] * 3
            assert not any(isinstance(e, (ev.MoveStarted, ev.SwitchStarted)) for e in h.events)
            # Esc cancels too
            await drag(pilot, h.section("sophia", DEFAULT), 1, h.section("sophia", vlan))
            await plan_shown(pilot, h)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(h.app.screen, MoveDialog))
            assert await h.vlan_of("suno-2") == [DEFAULT]
            assert not any(isinstance(e, ev.MoveStarted) for e in h.events)

    asyncio.run(go())


def test_a_refused_move_says_why_and_changes_nothing(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(
            size=(120, 50)
        ) as pilot:  # VLAN 5 shown, not at the board's edge, which scrolls
            await h.ready(pilot)
            h.app.main.want_view("sophia")
            await until(
                pilot,
                lambda: h.app.main.view == "sophia" and h.app.main.current_board.has_section(("sophia", 5)),
            )
            other = 5 if vlan != 5 else 6
            target = h.section("sophia", other)
            target.scroll_visible(animate=False)
            await pilot.pause()
            source = h.section("sophia", DEFAULT)
            await drag(pilot, source, 0, target)
            dialog = await plan_shown(pilot, h)
            text = str(dialog.query_one("#plan").render())
            assert (
                "Refused" in text and f"VLAN {other} of sophia is not held by a running job of alice" in text
            )
            assert "Nothing was changed" in text
            assert not dialog.query_one("#confirm").display
            await pilot.press("enter")  # no confirm to press
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(h.app.screen, MoveDialog))
            # another user's node into one's own VLAN: refused too
            h.app.main.want_view("sophia")
            await pilot.pause()
            source = h.section("sophia", DEFAULT)
            row = [n.node for n in source.rows].index("suno-6")
            source.cursor = row
            source.focus()
            await pilot.press("m")
            picker = await on_screen(pilot, h, VlanPicker, "#targets")
            picker.query_one("#targets").highlighted = picker.keys.index(("sophia", vlan))  # type: ignore[attr-defined]
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            assert "suno-6 is not in a running job of alice" in str(dialog.query_one("#plan").render())
            assert await h.vlan_of("suno-1", "suno-6") == [DEFAULT, DEFAULT]
            assert not any(isinstance(e, ev.MoveStarted) for e in h.events)

    asyncio.run(go())


def test_dhcp_toggle_with_the_key_and_the_mouse(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            h.section("sophia", vlan).focus()
            assert "○ off" in h.title("sophia", vlan)
            await pilot.press("d")
            await until(pilot, lambda: "● on" in h.title("sophia", vlan))
            assert await h.service.dhcp_state(vlan) == "on"
            assert any("DHCP server of VLAN" in line for line in h.app.main.query_one(EventLog).lines_text())
            # a click on the DHCP mark of the header switches it back
            x = h.title("sophia", vlan).index("● on")
            await pilot.click(h.section("sophia", vlan), offset=(x + 1, 0))
            await until(pilot, lambda: "○ off" in h.title("sophia", vlan))
            assert await h.service.dhcp_state(vlan) == "off"
            # the DEFAULT VLAN's server is the site's
            h.section("sophia", DEFAULT).focus()
            await pilot.press("d")
            await until(pilot, lambda: h.notified("belongs to the site"))
            # a VLAN held by nobody (or by someone else): the service refuses, the app says why
            h.app.main.want_view("sophia")
            await until(
                pilot,
                lambda: h.app.main.view == "sophia" and h.app.main.current_board.has_section(("sophia", 7)),
            )
            h.app.main.action_toggle_dhcp("sophia", 7)
            await until(pilot, lambda: h.notified("VLAN 7 of sophia is not held"))
            assert await h.service.dhcp_state(7) == "off"

    asyncio.run(go())


def test_drift_is_marked_when_a_port_changes_behind_the_apps_back(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.app.poll()
            await until(pilot, lambda: h.app.main.query_one("#status").poll != "")
            assert not h.app.drift
            tag = h.service.inventory.tag("sophia", vlan)
            with h.service.store.write() as tx:
                tx.sim_write("sw1", {"Gi1/0/2": tag})  # suno-2's port, behind the app's back
            h.app.poll()
            await until(pilot, lambda: ("suno-2", "eth0") in h.app.drift)
            assert h.app.drift[("suno-2", "eth0")] == vlan
            note = h.app.context.notes[("suno-2", "eth0")]
            assert note.drift and note.actual == vlan
            source = h.section("sophia", DEFAULT)
            line = "".join(seg.text for seg in source.render_line(2))  # the header, suno-1, suno-2
            assert "≠" in line and f"switch: {vlan}" in line
            assert any("drift:" in t and "suno-2" in t for t in h.app.main.query_one(EventLog).lines_text())
            assert h.app.main.query_one("#status").drift == 1
            with h.service.store.write() as tx:
                tx.sim_write("sw1", {"Gi1/0/2": h.service.inventory.sites["sophia"].default_tag})
            h.app.poll()
            await until(pilot, lambda: not h.app.drift)
            assert any("drift gone" in t for t in h.app.main.query_one(EventLog).lines_text())

    asyncio.run(go())


def test_job_expiry_removes_its_nodes_from_the_vlan_view(harness: Callable[..., Harness]) -> None:
    clock = Clock()
    h = harness(clock=clock)

    async def go() -> None:
        _job, vlan = await reserved(h)
        await h.service.set_vlan(["suno-1", "suno-2"], vlan)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            assert h.rows("sophia", vlan) == ["suno-1", "suno-2"]
            clock.now += 3600 + 1  # the walltime (one hour by default) has passed
            h.app.poll()
            await until(pilot, lambda: h.app.board is not None and not h.app.board.jobs)
            await until(pilot, lambda: not h.app.main.current_board.has_section(("sophia", vlan)))
            assert h.app.board.vlans[("sophia", vlan)].nodes == []
            assert await h.vlan_of("suno-1", "suno-2") == [DEFAULT, DEFAULT]
            assert any("ended" in t for t in h.app.main.query_one(EventLog).lines_text())
            assert h.app.main.query_one(JobsPanel).jobs == []

    asyncio.run(go())


def test_an_expired_job_leaves_the_board_with_polling_off(harness: Callable[..., Harness]) -> None:
    """The jobs panel sees the walltime end (its clock ticks each second) and asks for a read at once: the
    service ends the job and the board follows, with no background poll and no poll called by the test."""
    clock = Clock()
    h = harness(clock=clock)

    async def go() -> None:
        job, vlan = await reserved(h)
        await h.service.set_vlan(["suno-1"], vlan)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            assert h.app.poll_interval == 0 and [j.id for j in h.app.board.jobs] == [job]
            clock.now += 3600 + 1  # the walltime (one hour by default) has passed
            await until(pilot, lambda: any(isinstance(e, ev.JobEnded) and e.job == job for e in h.events))
            await until(pilot, lambda: h.app.board is not None and not h.app.board.jobs)
            await until(pilot, lambda: h.app.main.query_one(JobsPanel).jobs == [])
            assert h.app.board.nodes[("suno-1", "eth0")].vlan == DEFAULT

    asyncio.run(go())


def test_a_switch_down_during_a_poll_is_one_sentence(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A switch that cannot be read reaches the TUI in the drift report, the other switches read all the same:
    one sentence in the event log and a notification, said once while it lasts, no traceback, and said again when
    it reads."""
    h = harness()
    reads = h.service.drift
    down = UnreadableSwitch("sw1", ("Gi1/0/1",), "cannot read switch sw1: no answer (timed out)")

    async def unreadable(site: str | None = None) -> Any:
        found = await reads(site)
        found.unreadable.append(down)
        return found

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            monkeypatch.setattr(h.service, "drift", unreadable)
            for _ in range(2):  # the second poll says nothing new
                await h.app.poll().wait()
            assert h.app.poll_errors == {"switch sw1": "cannot read switch sw1: no answer (timed out)"}
            log = h.app.main.query_one(EventLog).lines_text()
            said = [t for t in log if "sw1" in t]
            assert said == ["poll: cannot read switch sw1: no answer (timed out)"]
            assert not any("Traceback" in t or "internal error" in t for t in log)
            shown = [m.notification for m in h.seen(Notify)]
            notes = [n for n in shown if "switch sw1" in n.message]
            assert len(notes) == 1 and notes[0].severity == "warning"
            assert not any("failed" in (n.title or "") for n in shown)
            monkeypatch.setattr(h.service, "drift", reads)
            await h.app.poll().wait()
            assert "switch sw1" not in h.app.poll_errors
            assert "poll: switch sw1 readable again" in h.app.main.query_one(EventLog).lines_text()

    asyncio.run(go())


def test_themes_from_the_config_and_the_palette(harness: Callable[..., Harness], make_service: Any) -> None:
    service = make_service()
    service.settings = replace(service.settings, theme="kavlan-high-contrast")
    h = Harness(service)

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            assert h.app.theme == "kavlan-high-contrast"
            dark = h.app.main.current_board.section(("sophia", DEFAULT)).row_styles().base
            await pilot.press("ctrl+p")
            await pilot.press(*"theme kavlan-light")
            await palette_searched(pilot, h, "theme kavlan-light")
            await pilot.press("enter")
            await until(pilot, lambda: h.app.theme == "kavlan-light")
            await pilot.pause()
            light = h.app.main.current_board.section(("sophia", DEFAULT)).row_styles().base
            assert light.bgcolor != dark.bgcolor  # the lists drew themselves again in the new theme

    asyncio.run(go())


def palette_texts(app: KavlanApp) -> list[str]:
    """What the command palette on top lists now."""
    from textual.command import CommandList

    return [str(option.hit.text) for option in app.screen.query_one(CommandList).options]  # type: ignore[attr-defined]


async def palette_searched(pilot: Pilot[Any], h: Harness, typed: str = "") -> list[str]:
    """Wait until the palette on top has searched for ``typed``, every provider having answered; what it lists then.

    Textual runs each search of the palette in a worker of the palette's own, whose end is a Worker.StateChanged
    message (the app must run with ``message_hook=h.messages.append``)."""

    def searched() -> bool:
        return any(
            m.state is WorkerState.SUCCESS
            and m.worker.node is h.app.screen
            and m.worker.description.endswith(f"({typed!r})")
            for m in h.seen(Worker.StateChanged)
        )

    await until(pilot, searched)
    return palette_texts(h.app)


def test_the_palette_offers_only_the_system_commands_that_make_sense(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            assert [c.title for c in h.app.get_system_commands(h.app.screen)] == [
                "Theme",
                "Help",
                "Screenshot",
                "Quit",
            ]
            await pilot.press("ctrl+p")
            listed = await palette_searched(pilot, h)
            assert {"Theme", "Help", "Screenshot", "Quit", "Refresh the board"} <= set(listed)
            assert not {"Keys", "Maximize", "Minimize"} & set(listed), (
                "Textual's keys panel and Maximize are hidden"
            )
            assert listed.count("Help") == 1
            await pilot.press(*"maximize")
            assert "Maximize" not in await palette_searched(pilot, h, "maximize")
            await pilot.press(*["backspace"] * 8, *"help")
            await until(pilot, lambda: palette_texts(h.app)[:1] == ["Help"])
            await pilot.press("enter")
            await on_screen(pilot, h, HelpScreen, "#help-text")  # kavlan's help, not Textual's keys panel

    asyncio.run(go())


def test_a_theme_picked_is_saved_in_the_config_and_used_at_the_next_start(
    make_service: Any, kenv: dict[str, str]
) -> None:
    from pathlib import Path

    settings_file = Path(kenv["KAVLAN_CONFIG"])
    settings_file.write_text("# my settings\npoll_interval = 0  # no polls\n")
    h = Harness(make_service())

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            assert h.app.theme == "kavlan-dark"
            await pilot.press("ctrl+t")
            listed = await palette_searched(pilot, h)
            assert sorted(listed) == sorted(h.app.themes), "kavlan's themes only, not Textual's"
            await pilot.press(*"kavlan-light")
            await until(pilot, lambda: palette_texts(h.app)[:1] == ["kavlan-light"])
            await pilot.press("enter")
            await until(pilot, lambda: h.app.theme == "kavlan-light")
            await until(pilot, lambda: "kavlan-light" in settings_file.read_text())
        assert (
            settings_file.read_text()
            == '# my settings\npoll_interval = 0  # no polls\ntheme = "kavlan-light"\n'
        )
        again = KavlanApp(make_service(), poll_interval=0)
        async with again.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: again.board is not None)
            assert again.theme == "kavlan-light"

    asyncio.run(go())


def test_an_unknown_theme_falls_back_with_a_warning(make_service: Any) -> None:
    service = make_service()
    service.settings = replace(service.settings, theme="no-such-theme")
    h = Harness(service)

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            assert h.app.theme == "kavlan-dark"
            await until(pilot, lambda: h.notified("no-such-theme"))

    asyncio.run(go())


def test_ssh_to_a_simulated_node_is_a_notification(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            await pilot.press("s")
            await until(pilot, lambda: h.notified("simulated node"))

    asyncio.run(go())


def test_keys_are_rebound_from_the_config_and_f1_lists_them(make_service: Any) -> None:
    service = make_service()
    service.settings = replace(service.settings, keys={"move-to-vlan": "M", "help": "f2"})
    h = Harness(service)

    async def go() -> None:
        await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("m")
            await pilot.pause()
            assert not isinstance(h.app.screen, VlanPicker)
            await pilot.press("M")
            await on_screen(pilot, h, VlanPicker, "#targets")
            await pilot.press("escape")
            await pilot.press("f2")
            await on_screen(pilot, h, HelpScreen, "#help-text")
            text = h.app.screen.text()
            assert "`M` **Move to VLAN…**" in text and "`move-to-vlan`" in text and "Nodes of a VLAN" in text

    asyncio.run(go())


def test_the_palette_runs_registry_commands(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        from kavlan_tui.screens.command_line import CommandScreen

        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            await pilot.press("ctrl+p")
            await pilot.press(*"vlans lille")
            await palette_searched(pilot, h, "vlans lille")
            await pilot.press("enter")
            out = (await on_screen(pilot, h, CommandScreen, "#command-output")).query_one("#command-output")
            await until(pilot, lambda: any("kavlan-global" in str(line.text) for line in out.lines))  # type: ignore[attr-defined]
            # a move typed there goes through the move dialog
            await pilot.press(*"set 4 suno-1", "enter")
            dialog = await plan_shown(pilot, h)
            assert "Refused" in str(dialog.query_one("#plan").render())

    asyncio.run(go())


def test_a_global_vlan_shows_its_nodes_from_every_site(harness: Callable[..., Harness]) -> None:
    h = harness(user="root")  # an administrator may move any node anywhere

    async def go() -> None:
        await h.service.set_vlan(["suno-1", "chetemi-1"], 18)  # sophia's global VLAN
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            assert h.app.main.view == "sophia"
            assert sorted(h.rows("sophia", 18)) == ["chetemi-1", "suno-1"]
            assert "chetemi-1-kavlan-18.lille" in "".join(  # first: the board is in natural order of names
                s.text for s in h.section("sophia", 18).render_line(1)
            )
            assert "lille" not in h.app.board.site_vlans  # read when its tab is shown
            h.app.main.want_view("lille")
            await until(
                pilot,
                lambda: h.app.main.view == "lille" and h.app.main.current_board.has_section(("sophia", 18)),
            )
            assert sorted(h.rows("sophia", 18)) == ["chetemi-1", "suno-1"]
            assert h.rows("lille", DEFAULT) == ["chetemi-2", "chetemi-3", "chetemi-4"]

    asyncio.run(go())


def test_releasing_a_job_after_confirming(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        job, vlan = await reserved(h)
        await h.service.set_vlan(["suno-1"], vlan)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("escape")  # no: nothing happens
            await pilot.pause()
            assert (await h.service.job(job)).running
            await pilot.click("#release")
            await pilot.pause()
            await pilot.press("y")
            await until(pilot, lambda: h.app.board is not None and not h.app.board.jobs)
            assert await h.vlan_of("suno-1") == [DEFAULT]

    asyncio.run(go())


def test_progress_per_switch_then_a_failure_in_the_report(harness: Callable[..., Harness]) -> None:
    h = harness(options={"sw1": {"latency_ms": 300}, "sw2": {"refuse_ports": ["Gi1/0/1"]}})

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("a", "m")  # the whole VLAN's nodes of the job: suno-1, 2 (sw1) and 3 (sw2)
            await on_screen(pilot, h, VlanPicker, "#targets")
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            await pilot.press("enter")
            await until(pilot, lambda: "switch sw1" in str(dialog.query_one("#plan").render()))
            assert "Progress" in str(dialog.query_one("#plan").render())
            await until(
                pilot,
                lambda: isinstance(h.app.screen, ReportScreen) and h.app.screen.query("#close"),
                timeout=10,
            )
            report = h.app.screen
            status = {str(r["name"]).split(".")[0]: r["status"] for r in report.rows}
            assert status["suno-3"] == "failure" and status["suno-1"] == "unchanged"
            assert "refused" in next(
                str(r["detail"]) for r in report.rows if str(r["name"]).startswith("suno-3")
            )
            assert await h.vlan_of("suno-1", "suno-3") == [DEFAULT, DEFAULT]  # the switches were rolled back

    asyncio.run(go())


def test_the_safeguard_is_offered_for_reachable_nodes_and_on_by_default(
    harness: Callable[..., Harness],
) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            board = h.app.board
            real = replace(board.nodes[("suno-1", "eth0")], simulated=False)  # as if cabled to a real switch
            h.app.push_screen(MoveDialog([real], board.vlans[("sophia", vlan)], h.app.context))
            dialog = await plan_shown(pilot, h)
            safeguard = dialog.query_one("#safeguard")
            assert not safeguard.disabled and safeguard.value  # type: ignore[attr-defined]
            assert "with at" in str(dialog.query_one("#safeguard-note").render())
            await pilot.press(
                "enter"
            )  # the staged move: its preflight needs SSH, which a simulated node has not
            await until(pilot, lambda: "The move failed" in str(dialog.query_one("#plan").render()))
            assert "simulated node" in str(dialog.query_one("#plan").render())
            assert await h.vlan_of("suno-1") == [DEFAULT]

    asyncio.run(go())


def test_the_move_dialog_says_before_confirm_that_the_vlan_has_no_dhcp(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    checked = h.service.check_dhcp

    async def as_real(names: Any, vlan: int) -> None:
        # the check sees sw1 as a real switch (the plan before it read the simulated one)
        simulated = h.service.inventory.switches["sw1"]
        h.service.inventory.switches["sw1"] = replace(simulated, driver="linux_bridge")
        h.service.inventory.reachable.add("sophia")
        try:
            await checked(names, vlan)
        finally:
            h.service.inventory.switches["sw1"] = simulated

    h.service.check_dhcp = as_real  # type: ignore[method-assign]

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            board = h.app.board
            real = replace(board.nodes[("suno-1", "eth0")], simulated=False)
            h.app.push_screen(MoveDialog([real], board.vlans[("sophia", vlan)], h.app.context))
            dialog = await plan_shown(pilot, h)
            await until(pilot, lambda: dialog.query_one("#dhcp-note").display)
            note = str(dialog.query_one("#dhcp-note").render())
            assert f"VLAN {vlan}'s DHCP server is off" in note and "no DHCP check" in note
            confirm = dialog.query_one("#confirm")
            assert confirm.disabled, "nothing moves before the user says the nodes need no DHCP"
            dialog.action_confirm()
            assert not dialog.running and await h.vlan_of("suno-1") == [DEFAULT]
            dialog.query_one("#safeguard").value = False  # type: ignore[attr-defined]
            await pilot.press("space")  # the focus is on "No DHCP check"
            await until(pilot, lambda: not confirm.disabled)
            await pilot.click("#confirm")
            await until(pilot, lambda: not isinstance(h.app.screen, MoveDialog), timeout=10)
            assert await h.vlan_of("suno-1") == [vlan]

    asyncio.run(go())


def test_rollback_is_offered_for_nodes_that_did_not_come_back(harness: Callable[..., Harness]) -> None:
    from kavlan_core.reports import NodeOutcome, StagedReport
    from kavlan_tui.screens.move import MoveOutcome

    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        await h.service.set_vlan(["suno-1"], vlan)  # switched, then (say) it did not answer from the new VLAN
        name = "suno-1.sophia.grid5000.fr"
        staged = StagedReport(
            vlan=vlan,
            nodes=[
                NodeOutcome(
                    name,
                    "failure",
                    "did not come back in VLAN 4 within 120 s",
                    DEFAULT,
                    vlan,
                    port_vlan=vlan,
                    timings={"switched": 1.0},
                )
            ],
            seconds=121.0,
        )
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            board = h.app.board
            outcome = MoveOutcome(
                board.vlans[("sophia", vlan)], (board.nodes[("suno-1", "eth0")],), staged=staged
            )
            h.app.push_screen(ReportScreen(outcome))
            await until(
                pilot, lambda: isinstance(h.app.screen, ReportScreen) and h.app.screen.query("#rollback")
            )
            assert str(h.app.screen.query_one("#rollback").label) == "Roll back 1 node"  # type: ignore[attr-defined]
            await pilot.click("#rollback")
            await until(pilot, lambda: h.app.screen.rows[0]["status"] == "rolled-back")  # type: ignore[attr-defined]
            assert await h.vlan_of("suno-1") == [DEFAULT]

    asyncio.run(go())


def test_the_background_poll_follows_changes_made_by_other_processes(make_service: Any) -> None:
    service = make_service()
    app = KavlanApp(service, poll_interval=0.2)

    async def go() -> None:
        other = make_service()  # another process (the kavlan command) on the same store
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.board is not None)
            job = await other.submit(REQUEST)
            await until(pilot, lambda: bool(app.board and app.board.jobs))
            await other.set_vlan(["suno-1"], job.vlans[0].vlan)
            await until(pilot, lambda: app.board.nodes[("suno-1", "eth0")].vlan == job.vlans[0].vlan)
            with service.store.write() as tx:
                tx.sim_write("sw4", {"Gi1/0/2": 777})  # suno-8's port, to a tag no VLAN has
            await until(pilot, lambda: app.drift.get(("suno-8", "eth0"), 0) is None)
            assert app.context.notes[("suno-8", "eth0")].tag == 777

    asyncio.run(go())


def test_deploy_into_a_vlan_from_the_palette(harness: Callable[..., Harness]) -> None:
    """The palette's "Deploy into VLAN" opens the command line with the job's nodes; Enter deploys them there."""
    h = harness()

    async def go() -> None:
        from kavlan_tui.screens.command_line import CommandScreen

        job, vlan = await reserved(h)
        nodes = list((await h.service.job(job)).nodes)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            await pilot.press("ctrl+p")
            await pilot.press(*"deploy into vlan")
            listed = await palette_searched(pilot, h, "deploy into vlan")
            assert any(f"Deploy into VLAN {vlan}" in t for t in listed), listed
            await pilot.press("enter")
            screen = await on_screen(pilot, h, CommandScreen, "#command-output")
            await pilot.press("enter")
            out = screen.query_one("#command-output")
            await until(pilot, lambda: any("successful" in str(line.text) for line in out.lines))  # type: ignore[attr-defined]
            assert set(await h.vlan_of(*nodes)) == {vlan}

    asyncio.run(go())
