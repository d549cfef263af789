"""The board at scale, driven with Pilot: the filter (patterns, counts, Esc), selecting what matches then moving
it, natural sort and grouping, a node's detail with its events, copying names as a nodefile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_tui import SIZE, Harness, drag, on_screen, plan_shown, reserved, until
from textual.pilot import Pilot

from conftest import SUBNETS
from kavlan_core import config
from kavlan_core.model import DEFAULT
from kavlan_core.service import KavlanService
from kavlan_tui.messages import DragStarted, DriftChecked, ReachChecked
from kavlan_tui.screens.copy_nodes import CopyScreen
from kavlan_tui.screens.move import MoveDialog
from kavlan_tui.screens.node_detail import NodeScreen
from kavlan_tui.screens.pick_vlan import VlanPicker
from kavlan_tui.screens.report import ReportScreen
from kavlan_tui.widgets.filter_bar import FilterBar
from kavlan_tui.widgets.node_list import NodeList

TWELVE = f"""
domain = "grid5000.fr"

[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
{SUBNETS}
[[site.switch]]
name = "sw1"
driver = "simulated"
[[site.switch]]
name = "sw2"
driver = "simulated"

[[site.cluster]]
name = "suno"
nodes = 12
cores = 2
[[site.cluster.cabling]]
nodes = "1-6"
switch = "sw2"
port = "Gi1/0/{{k}}"
[[site.cluster.cabling]]
nodes = "7-12"
switch = "sw1"
port = "Gi1/0/{{k}}"

[[site.cluster]]
name = "azur"
nodes = 2
cores = 2
[[site.cluster.cabling]]
nodes = "1-2"
switch = "sw1"
port = "Gi1/0/{{k}}"
port_offset = 10
"""
"""One site: suno-1..12 (1-6 on sw2, 7-12 on sw1 ports 1-6) and azur-1..2 (sw1 ports 11-12)."""


@pytest.fixture
def harness(make_service: Callable[..., KavlanService]) -> Callable[..., Harness]:
    return lambda **kw: Harness(make_service(**kw))


@pytest.fixture
def twelve(kenv: dict[str, str], tmp_path: Path) -> Callable[..., Harness]:
    """A harness on the twelve-node testbed (names that natural order and plain text order tell apart)."""
    made: list[KavlanService] = []
    path = tmp_path / "twelve.toml"
    path.write_text(TWELVE)

    def make(user: str = "alice") -> Harness:
        service = KavlanService(config.load(user=user, inventory=str(path)))
        made.append(service)
        return Harness(service)

    yield make  # type: ignore[misc]
    for service in made:
        asyncio.run(service.close())


def bar(h: Harness) -> FilterBar:
    return h.app.main.query_one(FilterBar)


def count_text(h: Harness) -> str:
    return str(bar(h).query_one("#filter-count").render())


def shown(h: Harness) -> dict[Any, list[str]]:
    """What the board shows: each part shown with nodes (VLAN or group) and its nodes, in order."""
    board = h.app.main.current_board
    return {
        lst.section.key: [n.node for n in lst.rows]
        for lst in board.query(NodeList)
        if lst.display and lst.rows
    }


async def typed(pilot: Pilot[Any], h: Harness, text: str) -> None:
    """Type a filter, the board narrowing at each key; wait until its last key was applied."""
    await pilot.press(*text)
    await until(pilot, lambda: h.app.main.arrangement.query.text == bar(h).text or bad(h))


def bad(h: Harness) -> bool:
    return bar(h).query_one("#filter-count").has_class("-bad")


async def cleared(pilot: Pilot[Any], h: Harness, n: int) -> None:
    await pilot.press(*["backspace"] * n)
    await until(pilot, lambda: h.app.main.arrangement.query.text == bar(h).text)


def test_the_filter_narrows_at_each_key_counts_and_esc_restores(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        job, vlan = await reserved(h)  # suno-1..3, alice's
        await h.service.set_vlan(["suno-3"], vlan)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.app.main.want_view("sophia")
            await until(pilot, lambda: h.app.main.view == "sophia" and ("sophia", DEFAULT) in shown(h))
            everything = shown(h)
            suno2 = h.app.board.nodes[("suno-2", "eth0")]
            address, mac = suno2.address, suno2.mac
            await pilot.press("slash")
            await until(pilot, lambda: bar(h).has_class("-open") and h.app.focused is bar(h).input)
            await typed(pilot, h, "suno-")
            assert count_text(h) == "8 of 8 nodes match"
            await cleared(pilot, h, 5)
            await typed(pilot, h, "suno-[1-2]")
            assert shown(h) == {("sophia", DEFAULT): ["suno-1", "suno-2"]}
            assert count_text(h) == "2 of 8 nodes match"
            held = h.section("sophia", vlan)  # alice's VLAN stays, its header alone: a place to drop nodes on
            assert held.display and held.section.collapsed and held.size.height == 1
            assert not h.section("sophia", 5).display
            await cleared(pilot, h, 10)
            for text, want in (
                ("sw2", {("sophia", DEFAULT): ["suno-4"], ("sophia", vlan): ["suno-3"]}),
                ("suno-1*", {("sophia", DEFAULT): ["suno-1"]}),
                (f"vlan:{vlan}", {("sophia", vlan): ["suno-3"]}),
                (f"job:{job}", {("sophia", DEFAULT): ["suno-1", "suno-2"], ("sophia", vlan): ["suno-3"]}),
                ("user:alice !suno-1", {("sophia", DEFAULT): ["suno-2"], ("sophia", vlan): ["suno-3"]}),
                ("vlan:default sw4", {("sophia", DEFAULT): ["suno-7", "suno-8"]}),
                (address, {("sophia", DEFAULT): ["suno-2"]}),
                (mac.upper(), {("sophia", DEFAULT): ["suno-2"]}),
            ):
                await typed(pilot, h, text)
                assert shown(h) == want, text
                await cleared(pilot, h, len(text))
            # states the polls learnt: down (did not answer), drift (≠)
            h.app.post_message(ReachChecked({("suno-2", "eth0"): False, ("suno-1", "eth0"): True}))
            h.app.post_message(
                DriftChecked({("suno-6", "eth0"): vlan}, 0.0, {("suno-6", "eth0"): 700 + vlan})
            )
            await until(pilot, lambda: ("suno-6", "eth0") in h.app.drift)
            for text, want in (
                ("down", {("sophia", DEFAULT): ["suno-2"]}),
                ("drift", {("sophia", DEFAULT): ["suno-6"]}),
                ("up", {("sophia", DEFAULT): ["suno-1"]}),
            ):
                await typed(pilot, h, text)
                assert shown(h) == want, text
                await cleared(pilot, h, len(text))
            # a range being typed is said, and the board keeps the last filter that could be read
            await typed(pilot, h, "suno-[7")
            assert "does not close" in count_text(h)
            assert shown(h) == {k: v for k, v in everything.items() if v}, "suno- was the last good filter"
            await typed(pilot, h, "-8]")
            assert shown(h) == {("sophia", DEFAULT): ["suno-7", "suno-8"]}
            assert count_text(h) == "2 of 8 nodes match"
            assert "2 of 7 nodes match" in h.title("sophia", DEFAULT)  # one of its 8 is in the VLAN
            await typed(pilot, h, "x")
            assert shown(h) == {} and "No node matches" in str(
                h.app.main.current_board.query_one(".banner").render()
            )
            await pilot.press("escape")  # Esc: every node again, the filter line gone
            await until(pilot, lambda: not bar(h).has_class("-open"))
            assert shown(h) == everything
            assert h.app.main.context.shown is None
            assert isinstance(h.app.focused, NodeList)
            assert framed(h) == {"#main"}, "the board's pane says the focus is in it"
            await pilot.press("l")  # the VLAN list of the side: its pane lights, the board's goes out
            await until(pilot, lambda: framed(h) == {"#vlans-pane"})

    asyncio.run(go())


def framed(h: Harness) -> set[str]:
    """The panes whose border says the focus is in them."""
    return {
        s for s in ("#jobs", "#vlans-pane", "#main") if h.app.main.query_one(s).has_class("-focus-within")
    }


def test_select_what_matches_then_move_it(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("space")  # suno-1: selected, and about to be hidden by the filter
            await pilot.press("slash")
            await typed(pilot, h, "suno-[2-3]")
            await pilot.press("enter")  # back to the board, the filter kept
            await until(pilot, lambda: isinstance(h.app.focused, NodeList))
            assert bar(h).has_class("-open")
            await pilot.press("A")  # every node shown
            assert set(h.app.context.selection) == {
                ("suno-1", "eth0"),
                ("suno-2", "eth0"),
                ("suno-3", "eth0"),
            }
            status = h.app.main.query_one("#status")
            assert "3 selected (1 hidden by the filter)" in str(status.render())
            await pilot.press("m")
            await on_screen(pilot, h, VlanPicker, "#targets")
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            assert sorted(n.node for n in dialog.nodes) == ["suno-2", "suno-3"], "the filter applies to m"
            await pilot.press("enter")
            await on_screen(pilot, h, ReportScreen, "#close")
            assert await h.vlan_of("suno-1", "suno-2", "suno-3") == [DEFAULT, vlan, vlan]
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(h.app.screen, ReportScreen))
            assert h.rows("sophia", vlan) == ["suno-2", "suno-3"] and not h.app.context.selection

    asyncio.run(go())


def test_a_drag_takes_what_the_filter_shows_of_the_selection(harness: Callable[..., Harness]) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("space", "space", "space")  # suno-1, 2, 3
            await pilot.press("slash")
            await typed(pilot, h, "!suno-2")
            await pilot.press("enter")
            source = h.section("sophia", DEFAULT)
            assert [n.node for n in source.rows] == ["suno-1", "suno-3"]
            target = h.section("sophia", vlan)
            assert target.section.collapsed, "alice's VLAN, where nothing matches: its header alone"
            await drag(pilot, source, 1, target, at=0)  # dropped on that header
            (started,) = h.seen(DragStarted)
            assert sorted(n.node for n in started.nodes) == ["suno-1", "suno-3"]
            dialog = await plan_shown(pilot, h)
            assert sorted(n.node for n in dialog.nodes) == ["suno-1", "suno-3"]

    asyncio.run(go())


def test_natural_sort_by_name_switch_and_port_state_and_grouping(twelve: Callable[..., Harness]) -> None:
    h = twelve()

    async def go() -> None:
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            names = [f"suno-{n}" for n in range(1, 13)]
            assert h.rows("sophia", DEFAULT) == ["azur-1", "azur-2", *names]  # suno-2 before suno-10
            await pilot.press("o")  # by switch and port
            await until(pilot, lambda: h.app.main.arrangement.sort == "port")
            assert h.rows("sophia", DEFAULT) == [
                *(f"suno-{n}" for n in range(7, 13)),  # sw1 Gi1/0/1..6
                "azur-1",  # sw1 Gi1/0/11
                "azur-2",
                *(f"suno-{n}" for n in range(1, 7)),  # sw2
            ]
            assert "switch ▾" in str(h.app.main.current_board.query_one("ColumnTitles").render())
            h.app.post_message(DriftChecked({("suno-10", "eth0"): 5}, 0.0, {("suno-10", "eth0"): 705}))
            await until(pilot, lambda: ("suno-10", "eth0") in h.app.drift)
            await pilot.press("o")  # by state: drifted first
            await until(pilot, lambda: h.app.main.arrangement.sort == "state")
            assert h.rows("sophia", DEFAULT)[0] == "suno-10"
            await pilot.press("o")
            await until(pilot, lambda: h.app.main.arrangement.sort == "name")
            cursor_on = h.section("sophia", DEFAULT)
            cursor_on.focus()
            cursor_on.cursor = h.rows("sophia", DEFAULT).index("suno-9")
            await pilot.press("g")  # by cluster: the cursor stays on its node
            await until(pilot, lambda: list(shown(h)) == [("cluster", "azur"), ("cluster", "suno")])
            assert shown(h)[("cluster", "suno")] == names
            focused = h.app.focused
            assert isinstance(focused, NodeList) and focused.cursor_node is not None
            assert focused.cursor_node.node == "suno-9"
            await pilot.press("g")  # by switch
            await until(pilot, lambda: list(shown(h)) == [("switch", "sw1"), ("switch", "sw2")])
            assert shown(h)[("switch", "sw1")] == ["azur-1", "azur-2", *names[6:]]
            await pilot.press("slash", *"azur")  # the filter applies to groups too
            await until(pilot, lambda: list(shown(h)) == [("switch", "sw1")])
            await pilot.press("escape", "g")
            await until(pilot, lambda: h.app.main.arrangement.group == "vlan")
            assert list(shown(h))[0] == ("sophia", DEFAULT)

    asyncio.run(go())


def test_the_node_detail_shows_its_nics_reach_job_and_events_newest_first(
    harness: Callable[..., Harness],
) -> None:
    h = harness()

    async def go() -> None:
        job, vlan = await reserved(h)
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            await h.service.set_vlan(["suno-1"], vlan)  # a move while the app runs: an event
            await until(
                pilot, lambda: h.app.board is not None and h.app.board.nodes[("suno-1", "eth0")].vlan == vlan
            )
            await h.service.dhcp(vlan, True)
            await until(pilot, lambda: any("DHCP" in e.text for e in h.app.journal.entries))
            h.app.post_message(DriftChecked({("suno-1", "eth0"): 5}, 0.0, {("suno-1", "eth0"): 705}))
            await until(pilot, lambda: ("suno-1", "eth0") in h.app.drift)
            h.app.post_message(ReachChecked({("suno-1", "eth0"): False}))
            await until(pilot, lambda: h.app.notes.reach.get(("suno-1", "eth0")) is False)
            section = h.section("sophia", vlan)
            section.focus()
            section.cursor = 0
            await pilot.press("enter")
            screen = await on_screen(pilot, h, NodeScreen, "#node-events")
            text = str(screen.query_one("#node-events").render())
            lines = text.splitlines()
            assert "does not answer over SSH" in lines[0]  # newest first
            assert "drift" in lines[1] and "VLAN 5" in lines[1]
            assert f"DHCP server of VLAN {vlan}: on" in lines[2]
            assert f"moved: VLAN DEFAULT → {vlan}" in lines[3]
            nic = str(screen.query_one("#node-nics").get_option_at_index(0).prompt)
            assert "eth0" in nic and "sw1 Gi1/0/1" in nic
            assert f"store: VLAN {vlan}, tag {700 + vlan}" in nic and "switch: ≠ VLAN 5, tag 705" in nic
            summary = str(screen.query_one("#node-summary").render())
            assert f"job #{job}, yours" in summary and "simulated" in summary
            await pilot.press("c")  # copy its names, from there
            copy = await on_screen(pilot, h, CopyScreen, "#copy-clipboard")
            assert copy.text == "suno-1.sophia.grid5000.fr\n"
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(h.app.screen, NodeScreen))
            await pilot.press("m")  # move it, from there
            picker = await on_screen(pilot, h, VlanPicker, "#targets")
            assert [n.node for n in picker.nodes] == ["suno-1"]
            picker.query_one("#targets").highlighted = picker.keys.index(("sophia", DEFAULT))  # type: ignore[attr-defined]
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            assert isinstance(dialog, MoveDialog) and dialog.target.id == DEFAULT

    asyncio.run(go())


def test_the_node_detail_says_a_node_is_unavailable_and_why(harness: Callable[..., Harness]) -> None:
    h = harness()
    with h.service.store.write() as tx:
        tx.mark_unavailable(
            "suno-1", "not back after the end of job 999: does not answer in DEFAULT", 1.0, 999
        )

    async def go() -> None:
        async with h.app.run_test(size=SIZE) as pilot:
            await h.ready(pilot)
            assert h.app.board is not None and set(h.app.board.unavailable) == {"suno-1"}
            section = h.section("sophia", DEFAULT)
            section.focus()
            section.cursor = h.rows("sophia", DEFAULT).index("suno-1")
            await pilot.press("enter")
            screen = await on_screen(pilot, h, NodeScreen, "#node-summary")
            summary = str(screen.query_one("#node-summary").render())
            assert "unavailable to new jobs: not back after the end of job 999" in summary

    asyncio.run(go())


def test_an_unavailable_nodes_row_says_so_with_the_reason(harness: Callable[..., Harness]) -> None:
    """On the board itself, not only in the node's screen: the lease, reach and job columns give way to it."""
    h = harness()
    with h.service.store.write() as tx:
        tx.mark_unavailable("suno-2", "not back after the end of job 999: does not answer", 1.0, 999)

    async def go() -> None:
        async with h.app.run_test(size=(200, 50)) as pilot:
            await h.ready(pilot)
            section = h.section("sophia", DEFAULT)
            rows = h.rows("sophia", DEFAULT)
            marked = "".join(s.text for s in section.render_line(1 + rows.index("suno-2")))
            other = "".join(s.text for s in section.render_line(1 + rows.index("suno-1")))
            assert "✗ unavailable: not back after the end of job 999: does not answer" in marked, marked
            assert "unavailable" not in other, other

    asyncio.run(go())


def test_copy_the_selection_as_a_nodefile_to_the_clipboard_or_a_file(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = harness()

    async def go() -> None:
        _job, vlan = await reserved(h)
        await h.service.set_vlan(["suno-2"], vlan)
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            h.section("sophia", DEFAULT).focus()
            await pilot.press("space")  # suno-1
            h.section("sophia", vlan).focus()
            await pilot.press("space")  # suno-2, in the VLAN
            await pilot.press("c")
            await on_screen(pilot, h, CopyScreen, "#copy-clipboard")
            await pilot.click("#copy-clipboard")
            await until(pilot, lambda: not isinstance(h.app.screen, CopyScreen))
            assert h.app.clipboard == "suno-1.sophia.grid5000.fr\nsuno-2.sophia.grid5000.fr\n"
            assert h.notified("2 names copied to the clipboard")
            await pilot.press("c")
            copy = await on_screen(pilot, h, CopyScreen, "#copy-in-vlan")
            copy.directory = tmp_path
            await pilot.click("#copy-in-vlan")
            await until(pilot, lambda: copy.in_vlan)
            assert "suno-2-kavlan-" in str(copy.query_one("#copy-preview").render())
            path = copy.query_one("#copy-path")
            path.value = "no/such/dir/nodes"  # type: ignore[attr-defined]
            await pilot.click("#copy-write")
            await until(pilot, lambda: "Cannot write" in str(copy.query_one("#copy-error").render()))
            assert isinstance(h.app.screen, CopyScreen), "it says why and stays"
            path.value = "nodes"  # type: ignore[attr-defined]
            write = copy.query_one("#copy-write")
            await until(
                pilot, lambda: not write.has_class("-active")
            )  # a button takes no press while it shows one
            await pilot.click("#copy-write")
            await until(pilot, lambda: (tmp_path / "nodes").exists())
            assert (tmp_path / "nodes").read_text() == (
                f"suno-1.sophia.grid5000.fr\nsuno-2-kavlan-{vlan}.sophia.grid5000.fr\n"
            )

    asyncio.run(go())


def inside(widget: Any, box: Any) -> bool:
    """Whether a widget is drawn wholly within a box (its region in the box's, on the screen)."""
    region, outer = widget.region, box.region
    return bool(region.height) and outer.contains_region(region)


def test_at_80x24_the_side_collapses_and_dialogs_keep_their_buttons_inside(
    harness: Callable[..., Harness],
) -> None:
    h = harness()

    async def go() -> None:
        job = await h.service.submit("""{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=8""")
        vlan = job.vlans[0].vlan
        async with h.app.run_test(size=(80, 24)) as pilot:
            await h.ready(pilot)
            main = h.app.main
            assert main.has_class("-narrow") and not main.query_one("#sidebar").display
            assert h.title("sophia", vlan).startswith("▌ VLAN")
            source = h.section("sophia", DEFAULT)
            assert source.size.width >= 70, "the board has the width the side left"
            line = "".join(seg.text for seg in source.render_line(1))
            assert "suno-1" in line and "Gi1/0/1" in line
            await pilot.press("j")  # the side opens while the focus is in it
            await until(pilot, lambda: main.query_one("#sidebar").display)
            await pilot.press("b")
            await until(pilot, lambda: not main.query_one("#sidebar").display)
            source.focus()
            await pilot.press("a", "m")
            await on_screen(pilot, h, VlanPicker, "#targets")
            picker = h.app.screen
            assert inside(picker.query_one(".hint"), picker.query_one("#picker"))
            await pilot.press("enter")
            dialog = await plan_shown(pilot, h)
            await until(pilot, lambda: inside(dialog.query_one("#confirm"), dialog.query_one("#dialog")))
            assert dialog.query_one("#plan-pane").size.height < 12, (
                "the plan shortened to the screen: it scrolls"
            )
            await pilot.press("enter")
            report = await on_screen(pilot, h, ReportScreen, "#close")
            await until(pilot, lambda: inside(report.query_one("#close"), report.query_one("#report")))
            assert inside(report.query_one("#report"), report)
            node = await on_screen_after_escape(pilot, h)
            assert inside(node.query_one("#node-close"), node.query_one("#node"))

    asyncio.run(go())


async def on_screen_after_escape(pilot: Pilot[Any], h: Harness) -> NodeScreen:
    """Close the report, open the first node of the board whole."""
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(h.app.screen, ReportScreen))
    first = h.app.main.current_board.first_list()
    assert first is not None
    first.focus()
    await pilot.press("enter")
    screen: NodeScreen = await on_screen(pilot, h, NodeScreen, "#node-close")
    return screen
