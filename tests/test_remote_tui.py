"""The TUI in remote mode, driven with Pilot: it reads the board from a real ``kavlan-api serve``, moves nodes
with the keyboard through the server, and follows another client's move through the server's event stream."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from api_fixture import (
    api_certs,  # noqa: F401  (the session's CA, asked for by name below)
    start_server,
)
from test_tui import REQUEST, SIZE, Harness, on_screen, plan_shown, until

from conftest import small_inventory
from kavlan_core import config
from kavlan_core import events as ev
from kavlan_core.api.client import RemoteService
from kavlan_core.model import DEFAULT
from kavlan_tui.screens.pick_vlan import VlanPicker
from kavlan_tui.screens.report import ReportScreen

pytestmark = pytest.mark.slow


def test_the_board_a_keyboard_move_and_the_live_view_through_the_api(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    certs = Path(request.getfixturevalue("api_certs"))
    # one server for both sites of the testbed: the board shows where every node of every site is
    srv = start_server(
        tmp_path / "server",
        certs,
        inventory=small_inventory(tmp_path / "small.toml"),
        args=["--site", "sophia", "--site", "lille"],
    )

    def settings(home: str) -> config.Settings:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
        env.update(
            KAVLAN_DATA_DIR=str(tmp_path / home),
            KAVLAN_CONFIG=str(tmp_path / "none.toml"),
            KAVLAN_USER="alice",
        )
        cert, key = srv.cert("alice")
        return config.load(env=env, api=srv.url, ca_cert=srv.ca, client_cert=cert, client_key=key)

    async def go() -> None:
        service = await RemoteService.open(settings("tui"))
        other = await RemoteService.open(
            settings("cli")
        )  # another client of the same server (the kavlan command)
        h = Harness(service)  # type: ignore[arg-type]
        try:
            job = await service.submit(REQUEST)
            vlan = job.vlans[0].vlan
            async with h.app.run_test(size=SIZE) as pilot:
                await h.ready(pilot)
                assert h.app.main.view == "mine"
                assert h.rows("sophia", DEFAULT) == ["suno-1", "suno-2", "suno-3"]
                assert h.app.board is not None and h.app.board.user == "alice"
                # a keyboard move: select two nodes, m, the first VLAN offered, confirm
                h.section("sophia", DEFAULT).focus()
                await pilot.press("space", "space", "m")
                picker = await on_screen(pilot, h, VlanPicker, "#targets")
                assert picker.keys[picker.query_one("#targets").highlighted] == ("sophia", vlan)  # type: ignore[attr-defined]
                await pilot.press("enter")
                dialog = await plan_shown(pilot, h)
                assert dialog.plan is not None and dialog.plan.port_count == 2
                await pilot.press("enter")
                report = await on_screen(pilot, h, ReportScreen, "#close")
                assert [r["status"] for r in report.rows] == ["success", "success"]
                assert [v for _n, v in await other.vlan_of(["suno-1", "suno-2", "suno-3"])] == [
                    vlan,
                    vlan,
                    DEFAULT,
                ]
                await pilot.press("escape")
                await until(pilot, lambda: h.rows("sophia", vlan) == ["suno-1", "suno-2"])
                # the live view: another client's move reaches the board through the server's event stream
                await other.set_vlan(["suno-3"], vlan)
                await until(pilot, lambda: "suno-3" in h.rows("sophia", vlan), timeout=10)
                assert "suno-3" not in h.rows("sophia", DEFAULT)
                assert any(isinstance(e, ev.NodeMoved) and e.node.startswith("suno-3") for e in h.events)
        finally:
            await other.close()
            await service.close()

    try:
        asyncio.run(go())
    finally:
        srv.stop()


def test_with_one_sites_server_the_board_shows_that_site(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The common remote setting, ``api`` alone, naming the home site's server: the board, its tabs, its poll
    and its palette cover the sites that server serves; the others are not shown rather than failing."""
    certs = Path(request.getfixturevalue("api_certs"))
    srv = start_server(tmp_path / "server", certs, inventory=small_inventory(tmp_path / "small.toml"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(
        KAVLAN_DATA_DIR=str(tmp_path / "tui"), KAVLAN_CONFIG=str(tmp_path / "none.toml"), KAVLAN_USER="alice"
    )
    cert, key = srv.cert("alice")
    settings = config.load(env=env, api=srv.url, ca_cert=srv.ca, client_cert=cert, client_key=key)

    async def go() -> None:
        service = await RemoteService.open(settings)
        h = Harness(service)  # type: ignore[arg-type]
        try:
            assert service.reachable_sites() == ["sophia"]
            assert set(service.inventory.sites) == {"sophia", "lille"}
            async with h.app.run_test(size=SIZE) as pilot:
                await h.ready(pilot)
                board = h.app.board
                assert board is not None and board.sites == ["sophia"]
                assert h.rows("sophia", DEFAULT)[:3] == ["suno-1", "suno-2", "suno-3"]
                assert all(n.site == "sophia" for v in board.vlans.values() for n in v.nodes)
                await h.app.poll().wait()  # reads sophia's switches only: nothing to complain about
                assert h.app.poll_errors == {}
        finally:
            await service.close()

    try:
        asyncio.run(go())
    finally:
        srv.stop()
