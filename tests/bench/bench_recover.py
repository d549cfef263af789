"""Benchmark: the next command after a ``kavlan -s`` of 60 nodes killed with SIGKILL in the middle of its move, which
finds the move's intent and settles it (reads the ports again; completes the move, or rolls it back).

Run on demand:  python tests/bench/bench_recover.py [--runs N]
On the demo testbed (simulated switches answering in 15 ms). Side by side, in the same run: the same command with
nothing to settle (``kavlan -g`` of the 60 nodes), and ``python -c pass``.
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

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from crash_harness import stopped_at  # noqa: E402

from kavlan_core import inventory  # noqa: E402


def timed(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t0, done


def killed_then_next(step: str, job: str, env: dict[str, str], where: Path) -> tuple[float, str]:
    """kavlan -s of the job's nodes killed at ``step`` (one switch at a time: the others have not begun); the next
    command's time and what it said."""
    one_by_one = {**env, "KAVLAN_SWITCH_CONCURRENCY": "1"}
    with stopped_at(step, one_by_one, "kavlan", "-s", "-j", job, where=where) as p:
        p.kill("kill-9")
    seconds, done = timed(["kavlan", "-g", "-j", job], env)
    if done.returncode != 0 or "unfinished move of 60 port(s)" not in done.stderr:
        raise SystemExit(f"the next command did not settle the move: {done.stderr}")
    return seconds, done.stderr.strip().rsplit(": ", 1)[-1]


def back_to_default(job: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["kavlan", "-s", "-i", "DEFAULT", "-j", job], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)


def row(name: str, samples: list[float]) -> str:
    return (
        f"{name:<58} median {statistics.median(samples) * 1000:7.1f} ms   min {min(samples) * 1000:7.1f} ms"
        f"   (n={len(samples)})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "KAVLAN_DATA_DIR": tmp,
            "KAVLAN_CONFIG": str(Path(tmp) / "none.toml"),
            "KAVLAN_USER": "bench",
        }
        env.pop("OAR_JOB_ID", None)
        request = "{\"type='kavlan'\"}/vlan=1,{\"site='sophia'\"}/nodes=60"
        out = subprocess.run(
            ["kavlan-oarsub", "--json", "-l", request], env=env, capture_output=True, text=True
        )
        job = json.loads(out.stdout)
        job_id = str(job["uid"])
        inv = inventory.load(None)
        nodes = sorted(n.split(".")[0] for n in job["assigned_nodes"])  # a move's order: its switches, as met
        switches = list(dict.fromkeys(inv.nodes[n].primary_nic.switch for n in nodes))
        print(
            f"demo testbed: 60 nodes of sophia on {len(switches)} simulated switches ({', '.join(switches)}), 15 ms"
        )
        samples: dict[str, list[float]] = {"complete": [], "rollback": [], "plain": [], "python": []}
        for _run in range(args.runs):
            seconds, outcome = killed_then_next("before-record", job_id, env, Path(tmp) / "stop")
            assert outcome == "completed", outcome
            samples["complete"].append(seconds)
            back_to_default(job_id, env)
            seconds, outcome = killed_then_next(f"after-apply:{switches[0]}", job_id, env, Path(tmp) / "stop")
            assert outcome == "rolled back", outcome
            samples["rollback"].append(seconds)
            samples["plain"].append(timed(["kavlan", "-g", "-j", job_id], env)[0])
            samples["python"].append(timed([sys.executable, "-c", "pass"], env)[0])
        print(row("python -c pass", samples["python"]))
        print(row("kavlan -g (60 nodes), nothing to settle", samples["plain"]))
        print(row("kavlan -g after kill -9 before the record: completes it", samples["complete"]))
        print(row(f"kavlan -g after kill -9 once {switches[0]} applied: rolls back", samples["rollback"]))


if __name__ == "__main__":
    main()
