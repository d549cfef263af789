"""Benchmark: what the intent journal costs end to end, this tree against a baseline tree (a checkout with its own
``.venv``: main, the tree before the journal), measured in the same run, interleaved.

Run on demand:  python tests/bench/bench_journal_cost.py --baseline DIR [--runs N] [--rtt 0,10]
  (DIR: e.g. ``git archive main | tar -x -C DIR``, then ``python -m venv --system-site-packages DIR/.venv`` and
  ``DIR/.venv/bin/pip install --no-deps -e DIR``.) Needs snmpd, as the tests do.

- bench_cli.py's move: ``kavlan -s`` of 100 demo nodes (3 simulated switches at 15 ms), to a VLAN and back, the
  whole process, each tree's own console script, one run of each in turn.
- bench_snmp.py's move: 96 nodes on 4 snmpd switches, ``KavlanService.set_vlan`` from the call to the report, at
  each round trip; each tree in a process of its own (its Python, its package), against the same agents, in turn;
  and the floor (one SET and one verifying GET per switch, bare pysnmp) in this process, between them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


# --- in a child process: one tree's moves on the snmpd switches ------------------------------------------------


def child_snmp(addresses: list[str], creds: str, tmp: Path, runs: int) -> dict[str, object]:
    """Move the 96 nodes to a VLAN and back ``runs`` times with the kavlan_core this Python imports: the times,
    and the VLAN's tag."""
    from bench_snmp import PER_SWITCH, SWITCHES, inventory

    from kavlan_core import config
    from kavlan_core.service import KavlanService

    inv = inventory(tmp / "inv.toml", addresses)
    settings = config.load(inventory=str(inv), credentials=creds, database=f"sqlite:///{tmp}/db.sqlite")
    svc = KavlanService(settings)
    times: list[float] = []
    tag = [0]

    async def series() -> None:
        job = await svc.submit(f"{{\"type='kavlan'\"}}/vlan=1,nodes={SWITCHES * PER_SWITCH}")
        nodes, vlan = list(job.nodes), job.vlans[0].vlan
        tag[0] = 700 + vlan
        for i in range(runs + 1):
            for v in (vlan, 0):
                t0 = time.perf_counter()
                report = await svc.set_vlan(nodes, v)
                assert report.ok, report.failed[:3]
                if i > 0:  # the first round creates the VLAN on the switches and fills the drivers' port maps
                    times.append(time.perf_counter() - t0)
        await svc.close()

    asyncio.run(series())
    return {"times": times, "tag": tag[0]}


# --- the parent ----------------------------------------------------------------------------------------------


def tree_env(tree: Path, tmp: Path, name: str) -> dict[str, str]:
    data = tmp / name
    data.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{tree / '.venv' / 'bin'}:{os.environ['PATH']}",
        "KAVLAN_DATA_DIR": str(data),
        "KAVLAN_CONFIG": str(tmp / "none.toml"),
        "KAVLAN_USER": "bench",
    }
    env.pop("OAR_JOB_ID", None)
    return env


def cli_moves(trees: dict[str, Path], tmp: Path, runs: int) -> dict[str, list[float]]:
    """kavlan -s of 100 demo nodes, to a VLAN and back, each tree in turn."""
    setups = {}
    for name, tree in trees.items():
        env = tree_env(tree, tmp, name)
        out = subprocess.run(
            ["kavlan-oarsub", "--json", "-l", "{\"type='kavlan'\"}/vlan=1,{\"site='sophia'\"}/nodes=100"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        job = json.loads(out)
        nodes = tmp / f"{name}.nodes"
        nodes.write_text("".join(f"{n}\n" for n in job["assigned_nodes"]))
        setups[name] = (env, str(job["uid"]), job["resources_by_type"]["vlans"][0], str(nodes))
    times: dict[str, list[float]] = {name: [] for name in trees}
    for i in range(runs + 1):
        for name, (env, job_id, vlan, nodes) in setups.items():
            for target in (vlan, "DEFAULT"):
                t0 = time.perf_counter()
                done = subprocess.run(
                    ["kavlan", "-s", "-q", "-i", target, "-f", nodes, "-j", job_id],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{name}: kavlan -s failed: {done.stderr}")
                if i > 0:
                    times[name].append(time.perf_counter() - t0)
    return times


def snmp_moves(
    trees: dict[str, Path], tmp: Path, runs: int, rtts: list[float]
) -> dict[float, dict[str, list[float]]]:
    from bench_snmp import DEFAULT_VID, agents_running, floor_engine, floor_move
    from snmpd_fixture import RW_COMMUNITY
    from udp_delay import ProxyProcess

    creds = tmp / "creds.toml"
    creds.write_text(
        f'[bench]\nversion = "2c"\ncommunity = "{RW_COMMUNITY}"\nwrite_community = "{RW_COMMUNITY}"\n'
    )
    creds.chmod(0o600)
    out: dict[float, dict[str, list[float]]] = {}
    with agents_running(tmp / "agents") as agents:
        for rtt in rtts:
            proxy = ProxyProcess([a.port for a in agents], rtt) if rtt > 0 else None
            try:
                addresses = [f"127.0.0.1:{p}" for p in proxy.ports] if proxy else [a.address for a in agents]
                out[rtt] = {name: [] for name in [*trees, "floor"]}
                for rnd in range(runs):
                    tag = 0
                    for name, tree in trees.items():
                        work = tmp / f"snmp-{name}-{rtt:g}-{rnd}"
                        work.mkdir()
                        times, tag = run_child(tree, work, addresses, str(creds))
                        out[rtt][name] += times
                    out[rtt]["floor"] += floor_times(
                        agents, addresses, (DEFAULT_VID, tag), floor_engine, floor_move
                    )
            finally:
                if proxy:
                    proxy.stop()
    return out


def run_child(tree: Path, work: Path, addresses: list[str], creds: str) -> tuple[list[float], int]:
    env = tree_env(tree, work, "data")
    done = subprocess.run(
        [
            str(tree / ".venv" / "bin" / "python"),
            __file__,
            "--child",
            json.dumps({"addresses": addresses, "creds": creds, "tmp": str(work), "runs": 2}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr}")
    got = json.loads(done.stdout.splitlines()[-1])
    return [float(t) for t in got["times"]], int(got["tag"])


def floor_times(agents, addresses, tags, floor_engine, floor_move) -> list[float]:  # type: ignore[no-untyped-def]
    """The bare pysnmp floor, between DEFAULT and the VLAN the trees used: 2 moves each way after a warm-up."""
    default_vid, tag = tags
    times: list[float] = []

    async def series() -> None:
        engine = floor_engine()
        for i in range(3):
            for old, new in ((default_vid, tag), (tag, default_vid)):
                t0 = time.perf_counter()
                await floor_move(engine, agents, addresses, old, new)
                if i > 0:
                    times.append(time.perf_counter() - t0)
        engine.close_dispatcher()

    asyncio.run(series())
    return times


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, help="a checkout with its own .venv (e.g. main)")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--rtt", default="0,10", help="round trips for the snmpd moves, in ms, comma-separated")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(child_snmp(spec["addresses"], spec["creds"], Path(spec["tmp"]), spec["runs"])))
        return
    if args.baseline is None:
        p.error("--baseline DIR is needed")
    trees = {"this tree": HERE.parent.parent, "baseline": args.baseline.resolve()}
    print(f"this tree: {trees['this tree']}; baseline: {trees['baseline']}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cli = cli_moves(trees, tmp, args.runs)
        print(f"kavlan -s of 100 demo nodes, both ways, process included (n={len(cli['this tree'])} each):")
        ours, base = (statistics.median(cli[n]) for n in trees)
        print(
            f"  this tree {ms(cli['this tree'])}   baseline {ms(cli['baseline'])}   ratio {ours / base:.3f}"
        )
        rounds = max(1, args.runs // 2)
        snmp = snmp_moves(trees, tmp, rounds, [float(x) for x in args.rtt.split(",")])
        print("96 nodes on 4 snmpd switches, KavlanService.set_vlan, one way (median):")
        for rtt, got in snmp.items():
            a, b, c = (statistics.median(got[n]) for n in ("this tree", "baseline", "floor"))
            print(
                f"  {rtt:4g} ms rtt: this tree {a * 1000:6.1f} ms ({a / c:.2f}x the floor)   baseline "
                f"{b * 1000:6.1f} ms ({b / c:.2f}x)   floor {c * 1000:6.1f} ms   this/baseline {a / b:.3f}"
                f"   (n={len(got['this tree'])})"
            )


if __name__ == "__main__":
    main()
