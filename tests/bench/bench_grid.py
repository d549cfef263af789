"""Benchmark: the tutorial's grid reservation and its cross-site move, embedded and through two sites' kavlan-api
servers, against the way it was done before oargridsub existed here (one kavlan-oarsub per site, and one kavlan -s
per site, as run on each site's frontend).

Run on demand:  python tests/bench/bench_grid.py [--runs N]

Every figure is whole processes (interpreter, imports, work, exit), the median of N runs, the two ways interleaved
run by run so that a change of the machine's load falls on each alike:

- reserve: ``kavlan-oargridsub -w 1 sophia:rdef={"type='kavlan-global'"}/vlan=1+/nodes=2,lille:rdef=/nodes=2[,lyon:...]``
  against one ``kavlan-oarsub`` per site (the global VLAN with sophia's nodes, then each other site's nodes);
- move: every node of the grid into sophia's global VLAN, ``kavlan -s -i 18 -f gridnodes`` from one frontend,
  against one ``kavlan -s -i 18 -m ...`` per site, each as that site's frontend (``KAVLAN_SITE``); then back.

Embedded, on the demo testbed (three sites, simulated switches: what is measured is the commands', not a switch's);
remote, sophia and lille each with its own ``kavlan-api serve --site`` on one database (two sites). Every server
listens on 127.0.0.1 only and is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

GLOBAL = "{\"type='kavlan-global'\"}/vlan=1"
VLAN = "18"  # sophia's global VLAN on the demo testbed
GRID_CPU: list[float] = []
"""Each oargridsub's CPU time (by_grid reads it around that process alone)."""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    return took, proc.stdout


def grid_line(sites: list[str]) -> str:
    return ",".join(
        f"{s}:rdef={GLOBAL}+/nodes=2" if i == 0 else f"{s}:rdef=/nodes=2" for i, s in enumerate(sites)
    )


def by_grid(env: dict[str, str], sites: list[str]) -> tuple[float, list[str], Callable[[], None]]:
    """oargridsub: the time, the grid's nodes, and how to end it (oargridstat reads the nodes after the clock and
    the CPU time are read)."""
    c0 = cpu()
    took, out = run(["kavlan-oargridsub", "-w", "1", grid_line(sites)], env)
    GRID_CPU.append(cpu() - c0)
    grid = out.split("Grid reservation id = ")[1].split()[0]
    listed = run(["kavlan-oargridstat", "-l", grid], env)[1]
    nodes = list(dict.fromkeys(line for line in listed.splitlines() if line.strip()))

    def end() -> None:
        run(["kavlan-oargriddel", grid], env)

    return took, nodes, end


def by_hand(env: dict[str, str], sites: list[str]) -> tuple[float, list[str], Callable[[], None]]:
    """One kavlan-oarsub per site: the global VLAN and sophia's nodes, then each other site's nodes."""
    total = 0.0
    jobs: list[str] = []
    nodes: list[str] = []
    for i, site in enumerate(sites):
        request = f"{GLOBAL}+/nodes=2" if i == 0 else "/nodes=2"
        took, out = run(["kavlan-oarsub", "--site", site, "-l", request, "--json"], env)
        total += took
        job = json.loads(out)
        jobs.append(str(job["uid"]))
        nodes += job["assigned_nodes"]

    def end() -> None:
        run(["kavlan-oardel", *jobs], env)

    return total, nodes, end


def move_once(env: dict[str, str], nodes: list[str], vlan: str, tmp: Path) -> float:
    nodefile = tmp / "gridnodes"
    nodefile.write_text("".join(f"{n}\n" for n in nodes))
    return run(["kavlan", "-s", "-q", "-i", vlan, "-f", str(nodefile)], env)[0]


def move_per_site(env: dict[str, str], nodes: list[str], vlan: str) -> float:
    """As before: kavlan on each node's own site's frontend, one run per site."""
    by_site: dict[str, list[str]] = {}
    for n in nodes:
        by_site.setdefault(n.split(".")[1], []).append(n)
    total = 0.0
    for site, names in by_site.items():
        argv = ["kavlan", "-s", "-q", "-i", vlan, *[w for n in names for w in ("-m", n)]]
        total += run(argv, {**env, "KAVLAN_SITE": site})[0]
    return total


def cpu() -> float:
    """CPU time (user + system) of the finished child processes: steadier than the clock on a busy machine."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(env: dict[str, str], sites: list[str], runs: int, tmp: Path) -> dict[str, list[float]]:
    """Per case, the wall-clock samples and (under ``KEY cpu``) the processes' CPU time."""
    keys = ("grid", "hand", "move", "move hand")
    samples: dict[str, list[float]] = {k: [] for k in (*keys, *(f"{k} cpu" for k in keys))}
    for _ in range(runs + 1):  # the first round warms up (bytecode, testbed cache, database) and is dropped
        took, nodes, end = by_grid(env, sites)
        c1 = cpu()
        there = move_once(env, nodes, VLAN, tmp) + move_once(env, nodes, "DEFAULT", tmp)
        c2 = cpu()
        end()
        c3 = cpu()
        took_hand, nodes_hand, end_hand = by_hand(env, sites)
        c4 = cpu()
        there_hand = move_per_site(env, nodes_hand, VLAN) + move_per_site(env, nodes_hand, "DEFAULT")
        c5 = cpu()
        end_hand()
        for key, value in (
            ("grid", took),
            ("hand", took_hand),
            ("move", there),
            ("move hand", there_hand),
            ("grid cpu", GRID_CPU[-1]),
            ("hand cpu", c4 - c3),
            ("move cpu", c2 - c1),
            ("move hand cpu", c5 - c4),
        ):
            samples[key].append(value)
    return {k: v[1:] for k, v in samples.items()}


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(
        KAVLAN_DATA_DIR=str(tmp / "data"),
        KAVLAN_CONFIG=str(tmp / "none.toml"),
        KAVLAN_USER="alice",
        KAVLAN_CACHE_DIR=str(tmp / "cache"),
    )
    return env


def remote(runs: int, tmp: Path) -> dict[str, list[float]]:
    import api_fixture

    certs = api_fixture.make_certs(tmp / "certs", users=("alice",), services=())
    shared = {"KAVLAN_DATA_DIR": str(tmp / "shared-data")}
    servers = {}
    try:
        for site in ("sophia", "lille"):
            servers[site] = api_fixture.start_server(tmp / site, certs, args=["--site", site], env=shared)
        client = tmp / "client"
        client.mkdir()
        cfg = client / "config.toml"
        cfg.write_text(
            'site = "sophia"\n[api_sites]\n' + "".join(f'{s} = "{v.url}"\n' for s, v in servers.items())
        )
        cert, key = servers["sophia"].cert("alice")
        env = {
            **base_env(client),
            "KAVLAN_CONFIG": str(cfg),
            "KAVLAN_CA_CERT": servers["sophia"].ca,
            "KAVLAN_CLIENT_CERT": cert,
            "KAVLAN_CLIENT_KEY": key,
        }
        return measure(env, ["sophia", "lille"], runs, client)
    finally:
        for srv in servers.values():
            srv.stop()


def row(name: str, s: dict[str, list[float]], mine: str, hand: str) -> str:
    a, b = statistics.median(s[mine]), statistics.median(s[hand])
    ca, cb = statistics.median(s[f"{mine} cpu"]), statistics.median(s[f"{hand} cpu"])
    return (
        f"  {name:<60} {a * 1000:6.0f} ms (CPU {ca * 1000:5.0f})   by hand {b * 1000:6.0f} ms "
        f"(CPU {cb * 1000:5.0f})   {b / a:.2f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-grid-") as name:
        tmp = Path(name)
        three = measure(base_env(tmp / "e3"), ["sophia", "lille", "lyon"], args.runs, tmp)
        two = measure(base_env(tmp / "e2"), ["sophia", "lille"], args.runs, tmp)
        through = remote(args.runs, tmp / "remote")
    load = os.getloadavg()
    print(f"{args.runs} runs each, medians, whole processes; load {load[0]:.1f} ({os.cpu_count()} cores)")
    for label, s, n in (
        ("embedded, 3 sites", three, 6),
        ("embedded, 2 sites", two, 4),
        ("2 servers", through, 4),
    ):
        print(f"{label}:")
        print(row("reserve: oargridsub vs one oarsub per site", s, "grid", "hand"))
        print(
            row(
                f"move {n} nodes into VLAN {VLAN} and back: one kavlan vs one per site",
                s,
                "move",
                "move hand",
            )
        )


if __name__ == "__main__":
    main()
