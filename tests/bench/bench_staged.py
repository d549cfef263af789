"""Benchmark: the at-safeguarded move of 4 lab nodes into a routed VLAN and back, and where the time goes.

Run on demand, as root (it builds a lab of its own and removes it):  python tests/bench/bench_staged.py [--runs N] [--delay S]

Side by side: the same 4 nodes moved with a plain `kavlan -s` (the switch part alone), and the staged move's
stages (preflight over SSH, scheduling the restart with at, switching, waiting for the restart to fire,
getting every node back from its new VLAN). The restart delay is the floor of any staged move.
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
from pathlib import Path

from kavlan_core.lab.builder import Lab


def run(lab: Lab, *cmd: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "kavlan_tui.lab", "exec", "--state-dir", str(lab.dir), "--", *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return proc.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--delay", type=int, default=3, help="seconds between scheduling the restart and its firing"
    )
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    bindir = Path(sys.executable).parent
    kavlan, oarsub = str(bindir / "kavlan"), str(bindir / "kavlan-oarsub")
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp) / "state", prefix=f"kb{uuid.uuid4().hex[:4]}-")
        lab.up()
        try:
            job = json.loads(
                run(
                    lab,
                    oarsub,
                    "--json",
                    "-l",
                    "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2+{\"cluster='uvb'\"}/nodes=2",
                )
            )
            jid, vlan = str(job["uid"]), job["resources_by_type"]["vlans"][0]
            run(lab, kavlan, "-e", "-j", jid)
            print(
                f"4 lab nodes ({', '.join(n.split('.')[0] for n in job['assigned_nodes'])}) on 2 switches "
                f"(snmpd + Q-BRIDGE agent, linux bridges), VLAN {vlan}, restart delay {args.delay} s, {args.runs} runs"
            )
            plain: list[float] = []
            for _ in range(args.runs):
                for target in (vlan, "DEFAULT"):
                    t0 = time.perf_counter()
                    run(lab, kavlan, "-s", "-q", "-j", jid, "-i", target)
                    plain.append(time.perf_counter() - t0)
            totals: list[float] = []
            stages: dict[str, list[float]] = {}
            back: list[float] = []
            for _ in range(args.runs):
                for target in (vlan, "DEFAULT"):
                    t0 = time.perf_counter()
                    out = json.loads(
                        run(
                            lab,
                            kavlan,
                            "-s",
                            "-j",
                            jid,
                            "-i",
                            target,
                            "--restart-via-at",
                            str(args.delay),
                            "--json",
                        )
                    )
                    totals.append(time.perf_counter() - t0)
                    for stage, seconds in out["stages"].items():
                        stages.setdefault(stage, []).append(seconds)
                    node_back = [
                        n["timings"]["back"] for n in out["nodes"].values() if "back" in n["timings"]
                    ]
                    assert len(node_back) == 4, out
                    back.append(max(node_back))
            med = statistics.median
            print(f"plain kavlan -s of the 4 nodes (process included)   median {med(plain):6.2f} s")
            print(
                f"kavlan -s --restart-via-at {args.delay} (process included)    median {med(totals):6.2f} s"
            )
            for stage, values in stages.items():
                print(f"  {stage:<10} median {med(values):6.2f} s")
            print(
                f"  last node back after the start: median {med(back):6.2f} s "
                f"(the restart fires {args.delay} s after scheduling)"
            )
        finally:
            lab.down()


if __name__ == "__main__":
    main()
