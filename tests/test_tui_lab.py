"""The TUI on a real lab (root): two nodes dragged into a routed VLAN with the at safeguard come back reachable
there, then go back to DEFAULT from the keyboard.

The app must run where kavlan runs in the lab, in the frontend's network namespace (its SSH sessions, its
names): the test runs this file as a script there, through ``kavlan-lab exec``, and the script drives the app
with Pilot and prints what it saw as JSON. The checks that do not trust the app (ping, ssh, kavlan -g) are made
from the test, with the project's commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lab import HAS_AT, MISSING, SITE, kavlan, lab_exec, pings, running_lab, ssh, tool

from kavlan_core.lab.builder import Lab
from kavlan_core.model import DEFAULT, ROUTED_IDS

USER = "alice"
"""Not an administrator: the app shows and moves only what her job holds."""
REQUEST = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2"
RESTART_DELAY = 3
"""Seconds between scheduling the network restart with at and its firing: the switch takes well under that."""
VERIFY_TIMEOUT = 30
SIZE = (120, 40)
BUDGET = 90.0
"""Seconds the whole test may take, lab up and down included."""


def cannot_run() -> str:
    """Why the lab cannot be built here; empty if it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces; CI runs as root)"
    if MISSING:
        return f"the lab needs {', '.join(MISSING)} (apt-get install them)"
    if not HAS_AT:
        return "the staged move needs at (apt-get install at)"
    try:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        listed = False
    return "" if listed and Path("/proc/self/ns/net").exists() else "no network namespace support here"


WHY_NOT = cannot_run() if __name__ != "__main__" else ""
pytestmark = pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT)  # under CI=true, conftest makes a skip fail


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("tui-lab")) as the_lab:
        yield the_lab


def as_user(lab: Lab, *cmd: str) -> str:
    proc = lab_exec(lab, "env", f"KAVLAN_USER={USER}", *cmd)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


def in_the_app(lab: Lab, phase: str, job: int, vlan: int, timeout: float) -> dict[str, Any]:
    """Run this file as the Pilot script in the frontend namespace; its last line is the JSON of what it saw."""
    args = ["--phase", phase, "--job", str(job), "--vlan", str(vlan)]
    proc = lab_exec(lab, sys.executable, str(Path(__file__).resolve()), *args, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, (
        f"the app ({phase}) failed: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )
    seen: dict[str, Any] = json.loads(lines[-1])
    return seen


def test_two_nodes_dragged_into_a_routed_vlan_come_back_reachable_there(lab: Lab) -> None:
    started = time.monotonic()
    job_info = json.loads(as_user(lab, tool("kavlan-oarsub"), "-l", REQUEST, "--json"))
    job, nodes = job_info["uid"], sorted(n.split(".")[0] for n in job_info["assigned_nodes"])
    vid = int(as_user(lab, tool("kavlan"), "-V", "-j", str(job)))
    assert vid in ROUTED_IDS and len(nodes) == 2
    as_user(
        lab, tool("kavlan"), "-e", "-j", str(job)
    )  # the VLAN's DHCP server gives the nodes their new address
    for node in nodes:
        assert pings(lab, node), f"{node} answers on its DEFAULT name before the move"

    # the drag: both nodes selected with the mouse, pressed on, dragged over the VLAN, dropped; the safeguard on
    seen = in_the_app(lab, "drag", job, vid, timeout=BUDGET - (time.monotonic() - started))
    assert seen["dragged"] == nodes and seen["dropped_on"] == [SITE, vid]
    assert seen["safeguard"] == {"value": True, "disabled": False}
    report = {r["name"].split(".")[0]: r for r in seen["report"]}
    assert sorted(report) == nodes
    for node, row in report.items():
        assert row["status"] == "success", f"{node}: {row['message']}"
        assert "back" in row["timings"], f"{node} was verified from its new VLAN: {row}"
        assert (row["old_vlan"], row["new_vlan"]) == (DEFAULT, vid)
    assert seen["board"] == {node: vid for node in nodes}, "the board shows them in the VLAN"

    # independently of the app: the nodes answer under their in-VLAN names, not under their DEFAULT ones
    for node in nodes:
        name = f"{node}-kavlan-{vid}"
        assert pings(lab, name), f"{name} answers from the frontend"
        assert ssh(lab, name, "hostname") == name
        assert not pings(lab, node), f"{node}'s DEFAULT address is gone"
        assert kavlan(lab, "-g", "-m", node).split() == [f"{node}.{SITE}.grid5000.fr:", str(vid)]

    # back to DEFAULT from the keyboard: the VLAN's nodes selected (a), moved (m) to DEFAULT, the safeguard on
    back = in_the_app(lab, "back", job, vid, timeout=BUDGET - (time.monotonic() - started))
    assert back["safeguard"] == {"value": True, "disabled": False}
    assert {r["name"].split(".")[0]: (r["status"], r["new_vlan"]) for r in back["report"]} == {
        node: ("success", DEFAULT) for node in nodes
    }
    assert back["board"] == {node: DEFAULT for node in nodes}
    for node in nodes:
        assert pings(lab, node), f"{node} answers on its DEFAULT name again"
    assert lab_exec(lab, "env", f"KAVLAN_USER={USER}", tool("kavlan-oardel"), str(job)).returncode == 0
    assert time.monotonic() - started < BUDGET


# --- the script: the app, driven with Pilot, in the frontend namespace -------------------------------------------


async def until(pilot: Any, condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not get there in {timeout:g} s: {what}")
        await pilot.pause(0.05)


async def drive(phase: str, job: int, vid: int) -> dict[str, Any]:
    from kavlan_core import config
    from kavlan_core.service import KavlanService
    from kavlan_tui.app import KavlanApp
    from kavlan_tui.messages import DragEnded
    from kavlan_tui.screens.move import MoveDialog
    from kavlan_tui.screens.pick_vlan import VlanPicker
    from kavlan_tui.screens.report import ReportScreen
    from kavlan_tui.widgets.node_list import NodeList

    settings = config.load(
        user=USER, restart_delay=RESTART_DELAY, verify_timeout=VERIFY_TIMEOUT, poll_interval=0
    )
    service = KavlanService(settings)
    app = KavlanApp(service, poll_interval=0)
    messages: list[Any] = []
    seen: dict[str, Any] = {}
    site = settings.site or SITE
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await until(
            pilot,
            lambda: (
                app.board is not None
                and any(j.id == job for j in app.board.jobs)
                and isinstance(app.focused, NodeList)
            ),
            10,
            "the board, with the job",
        )
        board = app.main.current_board
        await until(
            pilot,
            lambda: board.has_section((site, vid)) and board.has_section((site, DEFAULT)),
            5,
            "the job's VLAN and DEFAULT on the board",
        )
        vlan_list, default_list = board.section((site, vid)), board.section((site, DEFAULT))
        if phase == "drag":
            assert sorted(n.node for n in default_list.rows) == sorted(
                n.node for n in app.board.nodes.values() if n.mine
            )
            for row in range(len(default_list.rows)):  # a click on each one's box selects it
                await pilot.click(default_list, offset=(0, 1 + row))
            assert len(app.context.selection) == 2
            await pilot.mouse_down(default_list, offset=(10, 1))
            await pilot.hover(vlan_list, offset=(20, 0))
            await pilot.hover(vlan_list, offset=(24, 1))
            await pilot.mouse_up(vlan_list, offset=(24, 1))
            ended = next(m for m in messages if isinstance(m, DragEnded))
            seen["dragged"] = sorted(n.node for n in ended.nodes)
            seen["dropped_on"] = list(ended.target) if ended.target else None
        else:
            vlan_list.focus()
            await pilot.press("a", "m")
            await until(
                pilot,
                lambda: isinstance(app.screen, VlanPicker) and bool(app.screen.query("#targets")),
                5,
                "the VLAN picker",
            )
            picker = app.screen
            picker.query_one("#targets").highlighted = picker.keys.index((site, DEFAULT))  # type: ignore[attr-defined]
            await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, MoveDialog) and app.screen.plan is not None,
            10,
            "the plan in the move dialog",
        )
        dialog = app.screen
        safeguard = dialog.query_one("#safeguard")
        seen["safeguard"] = {"value": safeguard.value, "disabled": safeguard.disabled}  # type: ignore[attr-defined]
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: isinstance(app.screen, ReportScreen),
            VERIFY_TIMEOUT + RESTART_DELAY + 15,
            "the report of the staged move",
        )
        staged = app.screen.outcome.staged  # type: ignore[attr-defined]
        assert staged is not None, "a staged move (the safeguard was on)"
        seen["report"] = [
            {
                "name": n.name,
                "status": n.status,
                "message": n.message,
                "old_vlan": n.old_vlan,
                "new_vlan": n.new_vlan,
                "timings": n.timings,
            }
            for n in staged.nodes
        ]
        await pilot.press("escape")
        moved = {n.split(".")[0] for n in (o["name"] for o in seen["report"])}
        where = vid if phase == "drag" else DEFAULT

        def shown() -> bool:
            board_now = app.board
            return (
                board_now is not None
                and {n.node for n in board_now.vlans[(site, where)].nodes if n.node in moved} == moved
            )

        await until(pilot, shown, 5, "the board showing the nodes where they went")
        assert app.board is not None
        seen["board"] = {n.node: n.vlan for n in app.board.nodes.values() if n.node in moved}
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Pilot script of the TUI's lab test (run by the test).")
    parser.add_argument("--phase", choices=["drag", "back"], required=True)
    parser.add_argument("--job", type=int, required=True)
    parser.add_argument("--vlan", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        seen = asyncio.run(drive(args.phase, args.job, args.vlan))
    except Exception:  # the test shows it: the script's output is all it gets
        print(traceback.format_exc(), flush=True)
        return 1
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
