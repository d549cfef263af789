"""Benchmark: the at-safeguarded move of 4 lab nodes into a routed VLAN and back, where the time goes, and a job's
end bringing 4 nodes back from a local VLAN.

Run on demand, as root (it builds a lab of its own and removes it):
  python tests/bench/bench_staged.py [--runs N] [--delay S] [--baseline LABEL=TREE]

Side by side, in the same lab and the same run:
- the same 4 nodes moved with a plain `kavlan -s` (the switch part alone);
- the staged move's stages (preflight over SSH, scheduling the restarts with at, switching, waiting for the restart
  to fire and every node back from its new VLAN, confirming the move on each: its undo restart removed);
- with ``--baseline LABEL=TREE``, the staged move as another checkout does it (e.g. the code before issue 13's
  work: a worktree of c38fbc3, or ``git archive c38fbc3 core kavlan_tui | tar -x -C /tmp/base``), taking turns
  with ours;
- a job's end (`kavlan-oardel`) with the 4 nodes in a local VLAN: the time until it returns and until every node
  answers on its default name (the baseline's end moves the ports alone: its nodes are brought back by their
  console afterwards, and are not counted as answering).
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

REQUEST = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2+{\"cluster='uvb'\"}/nodes=2"
LOCAL_REQUEST = "{\"type='kavlan-local'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2+{\"cluster='uvb'\"}/nodes=2"


def run(lab: Lab, *cmd: str, timeout: float = 300, host: str | None = None, check: bool = True) -> str:
    where = ["--host", host] if host else []
    proc = subprocess.run(
        [sys.executable, "-m", "kavlan_tui.lab", "exec", "--state-dir", str(lab.dir), *where, "--", *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stdout[-500:]} {proc.stderr[-1000:]}")
    return proc.stdout


class Tools:
    """The console scripts as one checkout has them: ours (this interpreter's), or a baseline tree's through a
    shim that imports its packages."""

    def __init__(self, shim: Path | None = None) -> None:
        self.shim = shim

    def __call__(self, module: str, func: str) -> list[str]:
        code = f"import sys; from {module} import {func}; sys.exit({func}())"
        # -P: not the working directory first on the path (a checkout's kavlan_tui/ would shadow the shim's)
        if self.shim is None:
            return [sys.executable, "-P", "-c", code]
        return [
            "env",
            f"PYTHONPATH={self.shim}",
            "PYTHONDONTWRITEBYTECODE=1",
            sys.executable,
            "-P",
            "-c",
            code,
        ]

    def kavlan(self) -> list[str]:
        return self("kavlan_tui.cli", "main")

    def oardel(self) -> list[str]:
        return self("kavlan_tui.oar", "oardel_main")

    def oarsub(self) -> list[str]:
        return self("kavlan_tui.oar", "oarsub_main")


Side = tuple[Lab, Tools]
"""A checkout's tools, in a lab of its own (each checkout has its own store: schemas differ)."""


def shim_for(tree: Path, tmp: Path, label: str) -> Path:
    shim = tmp / f"shim-{label}"
    shim.mkdir()
    for package, source in (("kavlan_core", "core"), ("kavlan_tui", "kavlan_tui")):
        (shim / package).symlink_to(tree / source)
    return shim


def staged(lab: Lab, tools: Tools, jid: str, target: str, delay: int) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = run(lab, *tools.kavlan(), "-s", "-j", jid, "-i", target, "--restart-via-at", str(delay), "--json")
    return time.perf_counter() - t0, json.loads(out)


def bench_moves(args: argparse.Namespace, sides: dict[str, Side]) -> None:
    jobs: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    for label, (lab, tools) in sides.items():
        job = json.loads(run(lab, *tools.oarsub(), "--json", "-l", REQUEST))
        jobs[label] = (str(job["uid"]), str(job["resources_by_type"]["vlans"][0]))
        names = [n.split(".")[0] for n in job["assigned_nodes"]]
        run(lab, *tools.kavlan(), "-e", "-j", jobs[label][0])
    lab, ours = sides["this tree"]
    jid, vlan = jobs["this tree"]
    print(
        f"4 lab nodes ({', '.join(names)}) on 2 switches "
        f"(snmpd + Q-BRIDGE agent, linux bridges), VLAN {vlan}, restart delay {args.delay} s, {args.runs} runs"
    )
    plain: list[float] = []
    for _ in range(args.runs):
        for target in (vlan, "DEFAULT"):
            t0 = time.perf_counter()
            run(lab, *ours.kavlan(), "-s", "-q", "-j", jid, "-i", target)
            plain.append(time.perf_counter() - t0)
    totals: dict[str, list[float]] = {label: [] for label in sides}
    stages: dict[str, dict[str, list[float]]] = {label: {} for label in sides}
    back: dict[str, list[float]] = {label: [] for label in sides}
    for _ in range(args.runs):
        for label, (side_lab, tools) in sides.items():  # the sides take turns: the load falls on each alike
            for target in (jobs[label][1], "DEFAULT"):
                took, out = staged(side_lab, tools, jobs[label][0], target, args.delay)
                totals[label].append(took)
                for stage, seconds in out["stages"].items():
                    stages[label].setdefault(stage, []).append(seconds)
                node_back = [n["timings"]["back"] for n in out["nodes"].values() if "back" in n["timings"]]
                assert len(node_back) == 4, out
                back[label].append(max(node_back))
    med = statistics.median
    print(f"plain kavlan -s of the 4 nodes (process included)   median {med(plain):6.2f} s")
    for label in sides:
        print(
            f"[{label}] kavlan -s --restart-via-at {args.delay} (process included)  median {med(totals[label]):6.2f} s"
        )
        for stage, values in stages[label].items():
            print(f"  {stage:<10} median {med(values):6.2f} s")
        print(f"  last node back after the start: median {med(back[label]):6.2f} s")
    for label, (side_lab, tools) in sides.items():
        run(side_lab, *tools.oardel(), jobs[label][0])


def all_answer(lab: Lab, nodes: list[str]) -> bool:
    """Every node answers a ping on the name given (its default name, or its in-VLAN one): one process for all of them (a process per node cost more
    than the nodes' own return, and was counted in it)."""
    script = " && ".join(f"ping -c1 -W1 {n} >/dev/null" for n in nodes)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kavlan_tui.lab",
            "exec",
            "--state-dir",
            str(lab.dir),
            "--",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        timeout=30,
    )
    return proc.returncode == 0


def bench_end(args: argparse.Namespace, sides: dict[str, Side]) -> None:
    """A job's end with its 4 nodes in a local VLAN: until oardel returns, and until every node answers."""
    print(f"a job's end with 4 nodes in a local VLAN ({args.runs} runs each)")
    for label, (lab, tools) in sides.items():
        ended: list[float] = []
        home: list[float] = []
        for _ in range(args.runs):
            job = json.loads(run(lab, *tools.oarsub(), "--json", "-l", LOCAL_REQUEST))
            jid = str(job["uid"])
            nodes = [n.split(".")[0] for n in job["assigned_nodes"]]
            run(lab, *tools.kavlan(), "-e", "-j", jid)
            staged(lab, tools, jid, str(job["resources_by_type"]["vlans"][0]), args.delay)
            t0 = time.perf_counter()
            run(lab, *tools.oardel(), jid, timeout=600)
            ended.append(time.perf_counter() - t0)
            deadline = time.monotonic() + 30
            while True:
                if all_answer(lab, nodes):
                    home.append(time.perf_counter() - t0)
                    break
                if time.monotonic() > deadline:  # stranded: the console brings them back for the next run
                    for n in nodes:
                        run(lab, "/etc/init.d/networking", "restart", host=n, check=False)
                    break
                time.sleep(0.2)
        med = statistics.median
        where = f"every node answering after median {med(home):6.2f} s" if home else "no node answers"
        print(f"[{label}] kavlan-oardel returns after median {med(ended):6.2f} s; {where}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--delay", type=int, default=3, help="seconds between scheduling the restart and its firing"
    )
    p.add_argument(
        "--baseline", help="LABEL=TREE: another checkout's staged move and job end, in the same run"
    )
    p.add_argument("--skip-end", action="store_true", help="the moves only")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    with tempfile.TemporaryDirectory() as tmp:
        tools = {"this tree": Tools()}
        if args.baseline:
            label, _, tree = args.baseline.partition("=")
            tools[label] = Tools(shim_for(Path(tree).absolute(), Path(tmp), label))
        sides: dict[str, Side] = {}
        try:
            for i, (label, side_tools) in enumerate(tools.items()):
                lab = Lab(Path(tmp) / f"state-{i}", prefix=f"kb{uuid.uuid4().hex[:4]}-")
                sides[label] = (lab, side_tools)
                lab.up()
            bench_moves(args, sides)
            if not args.skip_end:
                bench_end(args, sides)
        finally:
            for lab, _tools in sides.values():
                lab.down()


if __name__ == "__main__":
    main()
