"""Regenerate the SVG screenshots of kavlan-tui in screenshots/ (demo testbed, fixed size and clock)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
CLOCK = 1_780_000_000.0
"""A fixed time: job walltimes and log timestamps come out the same at every run."""


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.02)


async def shoot(out: Path, only: set[str]) -> list[Path]:
    from kavlan_core import config
    from kavlan_core.service import KavlanService
    from kavlan_tui.app import KavlanApp
    from kavlan_tui.screens.move import MoveDialog
    from kavlan_tui.screens.report import ReportScreen

    written: list[Path] = []

    def save(app: KavlanApp, name: str) -> None:
        if only and name not in only:
            return
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"kavlan-tui: {name.replace('-', ' ')}"))
        written.append(path)

    service = KavlanService(config.load(), clock=lambda: CLOCK)
    app = KavlanApp(service, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.board is not None and app.focused is not None)
        await pilot.pause(0.2)
        save(app, "first-screen")

        job = await service.submit("""{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=6""")
        await service.set_vlan(list(job.nodes[:3]), job.vlans[0].vlan)
        await service.dhcp(job.vlans[0].vlan, True)
        app.load_board()
        await wait_for(pilot, lambda: bool(app.board and app.board.jobs))
        app.main.want_view("mine")
        await pilot.pause(0.3)
        save(app, "main")

        vlan = (job.vlans[0].site, job.vlans[0].vlan)
        default = app.main.current_board.section((job.vlans[0].site, 0))
        default.focus()
        await pilot.press("space", "space")
        target = app.main.current_board.section(vlan)
        await pilot.mouse_down(default, offset=(8, 1))
        await pilot.hover(target, offset=(30, 1))
        await pilot.hover(target, offset=(32, 2))
        await pilot.pause(0.1)
        save(app, "drag")
        await pilot.mouse_up(target, offset=(32, 2))
        await wait_for(pilot, lambda: isinstance(app.screen, MoveDialog) and app.screen.plan is not None)
        await pilot.pause(0.1)
        save(app, "move-dialog")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen))
        await pilot.pause(0.2)
        save(app, "move-report")
        await pilot.press("escape")
        await pilot.pause(0.2)
        app.theme = "kavlan-light"
        await pilot.pause(0.3)
        save(app, "light-theme")
        app.theme = "kavlan-high-contrast"
        await pilot.pause(0.3)
        save(app, "high-contrast-theme")
        app.theme = "kavlan-dark"
        await finding(app, pilot, save, vlan)
        await monitoring(app, pilot, save, vlan)
    return written


async def monitoring(app, pilot, save, vlan) -> None:  # noqa: ANN001
    """The monitoring view of the job's VLAN, after a few reads (the sparklines have something to show)."""
    from kavlan_tui.screens.monitor import MonitorScreen

    await pilot.resize_terminal(*SIZE)
    await pilot.pause(0.3)
    app.main.current_board.section(vlan).focus()
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.checks >= 1)
    screen = app.screen
    for _ in range(12):
        done = screen.reads
        screen.read_ports()
        await wait_for(pilot, lambda done=done: screen.reads > done)
        await pilot.pause(0.25)
    save(app, "monitoring")
    await pilot.press("escape")


async def finding(app, pilot, save, vlan) -> None:  # noqa: ANN001
    """The filter over a site, the board grouped by switch, one node whole, and the board at 80x24."""
    from kavlan_tui.screens.node_detail import NodeScreen

    site = vlan[0]
    app.main.want_view(site)
    await wait_for(pilot, lambda: app.main.view == site)
    await pilot.press("slash", *"suno-[2-5]")
    await wait_for(pilot, lambda: app.main.arrangement.query.text == "suno-[2-5]")
    await pilot.pause(0.3)
    save(app, "filter")
    await pilot.press("escape", "g", "g")
    await wait_for(pilot, lambda: app.main.arrangement.group == "switch")
    await pilot.pause(0.3)
    save(app, "grouped")
    await pilot.press("g")
    app.main.want_view("mine")
    await wait_for(pilot, lambda: app.main.view == "mine" and app.main.arrangement.group == "vlan")
    moved = app.main.current_board.section(vlan)
    moved.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, NodeScreen))
    await pilot.pause(0.3)
    save(app, "node-detail")
    await pilot.press("escape")
    await pilot.resize_terminal(80, 24)
    await pilot.pause(0.5)
    save(app, "small-terminal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        help="only these screenshots (first-screen, main, drag, move-dialog, "
        "move-report, light-theme, high-contrast-theme, filter, grouped, node-detail, small-terminal, monitoring)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kavlan-shots-") as tmp:
        os.environ.update(
            KAVLAN_DATA_DIR=tmp, KAVLAN_CONFIG=str(Path(tmp) / "none.toml"), KAVLAN_USER="alice", TZ="UTC"
        )
        for var in ("KAVLAN_INVENTORY", "KAVLAN_DATABASE", "KAVLAN_SITE", "KAVLAN_ADMINS", "KAVLAN_THEME"):
            os.environ.pop(var, None)
        time.tzset()
        for path in asyncio.run(shoot(args.out, set(args.names))):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
