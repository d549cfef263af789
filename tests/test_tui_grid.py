"""The TUI's grid reservation: the reservation form's sites make one job per site (as kavlan-oargridsub), the jobs
panel says each job's site and grid, and the board shows the grid's nodes of every site under its global VLAN."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from test_tui import SIZE, Harness, harness, on_screen, until  # noqa: F401  (harness: the fixture)
from textual.widgets import Input, Select

from kavlan_core.model import DEFAULT
from kavlan_tui.screens.reserve import ReserveScreen, grid_line, is_grid_line, sites_of
from kavlan_tui.widgets.jobs_panel import JobsPanel


def test_the_forms_grid_line():
    assert sites_of("sophia, lille lille,") == ["sophia", "lille"]
    line = grid_line(["sophia", "lille"], "2", "sophia", "suno", "kavlan-global")
    assert (
        line
        == "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+{\"cluster='suno'\"}/nodes=2,lille:rdef=/nodes=2"
    )
    assert is_grid_line(line) and not is_grid_line("{\"type='kavlan'\"}/vlan=1,/nodes=2")
    assert grid_line(["lille"], "0", "sophia", "", "") == ""


def test_a_grid_reserved_from_the_form_shows_every_sites_nodes_under_its_global_vlan(
    harness: Callable[..., Harness],  # noqa: F811
) -> None:
    h = harness()

    async def go() -> None:
        async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
            await h.ready(pilot)
            await pilot.press("r")
            form = await on_screen(pilot, h, ReserveScreen, "#sites")
            form.query_one("#vlan-type", Select).value = "kavlan-global"
            form.query_one("#nodes", Input).value = "2"
            form.query_one("#sites", Input).value = "sophia,lille"
            await until(pilot, lambda: form.query_one("#request", Input).value.startswith("sophia:rdef="))
            assert form.query_one("#request", Input).value == (
                "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+/nodes=2,lille:rdef=/nodes=2"
            )
            await pilot.click("#reserve-submit")
            await until(pilot, lambda: h.app.board is not None and len(h.app.board.jobs) == 2)
            jobs = h.app.board.jobs
            assert {j.grid for j in jobs} == {1} and [j.site for j in jobs] == ["sophia", "lille"]
            assert h.notified("grid 1: jobs sophia")
            panel = str(h.app.main.query_one(JobsPanel).query_one("OptionList").get_option_at_index(1).prompt)
            assert "lille · grid 1" in panel
            (vlan,) = [v for j in jobs for v in j.vlans]
            nodes = [n for j in jobs for n in j.nodes]
            await h.service.set_vlan(nodes, vlan[1])
            h.app.load_board()
            await until(pilot, lambda: sorted(h.rows(*vlan)) == sorted(nodes))
            sites = {h.app.board.nodes[(n, "eth0")].site for n in h.rows(*vlan)}
            assert sites == {"sophia", "lille"}, "every site's nodes under the one global VLAN"
            await h.service.set_vlan(nodes, DEFAULT)
            await h.service.grid_delete(1)

    asyncio.run(go())
