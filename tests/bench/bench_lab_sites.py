"""Benchmark: `kavlan-lab up` of one site (the baseline) and of two sites, and the move into the global VLAN of a node
of the VLAN's own site and of a node of the other site (each from its own site's frontend, with the safeguard).

Run on demand, as root (it builds labs of its own and removes them):
  python tests/bench/bench_lab_sites.py [--runs N] [--delay S]

Side by side, in the same run, taking turns: `kavlan-lab up` (process included) of the lab's first site alone, of
sophia and lille, and of sophia and lille in remote mode (--api: a kavlan-api on each site's frontend); then, in
each two-site lab, `kavlan -s --restart-via-at S` of suno-1 into sophia's global VLAN 18 from sophia's frontend
(same site: the baseline of the move) and of chetemi-1 from lille's frontend (across the trunk: its DHCP answer
comes from sophia's router, its check over SSH goes through lille's router), then both back to DEFAULT;
`kavlan-lab down` after each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

GLOBAL_REQUEST = "{\"type='kavlan-global'\"}/vlan=1,{\"cluster='suno'\"}/nodes=1"


def lab_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kavlan_tui.lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"kavlan-lab {' '.join(args)} failed: {proc.stderr}")
    return proc


def on(state: Path, site: str, *cmd: str) -> str:
    return lab_cli("exec", "--state-dir", str(state), "--site", site, "--", *cmd).stdout


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def timed_up(state: Path, sites: Sequence[str], api: bool) -> float:
    prefix = f"kb{uuid.uuid4().hex[:5]}-"
    extra = ["--sites", ",".join(sites)] if len(sites) > 1 else []
    extra += ["--api"] if api else []
    started = time.monotonic()
    lab_cli("up", "--state-dir", str(state), "--prefix", prefix, *extra)
    return time.monotonic() - started


def timed(state: Path, site: str, *args: str) -> float:
    started = time.monotonic()
    on(state, site, tool("kavlan"), *args)
    return time.monotonic() - started


def moves(state: Path, delay: str) -> dict[str, float]:
    """In an up two-site lab: the two moves into the global VLAN and back, timed."""
    vjob = json.loads(on(state, "sophia", tool("kavlan-oarsub"), "-l", GLOBAL_REQUEST, "--json"))["uid"]
    njob = json.loads(
        on(state, "lille", tool("kavlan-oarsub"), "-l", "{\"cluster='chetemi'\"}/nodes=1", "--json")
    )
    on(state, "sophia", tool("kavlan"), "-e", "-j", str(vjob))
    safeguard = ["--restart-via-at", delay]
    return {
        "same site in": timed(state, "sophia", "-s", "-j", str(vjob), *safeguard),
        "other site in": timed(state, "lille", "-s", "-j", str(njob["uid"]), "-i", "18", *safeguard),
        "other site back": timed(state, "lille", "-s", "-j", str(njob["uid"]), "-i", "DEFAULT", *safeguard),
        "same site back": timed(state, "sophia", "-s", "-j", str(vjob), "-i", "DEFAULT", *safeguard),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--delay", default="3", help="the safeguard's restart delay, seconds (default 3)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench_lab_sites needs root: it builds labs in network namespaces")
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lab-sites-") as tmp:
        for run in range(args.runs):
            for sites, api in (
                (["sophia"], False),
                (["sophia", "lille"], False),
                (["sophia", "lille"], True),
            ):
                label = f"{len(sites)} site(s){', --api' if api else ''}"
                state = Path(tmp) / f"{run}-{len(sites)}-{api}"
                try:
                    figures.setdefault(f"up, {label}", []).append(timed_up(state, sites, api))
                    if len(sites) > 1:
                        for what, seconds in moves(state, args.delay).items():
                            figures.setdefault(f"move{' (--api)' if api else ''}: {what}", []).append(seconds)
                finally:
                    started = time.monotonic()
                    lab_cli("down", "--state-dir", str(state))
                    figures.setdefault(f"down, {label}", []).append(time.monotonic() - started)
    load = os.getloadavg()[0]
    print(f"{args.runs} runs, load {load:.1f}, safeguard delay {args.delay} s; median (min-max), seconds")
    for what, values in figures.items():
        print(f"  {what:<32} {statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
