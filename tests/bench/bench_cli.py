"""Benchmark: ``kavlan -g`` on every node of the demo testbed and ``kavlan -s`` of 100 nodes, end to end.

Run on demand:  python tests/bench/bench_cli.py [--runs N]
Each figure is a whole process (start-up included), measured side by side with the floor of any
Python command (``python -c pass``) and ``kavlan --version`` (start-up without the core).
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
from pathlib import Path


def timed(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return out


def row(name: str, samples: list[float]) -> str:
    return f"{name:<46} median {statistics.median(samples) * 1000:7.1f} ms   min {min(samples) * 1000:7.1f} ms   (n={len(samples)})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument(
        "--latency-ms", type=int, default=None, help="override the demo switches' simulated latency"
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "KAVLAN_DATA_DIR": tmp,
            "KAVLAN_CONFIG": str(Path(tmp) / "none.toml"),
            "KAVLAN_USER": "bench",
        }
        env.pop("OAR_JOB_ID", None)
        from kavlan_core import inventory

        inv = inventory.load(None)
        allnodes = Path(tmp) / "all"
        allnodes.write_text("".join(f"{inv.node_fqdn(n)}\n" for n in inv.nodes.values()))
        out = subprocess.run(
            ["kavlan-oarsub", "--json", "-l", "{\"type='kavlan'\"}/vlan=1,{\"site='sophia'\"}/nodes=100"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        job = json.loads(out)
        hundred = Path(tmp) / "hundred"
        hundred.write_text("".join(f"{n}\n" for n in job["assigned_nodes"]))
        vlan = job["resources_by_type"]["vlans"][0]
        switches = {inv.nodes[n.split(".")[0]].primary_nic.switch for n in job["assigned_nodes"]}

        print(
            f"demo testbed: {len(inv.nodes)} nodes, {len(inv.switches)} switches "
            f"(simulated, {inv.switches['sophia-sw1'].options.get('latency_ms', 0)} ms per round trip)"
        )
        print(
            row(
                "python -c pass (floor of any Python command)",
                timed([sys.executable, "-c", "pass"], env, args.runs),
            )
        )
        print(row("kavlan --version (start-up, no core)", timed(["kavlan", "--version"], env, args.runs)))
        print(
            row(
                f"kavlan -g -f all ({len(inv.nodes)} nodes)",
                timed(["kavlan", "-g", "-f", str(allnodes)], env, args.runs),
            )
        )
        moves = []
        for _ in range(args.runs):
            moves += timed(
                ["kavlan", "-s", "-q", "-i", vlan, "-f", str(hundred), "-j", str(job["uid"])], env, 1
            )
            moves += timed(
                ["kavlan", "-s", "-q", "-i", "DEFAULT", "-f", str(hundred), "-j", str(job["uid"])], env, 1
            )
        print(row(f"kavlan -s 100 nodes ({len(switches)} switches), both ways", moves))


if __name__ == "__main__":
    main()
