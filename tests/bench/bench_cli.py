"""Benchmark: ``kavlan`` start-up, ``kavlan -g`` on every node of the demo testbed and ``kavlan -s`` of 100 nodes,
end to end, this tree against an earlier commit ("before", default ``main``) and the floor of any Python command.

Run on demand:  python tests/bench/bench_cli.py [--runs N] [--before REV]

Every figure is a whole process (interpreter, imports, work, exit), median of N, the commands interleaved run by run
so that a change of the machine's load falls on each alike. Both trees run on this interpreter and its libraries
(the earlier commit exported with ``git archive``, see before.py), with their bytecode compiled and cached as once
installed, on the same data directory. Goals (issue 17): ``kavlan --version`` within 2x of ``python -c pass``,
``kavlan -g -f`` of every demo node under 250 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from before import bytecode_env, commit_of, export

CPU: dict[str, list[float]] = {}
"""Per case, the CPU time (user + system) of each sample's process: steadier than the clock on a busy machine."""


def once(argv: list[str], env: dict[str, str], name: str = "") -> float:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(name, []).append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    return took


def row(name: str, samples: list[float], cpu: list[float], floor: float | None = None) -> str:
    med = statistics.median(samples)
    ratio = f"  {med / floor:4.1f}x the floor" if floor else ""
    return (
        f"  {name:<44} median {med * 1000:5.0f} ms  min {min(samples) * 1000:5.0f} ms  "
        f"CPU {statistics.median(cpu) * 1000:5.0f} ms{ratio}"
    )


def demo_files(tmp: Path, env: dict[str, str]) -> tuple[Path, Path, str, str, int]:
    """Every demo node in a nodefile; a job of 100 sophia nodes with a VLAN (its nodefile, id, VLAN, switches)."""
    from kavlan_core import inventory

    inv = inventory.load(None)
    allnodes = tmp / "all"
    allnodes.write_text("".join(f"{inv.node_fqdn(n)}\n" for n in inv.nodes.values()))
    request = "{\"type='kavlan'\"}/vlan=1,{\"site='sophia'\"}/nodes=100"
    out = subprocess.run(
        ["kavlan-oarsub", "--json", "-l", request], env=env, capture_output=True, text=True, check=True
    ).stdout
    job = json.loads(out)
    hundred = tmp / "hundred"
    hundred.write_text("".join(f"{n}\n" for n in job["assigned_nodes"]))
    switches = {inv.nodes[n.split(".")[0]].primary_nic.switch for n in job["assigned_nodes"]}
    return allnodes, hundred, str(job["uid"]), job["resources_by_type"]["vlans"][0], len(switches)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--before", default="main", help="the commit to compare with (default: main)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-cli-") as tmp_name:
        tmp = Path(tmp_name)
        base = {
            **os.environ,
            "KAVLAN_DATA_DIR": str(tmp / "data"),
            "KAVLAN_CONFIG": str(tmp / "none.toml"),
            "KAVLAN_USER": "bench",
            "KAVLAN_CACHE_DIR": str(tmp / "cache"),
        }
        for var in ("OAR_JOB_ID", "KAVLAN_INVENTORY", "KAVLAN_DATABASE", "KAVLAN_SITE", "KAVLAN_API"):
            base.pop(var, None)
        env = bytecode_env(base, tmp / "pycache")
        before_env = dict(env, PYTHONPATH=str(export(args.before, tmp / "before")))
        no_cache_env = dict(env, KAVLAN_CACHE_DIR="/proc/no-cache")  # unusable: parsed every time
        allnodes, hundred, job, vlan, nswitches = demo_files(tmp, env)
        script = shutil.which("kavlan")
        assert script is not None, "kavlan is not installed in this environment"
        py = sys.executable

        def kavlan(e: dict[str, str], *words: str) -> tuple[list[str], dict[str, str]]:
            return [py, script, *words], e

        moves = [0]

        def move(e: dict[str, str]) -> tuple[list[str], dict[str, str]]:
            moves[0] += 1  # there and back, whichever tree moves: every move changes all 100 ports
            target = vlan if moves[0] % 2 else "DEFAULT"
            return kavlan(e, "-s", "-q", "-i", target, "-f", str(hundred), "-j", job)

        cases: dict[str, Callable[[], tuple[list[str], dict[str, str]]]] = {
            "floor": lambda: ([py, "-c", "pass"], env),
            "version": lambda: kavlan(env, "--version"),
            "version before": lambda: kavlan(before_env, "--version"),
            "help": lambda: kavlan(env, "--help"),
            "help before": lambda: kavlan(before_env, "--help"),
            "get": lambda: kavlan(env, "-g", "-f", str(allnodes)),
            "get no cache": lambda: kavlan(no_cache_env, "-g", "-f", str(allnodes)),
            "get before": lambda: kavlan(before_env, "-g", "-f", str(allnodes)),
            "move": lambda: move(env),
            "move before": lambda: move(before_env),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for case in cases.values():  # warm-up: bytecode compiled, testbed cached, database created
            once(*case())
        for _ in range(args.runs):
            for name, case in cases.items():
                samples[name].append(once(*case(), name))
    report(args, samples, nswitches)


def report(args: argparse.Namespace, s: dict[str, list[float]], nswitches: int) -> None:
    floor = statistics.median(s["floor"])
    load = os.getloadavg()
    print(f"before: {args.before} ({commit_of(args.before)}); {args.runs} runs each, interleaved")
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} cores)")
    print(row("python -c pass (the floor)", s["floor"], CPU["floor"]))
    print(row("kavlan --version", s["version"], CPU["version"], floor))
    print(row("  before", s["version before"], CPU["version before"], floor))
    print(row("kavlan --help", s["help"], CPU["help"], floor))
    print(row("  before", s["help before"], CPU["help before"], floor))
    print(row("kavlan -g -f all (306 demo nodes)", s["get"], CPU["get"], floor))
    print(row("  testbed parsed (no cache)", s["get no cache"], CPU["get no cache"], floor))
    print(row("  before", s["get before"], CPU["get before"], floor))
    print(row(f"kavlan -s 100 nodes ({nswitches} switches), both ways", s["move"], CPU["move"], floor))
    print(row("  before", s["move before"], CPU["move before"], floor))
    version, get = statistics.median(s["version"]), statistics.median(s["get"])
    print(
        f"goals: --version within 2x of the floor: {version / floor:.2f}x "
        f"({'met' if version <= 2 * floor else 'NOT met'}); -g -f all under 250 ms: {get * 1000:.0f} ms "
        f"({'met' if get < 0.25 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
