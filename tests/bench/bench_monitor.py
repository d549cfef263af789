"""Live monitoring at scale: one monitoring round on the 1,000-node TUI testbed (bench_tui's), its 20 home-site
switches SNMP (snmp_qbridge against snmpsim on 127.0.0.1), side by side in the same run with today's monitoring,
the drift poll of the same switches.

A round is what the TUI's monitoring view and a check do: the link and counters of every home node's port
(``port_loads``), then the isolation check of the site (every switch's forwarding table, and every node port's
VLAN). Measured per round: wall time, this process's CPU time, and SNMP requests per switch (every request the
drivers send, counted at the session). Each switch's recording is generated: 45 ports with ifTable/ifXTable
counters, the bridge-port map, a static VLAN table and a forwarding table holding the MAC of the node cabled to
each port, so that the check is clean and reads everything.

Run on demand (needs snmpsim, as the tests):

    python tests/bench/bench_monitor.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_tui  # noqa: E402
from snmpsim_fixture import running_snmpsim  # noqa: E402

from kavlan_core import config, inventory  # noqa: E402
from kavlan_core.drivers.snmp_session import SnmpSession  # noqa: E402
from kavlan_core.service import KavlanService  # noqa: E402

HOME = "home"


def recording(ports: dict[int, tuple[str, str]]) -> str:
    """An snmprec of a Q-BRIDGE switch: port i (1-based, ifIndex i, bridge port i) named and cabled as given
    (name, MAC of the NIC on it), up at 1 Gb/s with some traffic, in VLAN 1, its NIC's MAC learned on it."""
    lines = ["1.3.6.1.2.1.1.1.0|4|kavlan bench switch", "1.3.6.1.2.1.1.3.0|67|100"]
    count = max(ports)
    octets = (count + 7) // 8
    members = bytearray(octets)
    for i in range(1, count + 1):
        members[(i - 1) // 8] |= 0x80 >> ((i - 1) % 8)
    for i, (name, mac) in sorted(ports.items()):
        lines += [
            f"1.3.6.1.2.1.2.2.1.2.{i}|4|{name}",
            f"1.3.6.1.2.1.2.2.1.3.{i}|2|6",
            f"1.3.6.1.2.1.2.2.1.8.{i}|2|1",
            f"1.3.6.1.2.1.2.2.1.14.{i}|65|0",
            f"1.3.6.1.2.1.31.1.1.1.1.{i}|4|{name}",
            f"1.3.6.1.2.1.31.1.1.1.6.{i}|70|{1_000_000 * i}",
            f"1.3.6.1.2.1.31.1.1.1.10.{i}|70|{500_000 * i}",
            f"1.3.6.1.2.1.31.1.1.1.15.{i}|66|1000",
            f"1.3.6.1.2.1.17.1.4.1.2.{i}|2|{i}",
            f"1.3.6.1.2.1.17.7.1.4.5.1.1.{i}|66|1",
        ]
        mac_oid = ".".join(str(int(b, 16)) for b in mac.split(":"))
        lines.append(f"1.3.6.1.2.1.17.7.1.2.2.1.2.1.{mac_oid}|2|{i}")
    lines += [
        "1.3.6.1.2.1.17.7.1.4.3.1.1.1|4|default",
        f"1.3.6.1.2.1.17.7.1.4.3.1.2.1|4x|{members.hex()}",
        f"1.3.6.1.2.1.17.7.1.4.3.1.4.1|4x|{members.hex()}",
        "1.3.6.1.2.1.17.7.1.4.3.1.5.1|2|1",
    ]

    def key(line: str) -> tuple[int, ...]:
        return tuple(int(x) for x in line.split("|", 1)[0].split("."))

    return "\n".join(sorted(lines, key=key)) + "\n"


def write_testbed(work: Path) -> tuple[Path, Path, list[str]]:
    """The recordings, the testbed description with the home switches on snmpsim (address filled in later),
    and the credentials file; the home switches' names."""
    text = bench_tui.testbed()
    inv = inventory.parse(text)
    data = work / "snmprec"
    data.mkdir(parents=True)
    switches = list(inv.sites[HOME].switches)
    for sw in switches:
        refs = inv.switch_ports(sw)
        ports = {int(r.nic.port.rsplit("/", 1)[1]): (r.nic.port, r.nic.mac) for r in refs}
        (data / f"{sw}.snmprec").write_text(recording(ports))
    creds = work / "credentials.toml"
    creds.write_text("".join(f'[{sw}]\nversion = "2c"\ncommunity = "{sw}"\n' for sw in switches))
    os.chmod(creds, 0o600)
    return data, creds, switches


def inventory_text(switches: list[str], port: int) -> str:
    text = bench_tui.testbed()
    for sw in switches:
        text = text.replace(
            f'name = "{sw}"\ndriver = "simulated"\n',
            f'name = "{sw}"\ndriver = "snmp_qbridge"\naddress = "127.0.0.1:{port}"\ncredentials = "{sw}"\n'
            "options = { timeout = 5.0, retries = 1 }\n",
        )
    return text


@contextlib.contextmanager
def counting() -> Iterator[Counter[str]]:
    """Every SNMP request the drivers send, by switch."""
    counts: Counter[str] = Counter()
    original = SnmpSession.request

    async def request(self: SnmpSession, *args: Any) -> Any:
        counts[self.driver.switch.name] += 1
        return await original(self, *args)

    SnmpSession.request = request  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        SnmpSession.request = original  # type: ignore[method-assign]


async def one_round(svc: KavlanService, names: list[str]) -> dict[str, Any]:
    budget = svc.monitor.budget
    # each round starts with every switch's budget free (the TUI's intervals are longer than a round's debt):
    # what the round waits is its own reads' pacing, the check's after the counters'
    await asyncio.sleep(max((budget.wait_for(s) for s in svc.inventory.sites[HOME].switches), default=0.0))
    waited = budget.waited
    with counting() as counts:
        cpu, wall = time.process_time(), time.perf_counter()
        loads = await svc.port_loads(names, interval=0)
        ports_cpu, ports_wall = time.process_time() - cpu, time.perf_counter() - wall
        report = await svc.check_isolation(site=HOME)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert not loads.unreadable and all(x.up for x in loads.loads), loads.unreadable
    assert report.clean, (report.leaks[:3], report.unreadable[:3])
    return {
        "wall": wall,
        "cpu": cpu,
        "ports_wall": ports_wall,
        "ports_cpu": ports_cpu,
        "requests": dict(counts),
        "paced": budget.waited - waited,
    }


async def drift_round(svc: KavlanService) -> dict[str, Any]:
    with counting() as counts:
        cpu, wall = time.process_time(), time.perf_counter()
        found = await svc.drift(HOME)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert found.complete
    return {"wall": wall, "cpu": cpu, "requests": dict(counts)}


def per_switch(rounds: list[dict[str, Any]]) -> str:
    values = [v for r in rounds for v in r["requests"].values()]
    return f"{statistics.median(values):g} (min {min(values)}, max {max(values)})"


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


async def measure(inv_path: Path, creds: Path, data: Path, runs: int) -> None:
    os.environ.update(
        KAVLAN_DATA_DIR=str(data),
        KAVLAN_INVENTORY=str(inv_path),
        KAVLAN_CREDENTIALS=str(creds),
        KAVLAN_USER="root",
    )
    svc = KavlanService(config.load())
    try:
        names = [n.name for n in svc.inventory.site_nodes(HOME)]
        await one_round(svc, names)  # the first round reads each switch's interfaces and sizes its walks
        await drift_round(svc)
        ours, drifts = [], []
        for _ in range(runs):
            ours.append(await one_round(svc, names))
            drifts.append(await drift_round(svc))
    finally:
        await svc.close()
    switches = len(svc.inventory.sites[HOME].switches)
    share = svc.settings.monitor_share * svc.settings.switch_request_rate
    print(f"{len(names)} home nodes on {switches} snmp_qbridge switches (snmpsim, 127.0.0.1), {runs} rounds")
    print(f"monitoring budget: {share:g} requests/s per switch (monitor_share x switch_request_rate)")
    print(f"{'':42} {'wall':>22} {'CPU':>22}  SNMP requests per switch")
    print(
        f"{'monitoring round (ports + isolation)':42} {ms([r['wall'] for r in ours]):>22} "
        f"{ms([r['cpu'] for r in ours]):>22}  {per_switch(ours)}"
    )
    print(
        f"{'  of which port loads':42} {ms([r['ports_wall'] for r in ours]):>22} {ms([r['ports_cpu'] for r in ours]):>22}"
    )
    print(f"{'  of which waiting for the budget':42} {ms([r['paced'] for r in ours]):>22}")
    print(
        f"{'baseline: drift poll (today)':42} {ms([r['wall'] for r in drifts]):>22} "
        f"{ms([r['cpu'] for r in drifts]):>22}  {per_switch(drifts)}"
    )


async def until(pilot: Any, ready: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("the TUI did not get there in time")
        await pilot.pause(0.005)


async def tui(runs: int) -> None:
    """The TUI headless (Textual's test driver, 120x40, rendering included): the board's refresh (Ctrl+R, the
    baseline), and the monitoring view's refresh of a 40-node VLAN (its ports read, its table and sparklines
    drawn), on the same switches."""
    from kavlan_tui.app import KavlanApp
    from kavlan_tui.screens.monitor import MonitorScreen

    os.environ.update(KAVLAN_MONITOR_INTERVAL="3600", KAVLAN_ISOLATION_INTERVAL="3600")
    svc = KavlanService(config.load())
    app = KavlanApp(svc, poll_interval=0)
    boards, views = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.board is not None)
        for _ in range(runs):
            before, started = app.board, time.perf_counter()
            app.load_board()
            await until(pilot, lambda before=before: app.board is not before)
            await pilot.pause()
            boards.append(time.perf_counter() - started)
        board = app.board
        assert board is not None
        vid = 0  # DEFAULT: the recordings are read-only, nobody moves; the view shows 40 of its nodes
        nodes = sorted(
            (n for n in board.nodes.values() if (n.site, n.vlan) == (HOME, vid)), key=lambda n: n.key
        )[:40]
        assert nodes, sorted({(n.site, n.vlan) for n in board.nodes.values()})[:10]
        screen = MonitorScreen(HOME, vid, nodes)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.reads >= 1 and screen.checks >= 1)
        budget = svc.monitor.budget
        for _ in range(runs):
            # as at the view's interval (2 s): each switch's budget free when the refresh starts
            await asyncio.sleep(max((budget.wait_for(n.switch) for n in nodes), default=0.0))
            done, started = screen.reads, time.perf_counter()
            screen.read_ports()
            await until(pilot, lambda done=done: screen.reads > done)
            await pilot.pause()
            views.append(time.perf_counter() - started)
    await svc.close()
    if screen.isolation_error:
        print(f"(the view's isolation check: {screen.isolation_error})")
    print(f"{'TUI: the board refresh (Ctrl+R), baseline':42} {ms(boards):>22}")
    print(f"{f'TUI: the monitoring view refresh ({len(nodes)} nodes)':42} {ms(views):>22}")


def with_leak(svc: KavlanService, switch: str, leak: list[str]) -> None:
    """A leak made behind the service's back on a simulated switch (``fdb_extra``: a MAC nobody has behind a
    node's port), or undone (``leak`` empty)."""
    drv = svc.switches.driver(switch)
    inner = getattr(drv, "inner", drv)
    inner.switch = dataclasses.replace(inner.switch, options={**inner.switch.options, "fdb_extra": leak})


async def leak_latency(runs: int) -> None:
    """How long after a leak is made the check and the TUI show it, on the 1,000-node testbed's simulated switches
    (the recordings cannot learn a MAC): ``check-isolation`` of the home site right after the leak; the TUI's
    monitoring view at its default ``isolation_interval``, the leak made at a random moment of its cycle."""
    from kavlan_tui.app import KavlanApp
    from kavlan_tui.screens.monitor import MonitorScreen

    env = {k: v for k, v in os.environ.items() if k.startswith("KAVLAN_")}
    os.environ.pop("KAVLAN_CREDENTIALS", None)
    os.environ.pop("KAVLAN_ISOLATION_INTERVAL", None)
    os.environ.pop("KAVLAN_MONITOR_INTERVAL", None)
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-leak-") as tmp:
        inv = Path(tmp) / "testbed.toml"
        inv.write_text(bench_tui.testbed())
        os.environ.update(KAVLAN_INVENTORY=str(inv), KAVLAN_DATA_DIR=str(Path(tmp) / "data"))
        svc = KavlanService(config.load())
        switch = svc.inventory.sites[HOME].switches[0]
        port = svc.inventory.switch_ports(switch)[0].nic.port
        leak = [f"{port} 02:00:00:00:0b:ad {svc.inventory.sites[HOME].default_tag}"]
        checks, views = [], []
        for _ in range(runs):
            with_leak(svc, switch, leak)
            started = time.perf_counter()
            report = await svc.check_isolation(site=HOME)
            assert report.leaks, "the check did not see the leak"
            checks.append(time.perf_counter() - started)
            with_leak(svc, switch, [])
        app = KavlanApp(svc, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.board is not None)
            nodes = sorted(
                (n for n in app.board.nodes.values() if (n.site, n.vlan) == (HOME, 0)), key=lambda n: n.key
            )
            screen = MonitorScreen(HOME, 0, nodes[:40])
            await app.push_screen(screen)
            for _ in range(runs):
                await until(pilot, lambda: screen.isolation is not None and screen.isolation.clean, 60)
                await asyncio.sleep(random.uniform(0, svc.settings.isolation_interval))
                with_leak(svc, switch, leak)
                started = time.perf_counter()
                await until(pilot, lambda: screen.isolation is not None and bool(screen.isolation.leaks), 60)
                views.append(time.perf_counter() - started)
                with_leak(svc, switch, [])
        await svc.close()
    os.environ.update(env)
    print(f"{'a leak to check-isolation showing it (home site)':42} {ms(checks):>22}")
    interval = svc.settings.isolation_interval
    print(
        f"{f'a leak to the TUI marking it (every {interval:g} s)':42} {ms(views):>22}  (max {max(views):.1f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--leak-runs", type=int, default=3, help="leaks made for the latency (up to 10 s each)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-monitor-") as tmp:
        work = Path(tmp)
        recordings, creds, switches = write_testbed(work)
        with running_snmpsim(work / "sim", [recordings], probe=switches[0]) as sim:
            inv_path = work / "testbed.toml"
            inv_path.write_text(inventory_text(switches, sim.port))
            asyncio.run(measure(inv_path, creds, work / "data", args.runs))
            asyncio.run(tui(args.runs))
    asyncio.run(leak_latency(args.leak_runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
