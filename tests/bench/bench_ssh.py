"""Benchmark: 48 ports of one Cisco-IOS-dialect switch moved over SSH at several round trips, this project (typing the
batch ahead, and line by line) against netmiko as networking-generic-switch drives it and against one connection per
port.

Run on demand:  python tests/bench/bench_ssh.py [--ports 48] [--runs 5] [--round-trips 0,5,20] [--line-ms 2]
netmiko is not a dependency of this project: ``pip install netmiko`` to measure its column (skipped, with a message,
without it).

The switch is the project's fake (tests/fakes/cli_switch.py) in a process of its own on 127.0.0.1, so that the
client CPU column is the client's alone: every byte of every connection (TCP and SSH handshakes too) waits half the
round trip each way, and its control plane spends ``--line-ms`` on each line it reads. Everyone sends the same
configuration lines (``interface``, ``switchport access vlan``, ``exit`` per port), alternating run by run, and every
run is read back from the switch before it counts. Each measure is a whole move as a script would make it: connect,
log in, configure, disconnect.

- this project, typed ahead: ``SshCliDriver.apply`` then ``close``, the default (``type_ahead`` = 1024 bytes);
- this project, line by line: the same with ``type_ahead = 0``;
- typed ahead, session open: the batch alone, on a session a read opened (untimed) first, as a move uses it (the
  read before and the read-back after share that session): what is left once SSH's own handshake is paid;
- netmiko as networking-generic-switch uses it: ``ConnectHandler``, ``send_config_set(cmd_verify=False)``,
  ``disconnect`` (networking-generic-switch also calls ``enable()`` and saves; neither is counted here);
- one connection per port: ``SshCliDriver.apply`` of one port, ``close``, 48 times, as a script calling ``ssh``
  once per port would.

The floor is what the issue names: 4 round trips plus the control plane's time for every line of the batch.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # for the fakes

from kavlan_core.drivers.base import PortChange  # noqa: E402
from kavlan_core.drivers.ssh_cli import SshCliDriver  # noqa: E402
from kavlan_core.model import Switch  # noqa: E402

try:
    import netmiko
except ImportError:  # not a dependency: its column is skipped
    netmiko = None


class FakeSwitchProcess:
    """The fake switch, served by ``python tests/fakes/cli_switch.py`` in a process of its own, stopped by pid."""

    def __init__(self, ports: int, line_ms: float) -> None:
        command = [sys.executable, str(TESTS / "fakes" / "cli_switch.py"), "--ports", str(ports)]
        command += ["--line-time-ms", str(line_ms)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.hello: dict[str, Any] = json.loads(self.proc.stdout.readline())

    def order(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise SystemExit(f"the fake switch refused {line!r}: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the switch stops when its stdin closes
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Contender:
    name: str
    move: Callable[[Sequence[PortChange]], tuple[float, float] | None]
    """Makes the move; returns (wall, CPU) seconds of the part it times itself, or None to be timed whole."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    connections: int = 0


class Bench:
    def __init__(self, switch: FakeSwitchProcess, loop: asyncio.AbstractEventLoop) -> None:
        self.switch = switch
        self.loop = loop
        hello = switch.hello
        self.ports: list[str] = hello["ports"]
        self.credentials = {"username": hello["username"], "password": hello["password"]}
        self.inventory = Switch(
            name="sw1",
            site="bench",
            driver="ssh_cli",
            address=f"127.0.0.1:{hello['port']}",
            options={
                "dialect": "cisco_ios",
                "known_hosts": hello["known_hosts"],
                "command_timeout": 60,
                "connect_timeout": 60,
            },
        )

    def driver(self, **options: Any) -> SshCliDriver:
        switch = dataclasses.replace(self.inventory, options={**self.inventory.options, **options})
        return SshCliDriver(switch, self.credentials)

    def run(self, coro: Any) -> None:
        self.loop.run_until_complete(asyncio.wait_for(coro, 600))

    def typed_ahead(self, changes: Sequence[PortChange]) -> None:
        self.run(_apply(self.driver(), changes))

    def line_by_line(self, changes: Sequence[PortChange]) -> None:
        self.run(_apply(self.driver(type_ahead=0), changes))

    def open_session(self, changes: Sequence[PortChange]) -> tuple[float, float]:
        """The batch alone, on a session a read opened first (as in a move: read, apply, read back)."""
        driver = self.driver()
        timed: list[float] = []

        async def go() -> None:
            try:
                await driver.read_ports(self.ports[:1])
                w0, c0 = time.perf_counter(), time.process_time()
                await driver.apply(changes)
                timed.extend((time.perf_counter() - w0, time.process_time() - c0))
            finally:
                await driver.close()

        self.run(go())
        return timed[0], timed[1]

    def per_port(self, changes: Sequence[PortChange]) -> None:
        async def each() -> None:
            for change in changes:
                await _apply(self.driver(), [change])

        self.run(each())

    def netmiko(self, changes: Sequence[PortChange]) -> None:
        assert netmiko is not None
        lines = [line for c in changes for line in _port_lines(c)]
        hello = self.switch.hello
        conn = netmiko.ConnectHandler(
            device_type="cisco_ios", host="127.0.0.1", port=hello["port"], **self.credentials
        )
        conn.send_config_set(config_commands=lines, cmd_verify=False)
        conn.disconnect()


async def _apply(driver: SshCliDriver, changes: Sequence[PortChange]) -> None:
    try:
        await driver.apply(changes)
    finally:
        await driver.close()


def _port_lines(change: PortChange) -> list[str]:
    return [f"interface {change.port}", f"switchport access vlan {change.new_tag}", "exit"]


def contenders(bench: Bench) -> list[Contender]:
    return [
        Contender("this project, typed ahead", bench.typed_ahead),
        Contender("this project, line by line", bench.line_by_line),
        Contender("  typed ahead, session open", bench.open_session),
        *([Contender("netmiko as NGS uses it", bench.netmiko)] if netmiko is not None else []),
        Contender("one connection per port", bench.per_port),
    ]


def warm_up(bench: Bench) -> None:
    """One untimed move each, at 0 ms: the first move of a process also pays for imports and first uses."""
    bench.switch.order("set round_trip 0")
    for contender in contenders(bench):
        contender.move([PortChange(p, 10, 20) for p in bench.ports])
        contender.move([PortChange(p, 20, 10) for p in bench.ports])


def measure(bench: Bench, contenders: list[Contender], runs: int) -> None:
    tag = 10
    for _ in range(runs):
        for contender in contenders:  # interleaved: a busy moment hits every contender alike
            tag = 20 if tag == 10 else 10
            changes = [PortChange(p, 30 - tag, tag) for p in bench.ports]
            before = bench.switch.order("counts")["connections"]
            w0, c0 = time.perf_counter(), time.process_time()
            timed = contender.move(changes)
            wall, cpu = timed or (time.perf_counter() - w0, time.process_time() - c0)
            contender.wall.append(wall)
            contender.cpu.append(cpu)
            contender.connections = bench.switch.order("counts")["connections"] - before
            held = bench.switch.order("state")["ports"]
            wrong = [p for p in bench.ports if held[p] != tag]
            if wrong:
                raise SystemExit(f"{contender.name}: {len(wrong)} ports not moved, e.g. {wrong[0]}")


def report(rtt_ms: float, line_ms: float, lines: int, contenders: list[Contender]) -> dict[str, float]:
    floor = (4 * rtt_ms + line_ms * lines) / 1000
    ours = statistics.median(contenders[0].wall)
    print(
        f"\nround trip {rtt_ms:g} ms: floor (4 x {rtt_ms:g} ms + {lines} lines x {line_ms:g} ms) = {floor * 1000:.0f} ms"
    )
    print(f"  {'':<32} {'median':>9} {'min':>9} {'client CPU':>11} {'vs typed ahead':>15}  connections")
    for c in contenders:
        median = statistics.median(c.wall)
        print(
            f"  {c.name:<32} {median * 1000:7.0f} ms {min(c.wall) * 1000:6.0f} ms {statistics.median(c.cpu) * 1000:8.0f} ms"
            f" {median / ours:14.1f}x  {c.connections}"
        )
    print(f"  typed ahead / floor = {ours / floor:.2f}x (goal: within 2x)")
    return {"floor": floor, "ours": ours}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--round-trips", default="0,5,20", help="milliseconds, comma-separated")
    p.add_argument("--line-ms", type=float, default=2.0, help="the control plane's time per line")
    args = p.parse_args()
    round_trips = [float(r) for r in args.round_trips.split(",")]
    if not 1 <= args.ports <= 512 or not 1 <= args.runs <= 100 or not all(0 <= r <= 500 for r in round_trips):
        raise SystemExit("--ports 1..512, --runs 1..100, round trips 0..500 ms")
    if netmiko is None:
        print("netmiko is not installed: its column is skipped (pip install netmiko to measure it)")
    switch = FakeSwitchProcess(args.ports, args.line_ms)
    loop = asyncio.new_event_loop()
    try:
        bench = Bench(switch, loop)
        lines = len(bench.driver().describe([PortChange(p, 10, 20) for p in bench.ports]))
        print(
            f"{args.ports} ports on one Cisco IOS fake switch (its own process, 127.0.0.1), {args.line_ms:g} ms of"
            f" control plane per line, median of {args.runs} runs, {lines} lines a batch"
        )
        warm_up(bench)
        for rtt in round_trips:
            switch.order(f"set round_trip {rtt / 1000}")
            measured = contenders(bench)
            measure(bench, measured, args.runs)
            report(rtt, args.line_ms, lines, measured)
    finally:
        loop.close()
        switch.stop()


if __name__ == "__main__":
    main()
