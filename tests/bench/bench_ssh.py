"""Benchmark: moving 48 ports of one Cisco-IOS-dialect switch, one SSH session per batch vs one per port.

Run on demand:  python tests/bench/bench_ssh.py [--ports 48] [--runs 5] [--latency-ms 0]
Both drivers move the same ports on the same fake switch (asyncssh on 127.0.0.1, port 0) in the same run,
alternating, and send the same configuration lines; the naive one opens a connection and a session per port,
as a script calling ``ssh switch ...`` once per port would. ``--latency-ms`` delays every CLI answer,
as a real switch's control plane does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the fakes

from fakes.cli_switch import FakeCliSwitch  # noqa: E402

from kavlan_core.drivers.base import PortChange  # noqa: E402
from kavlan_core.drivers.ssh_cli import SshCliDriver  # noqa: E402
from kavlan_core.model import Switch  # noqa: E402


async def batched(switch: Switch, credentials: dict[str, str], changes: Sequence[PortChange]) -> None:
    driver = SshCliDriver(switch, credentials)
    try:
        await driver.apply(changes)
    finally:
        await driver.close()


async def naive(switch: Switch, credentials: dict[str, str], changes: Sequence[PortChange]) -> None:
    for change in changes:  # a connection, a login and a session for every port
        driver = SshCliDriver(switch, credentials)
        try:
            await driver.apply([change])
        finally:
            await driver.close()


async def bench(ports: int, runs: int, latency_ms: float) -> None:
    names = [f"GigabitEthernet1/0/{i}" for i in range(1, ports + 1)]
    async with FakeCliSwitch("cisco_ios", dict.fromkeys(names, 10), vlans={10: "v10", 20: "v20"}) as fake:
        fake.latency = latency_ms / 1000.0
        switch = fake.switch(command_timeout=30, connect_timeout=30)
        times: dict[str, list[float]] = {"batched": [], "naive": []}
        counts: dict[str, tuple[int, int]] = {}
        tag = 10
        for _ in range(runs):
            for name, mover in (("batched", batched), ("naive", naive)):
                tag = 20 if tag == 10 else 10
                changes = [PortChange(p, 30 - tag, tag) for p in names]
                conns, sessions = fake.connections, fake.sessions
                t0 = time.perf_counter()
                await mover(switch, fake.credentials, changes)
                times[name].append(time.perf_counter() - t0)
                counts[name] = (fake.connections - conns, fake.sessions - sessions)
                wrong = [p for p in names if fake.ports[p] != tag]
                if wrong:
                    raise SystemExit(f"{name}: {len(wrong)} ports not moved, e.g. {wrong[0]}")
    print(
        f"{ports} ports, one Cisco IOS fake switch on 127.0.0.1, answer latency {latency_ms:g} ms, {runs} runs each"
    )
    for name in ("batched", "naive"):
        conns, sessions = counts[name]
        samples = times[name]
        print(
            f"  {name:<8} median {statistics.median(samples) * 1000:8.1f} ms   min {min(samples) * 1000:8.1f} ms"
            f"   ({conns} connections, {sessions} sessions per move)"
        )
    ratio = statistics.median(times["naive"]) / statistics.median(times["batched"])
    print(f"  naive / batched = {ratio:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--latency-ms", type=float, default=0.0)
    args = p.parse_args()
    if not 1 <= args.ports <= 512 or not 1 <= args.runs <= 100:
        raise SystemExit("--ports 1..512, --runs 1..100")
    asyncio.run(asyncio.wait_for(bench(args.ports, args.runs, args.latency_ms), 600))


if __name__ == "__main__":
    main()
