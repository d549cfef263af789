"""Benchmark: move 96 nodes over 4 snmpd-backed switches to a VLAN and back, at 0 ms and 10 ms round trip.

Run on demand (needs snmpd, as for the tests):
  python tests/bench/bench_snmp.py [--runs N] [--rounds R] [--rtt 0,10] [--baseline LABEL=TREE ...]

Side by side in the same run, against the same agents (a UDP delay proxy in front of each one):
  (a) this project: KavlanService.set_vlan, from the call to the report (read, plan, apply, read back, record);
  (b) what a shell script would do: one snmpset process per port, sequentially (new VLAN's and old VLAN's
      egress/untagged PortLists and the port's PVID in each);
  (c) the floor: per switch one SET PDU (every PortList and PVID) and one verifying GET, switches in parallel,
      with a bare pysnmp loop;
  and, with ``--baseline LABEL=TREE``, (a) as another checkout of the project does it (e.g. the commit before a
  change), in a process of its own that imports that tree's code (its ``.venv`` python when it has one), against
  the same agents in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from snmpd_fixture import RW_COMMUNITY, Snmpd, running_snmpd  # noqa: E402
from udp_delay import ProxyProcess  # noqa: E402

from kavlan_core import config  # noqa: E402
from kavlan_core.drivers import portlist  # noqa: E402
from kavlan_core.service import KavlanService  # noqa: E402

SWITCHES, PER_SWITCH = 4, 24
EGRESS = "1.3.6.1.2.1.17.7.1.4.3.1.2"
UNTAGGED = "1.3.6.1.2.1.17.7.1.4.3.1.4"
PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"
DEFAULT_VID = 1
SUBNETS = '"1" = "10.65.192.0/20"\n"2" = "10.65.208.0/20"\n"3" = "10.65.224.0/20"\n' + "\n".join(
    f'"{i}" = "{net}"'
    for i, net in zip(
        range(4, 10),
        [
            "10.64.64.0/18",
            "10.64.128.0/18",
            "10.64.192.0/18",
            "10.65.0.0/18",
            "10.65.64.0/18",
            "10.65.128.0/18",
        ],
        strict=True,
    )
)


def inventory(path: Path, addresses: list[str]) -> Path:
    switches = "\n".join(
        f'[[site.switch]]\nname = "sw{i}"\ndriver = "snmp_qbridge"\naddress = "{a}"\ncredentials = "bench"\n'
        f"options = {{ timeout = 2, retries = 1 }}\n"
        for i, a in enumerate(addresses, start=1)
    )
    cabling = "\n".join(
        f'[[site.cluster.cabling]]\nnodes = "{PER_SWITCH * i + 1}-{PER_SWITCH * (i + 1)}"\nswitch = "sw{i + 1}"\n'
        f'port = "ge-0/0/{{k}}"\nport_offset = -1\n'
        for i in range(SWITCHES)
    )
    path.write_text(f"""
[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
default_tag = {DEFAULT_VID}
[site.subnets]
{SUBNETS}
{switches}
[[site.cluster]]
name = "suno"
nodes = {SWITCHES * PER_SWITCH}
{cabling}
""")
    return path


# --- (b) one snmpset process per port ---------------------------------------------------


def script_move(agents: list[Snmpd], addresses: list[str], old: int, new: int) -> None:
    snmpset = shutil.which("snmpset")
    assert snmpset, "snmpset (Debian package snmp) is needed"
    env = agents[0].env
    for agent, address in zip(agents, addresses, strict=True):
        size = (agent.ports + 7) // 8
        members = {vid: set(v["untagged"]) for vid, v in agent.state()["vlans"].items()}
        old_set, new_set = set(members.get(str(old), set())), set(members.get(str(new), set()))
        for port in range(1, PER_SWITCH + 1):
            old_set.discard(port)
            new_set.add(port)
            o, n = portlist.encode(old_set, size).hex(), portlist.encode(new_set, size).hex()
            subprocess.run(
                [
                    snmpset,
                    "-v2c",
                    "-c",
                    RW_COMMUNITY,
                    "-r",
                    "1",
                    "-t",
                    "2",
                    address,
                    f"{EGRESS}.{old}",
                    "x",
                    o,
                    f"{UNTAGGED}.{old}",
                    "x",
                    o,
                    f"{EGRESS}.{new}",
                    "x",
                    n,
                    f"{UNTAGGED}.{new}",
                    "x",
                    n,
                    f"{PVID}.{port}",
                    "u",
                    str(new),
                ],
                env=env,
                check=True,
                capture_output=True,
                timeout=30,
            )


# --- (c) the floor: one SET PDU and one GET per switch, in parallel -------------------------------


def floor_engine() -> object:
    """One engine for every run, its MIB view built once (as the driver does): only the protocol work is timed."""
    from pysnmp.hlapi.v3arch import asyncio as h
    from pysnmp.smi import builder, view

    engine = h.SnmpEngine()
    engine.cache["mibViewController"] = view.MibViewController(builder.MibBuilder())
    return engine


_NAMES: dict[str, object] = {}
_READS: dict[str, object] = {}


def _name(oid: str) -> object:
    """Resolved names are kept, as the driver keeps them: the floor pays no MIB resolution the driver does not."""
    from pysnmp.hlapi.v3arch import asyncio as h

    if oid not in _NAMES:
        _NAMES[oid] = h.ObjectIdentity(oid)
    return _NAMES[oid]


def _read(oid: str) -> object:
    from pysnmp.hlapi.v3arch import asyncio as h

    if oid not in _READS:
        _READS[oid] = h.ObjectType(h.ObjectIdentity(oid))
    return _READS[oid]


async def floor_move(engine: object, agents: list[Snmpd], addresses: list[str], old: int, new: int) -> None:
    from pysnmp.hlapi.v3arch import asyncio as h

    auth = h.CommunityData(RW_COMMUNITY)

    async def one(agent: Snmpd, address: str) -> None:
        host, port = address.rsplit(":", 1)
        target = await h.UdpTransportTarget.create((host, int(port)), timeout=2, retries=1)
        size = (agent.ports + 7) // 8
        members = {vid: set(v["untagged"]) for vid, v in agent.state()["vlans"].items()}
        ports = set(range(1, PER_SWITCH + 1))
        o = portlist.encode(set(members.get(str(old), set())) - ports, size)
        n = portlist.encode(set(members.get(str(new), set())) | ports, size)
        varbinds = [
            h.ObjectType(_name(f"{col}.{vid}"), h.OctetString(v))
            for col in (EGRESS, UNTAGGED)
            for vid, v in ((old, o), (new, n))
        ]
        varbinds += [h.ObjectType(_name(f"{PVID}.{p}"), h.Gauge32(new)) for p in sorted(ports)]
        err, status, _, _ = await h.set_cmd(engine, auth, target, h.ContextData(), *varbinds, lookupMib=False)
        assert not err and not int(status), (err, status)
        err, status, _, vbs = await h.get_cmd(
            engine,
            auth,
            target,
            h.ContextData(),
            *(_read(f"{PVID}.{p}") for p in sorted(ports)),
            lookupMib=False,
        )
        assert not err and all(int(v) == new for _, v in vbs)

    await asyncio.gather(*(one(a, addr) for a, addr in zip(agents, addresses, strict=True)))


@contextlib.contextmanager
def agents_running(workdir: Path) -> Iterator[list[Snmpd]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(running_snmpd(workdir / f"sw{i}", ports=48)) for i in range(1, SWITCHES + 1)
        ]


def ours_series(
    label: str, addresses: list[str], tmp: Path, creds: Path, runs: int
) -> tuple[list[float], int]:
    """(a): the service moving every node to a VLAN and back, ``runs`` times after a warm-up; one-way move times,
    and the VLAN tag used."""
    inv = inventory(tmp / f"inv-{label}.toml", addresses)
    settings = config.load(
        inventory=str(inv), credentials=str(creds), database=f"sqlite:///{tmp}/db-{label}.sqlite"
    )
    svc = KavlanService(settings)
    job = asyncio.run(svc.submit(f"{{\"type='kavlan'\"}}/vlan=1,nodes={SWITCHES * PER_SWITCH}"))
    vlan = job.vlans[0].vlan
    nodes = list(job.nodes)
    a_s: list[float] = []

    async def ours(v: int) -> float:
        t0 = time.perf_counter()
        report = await svc.set_vlan(nodes, v)
        assert report.ok, report.failed[:3]
        return time.perf_counter() - t0

    async def series() -> None:
        await ours(vlan)  # a warm-up: creates the VLAN on the switches and fills the drivers' port maps
        await ours(0)
        for _ in range(runs):
            a_s.append(await ours(vlan))
            a_s.append(await ours(0))
        await svc.close()

    asyncio.run(series())
    return a_s, 700 + vlan


def baseline_series(
    tree: Path, label: str, addresses: list[str], tmp: Path, creds: Path, runs: int
) -> list[float]:
    """(a) as the checkout at ``tree`` does it: this script in a process that imports that tree's packages."""
    shim = tmp / f"shim-{label}"
    shim.mkdir(exist_ok=True)
    for package, source in (("kavlan_core", "core"), ("kavlan_tui", "kavlan_tui")):
        link = shim / package
        if not link.exists():
            link.symlink_to(tree / source)
    venv = tree / ".venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    env = {**os.environ, "PYTHONPATH": str(shim), "PYTHONDONTWRITEBYTECODE": "1"}
    work = tmp / f"work-{label}"
    work.mkdir(exist_ok=True)
    args = [python, __file__, "--ours-only", ",".join(addresses), "--label", label, "--runs", str(runs)]
    args += ["--workdir", str(work), "--credentials", str(creds)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"baseline {label} ({tree}) failed:\n{done.stderr[-3000:]}")
    samples: list[float] = json.loads(done.stdout.strip().splitlines()[-1])["samples"]
    return samples


def floor_series(agents: list[Snmpd], addresses: list[str], tag: int, runs: int) -> list[float]:
    """(c): ``runs`` moves there and back by the bare pysnmp loop, after a warm-up as for (a)."""
    c_s: list[float] = []

    async def series() -> None:
        engine = floor_engine()
        await floor_move(engine, agents, addresses, DEFAULT_VID, tag)
        await floor_move(engine, agents, addresses, tag, DEFAULT_VID)
        for _ in range(runs):
            for old, new in ((DEFAULT_VID, tag), (tag, DEFAULT_VID)):
                t0 = time.perf_counter()
                await floor_move(engine, agents, addresses, old, new)
                c_s.append(time.perf_counter() - t0)
        engine.close_dispatcher()  # type: ignore[attr-defined]

    asyncio.run(series())
    return c_s


def measure(
    rtt: float,
    agents: list[Snmpd],
    addresses: list[str],
    tmp: Path,
    creds: Path,
    runs: int,
    baselines: list[tuple[str, Path]],
    rounds: int,
) -> dict[str, list[float]]:
    """One-way move times at one round trip: (a), (c) and each baseline's in ``rounds`` rounds of ``runs`` each,
    taking turns (the load of a busy machine falls on every column alike); (b) once, ``runs`` times."""
    out: dict[str, list[float]] = {"a": [], "b": [], "c": [], **{label: [] for label, _ in baselines}}
    tag = 0
    for r in range(rounds):
        a_s, tag = ours_series(f"{rtt:g}-{r}", addresses, tmp, creds, runs)
        out["a"] += a_s
        out["c"] += floor_series(agents, addresses, tag, runs)
        for label, tree in baselines:
            out[label] += baseline_series(tree, f"{label}-{rtt:g}-{r}", addresses, tmp, creds, runs)
    for _ in range(runs):
        t0 = time.perf_counter()
        script_move(agents, addresses, DEFAULT_VID, tag)
        script_move(agents, addresses, tag, DEFAULT_VID)
        out["b"].append((time.perf_counter() - t0) / 2)
    return out


def fmt(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def ours_only(args: argparse.Namespace) -> None:
    """The child of ``baseline_series``: (a) alone, against agents the parent runs; the samples as JSON."""
    work = Path(args.workdir)
    os.environ.update(KAVLAN_DATA_DIR=str(work), KAVLAN_CONFIG=str(work / "none.toml"), KAVLAN_USER="bench")
    samples, _ = ours_series(args.label, args.ours_only.split(","), work, Path(args.credentials), args.runs)
    print(json.dumps({"samples": samples}))


def parse_baselines(values: list[str]) -> list[tuple[str, Path]]:
    out = []
    for value in values:
        label, sep, tree = value.partition("=")
        if not sep or not (Path(tree) / "core").is_dir():
            raise SystemExit(f"--baseline {value!r}: LABEL=TREE, TREE a checkout of the project (with core/)")
        out.append((label, Path(tree).resolve()))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="moves there and back per round")
    p.add_argument(
        "--rounds", type=int, default=1, help="rounds in which (a), (c) and the baselines take turns"
    )
    p.add_argument("--rtt", default="0,10", help="round trips to measure, in ms, comma-separated")
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="LABEL=TREE",
        help="also measure (a) as the checkout at TREE does it, in the same run (repeatable)",
    )
    p.add_argument("--ours-only", help=argparse.SUPPRESS)  # the child of a baseline: agent addresses
    p.add_argument("--label", default="", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--credentials", help=argparse.SUPPRESS)
    return p


def header(args: argparse.Namespace, baselines: list[tuple[str, Path]]) -> None:
    print(
        f"{SWITCHES} snmpd switches (net-snmp + the project's pass_persist Q-BRIDGE agent), "
        f"{SWITCHES * PER_SWITCH} nodes, DEFAULT (VLAN tag {DEFAULT_VID}) -> VLAN and back; "
        f"median of {2 * args.runs * args.rounds} moves"
    )
    for label, tree in baselines:
        print(f"  (a) {label}: the same move by the checkout at {tree}")
    extra = "".join(f" {f'(a) {label}':>14} {f'{label}/c':>8}" for label, _ in baselines)
    print(
        f"{'rtt':>6} {'(a) kavlan':>12} {'(b) snmpset/port':>18} {'(c) floor':>12} {'a/c':>6} {'b/a':>6} {'b/c':>6}"
        + extra
    )


def row(rtt: float, got: dict[str, list[float]], baselines: list[tuple[str, Path]]) -> None:
    a_s, b_s, c_s = got["a"], got["b"], got["c"]
    a, b, c = (statistics.median(x) for x in (a_s, b_s, c_s))
    cells = "".join(
        f" {fmt(got[label]):>14} {statistics.median(got[label]) / c:8.2f}" for label, _ in baselines
    )
    print(
        f"{rtt:4g}ms {fmt(a_s):>12} {fmt(b_s):>18} {fmt(c_s):>12} {a / c:6.2f} {b / a:6.2f} {b / c:6.2f}"
        + cells
    )


def main() -> None:
    args = parser().parse_args()
    if args.ours_only:
        ours_only(args)
        return
    baselines = parse_baselines(args.baseline)
    with tempfile.TemporaryDirectory() as tmp, agents_running(Path(tmp)) as agents:
        os.environ.update(
            KAVLAN_DATA_DIR=tmp, KAVLAN_CONFIG=str(Path(tmp) / "none.toml"), KAVLAN_USER="bench"
        )
        creds = Path(tmp) / "creds.toml"
        creds.write_text(
            f'[bench]\nversion = "2c"\ncommunity = "{RW_COMMUNITY}"\nwrite_community = "{RW_COMMUNITY}"\n'
        )
        creds.chmod(0o600)  # a credentials file others may read is refused
        proxies: list[ProxyProcess] = []
        header(args, baselines)
        try:
            for rtt in (float(x) for x in args.rtt.split(",")):
                if rtt > 0:
                    proxies.append(ProxyProcess([a.port for a in agents], rtt))
                    addresses = [f"127.0.0.1:{port}" for port in proxies[-1].ports]
                else:
                    addresses = [a.address for a in agents]
                got = measure(rtt, agents, addresses, Path(tmp), creds, args.runs, baselines, args.rounds)
                row(rtt, got, baselines)
        finally:
            for proxy in proxies:
                proxy.stop()


if __name__ == "__main__":
    main()
