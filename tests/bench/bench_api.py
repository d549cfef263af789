"""kavlan-api at scale: latency of ``GET /sites/{site}/vlans/nodes`` on 1,000 nodes and of a 10-node move, and
throughput at 50 concurrent clients; the service embedded on SQLite, the server on SQLite, the server on PostgreSQL,
side by side in one run.

Run on demand (not by the test suite; PostgreSQL's server binaries must be installed, and as root the server runs
as the ``postgres`` user):

    python tests/bench/bench_api.py                      # defaults below
    python tests/bench/bench_api.py --gets 400 --moves 60 --json

The testbed is bench_tui's, with 1,000 nodes at the home site on 23 simulated switches with no latency (so that the
figures are the API's and the store's, not a switch's), 40 nodes in each VLAN but DEFAULT. Every request is over
HTTPS with a client certificate (root's), as a real client would send it; each of the 50 clients has its own
connection. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_tui  # noqa: E402  (the 1,000-node testbed and its population)

SITE = "home"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(pct(ms, 0.5), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "mean_ms": round(statistics.mean(ms), 1),
    }


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t0)
    return out


def move_sets(home: list[str], count: int, size: int) -> list[list[str]]:
    """Disjoint sets of DEFAULT nodes (bench_tui puts the first 9x40 home nodes in VLANs 1-9)."""
    free = home[9 * bench_tui.PER_VLAN + 100 :]
    assert len(free) >= count * size, (len(free), count, size)
    return [free[i * size : (i + 1) * size] for i in range(count)]


# --- embedded: the service called in this process -----------------------------------------------------------


async def embedded(args: argparse.Namespace, data: Path, inventory: Path) -> dict[str, Any]:
    os.environ.update(bench_tui.environment(data, inventory, "root"))
    from kavlan_core import config
    from kavlan_core.service import KavlanService

    svc = KavlanService(config.load())
    home = [n.name for n in svc.inventory.site_nodes(SITE)]
    fqdns = [svc.inventory.hostname(svc.inventory.resolve(n), 0) for n in home]
    await svc.vlan_of(fqdns)  # warm
    gets = await timed(args.gets, lambda _i: svc.vlan_of(fqdns))
    sets = move_sets(home, 2, 10)

    async def move(i: int) -> None:
        report = await svc.set_vlan(sets[0], 5 if i % 2 == 0 else 0)
        assert report.ok, report.failed

    moves = await timed(args.moves, move)

    async def reader() -> None:
        for _ in range(args.per_client):
            await svc.vlan_of(fqdns)

    t0 = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(args.clients)))
    reads_per_s = args.clients * args.per_client / (time.perf_counter() - t0)
    many = move_sets(home, args.clients, 10)
    t0 = time.perf_counter()
    reports = await asyncio.gather(*(svc.set_vlan(nodes, 6) for nodes in many))
    moves_per_s = len(many) / (time.perf_counter() - t0)
    assert all(r.ok for r in reports)
    await asyncio.gather(*(svc.set_vlan(nodes, 0) for nodes in many))
    await svc.close()
    return {
        "get_nodes": summary(gets),
        "move_10": summary(moves),
        "reads_per_s": round(reads_per_s, 1),
        "moves_per_s": round(moves_per_s, 1),
    }


# --- over HTTPS: kavlan-api serve ----------------------------------------------------------------------------


async def remote(args: argparse.Namespace, server: Any, home: list[str], domain: str) -> dict[str, Any]:
    import aiohttp

    ctx = ssl.create_default_context(cafile=server.ca)
    ctx.load_cert_chain(*server.cert("root"))
    base = server.url + f"/sites/{SITE}"
    timeout = aiohttp.ClientTimeout(total=120)

    def fqdn(n: str) -> str:
        return f"{n}.{SITE}.{domain}"

    async def get_nodes(session: aiohttp.ClientSession) -> None:
        async with session.get(base + "/vlans/nodes", ssl=ctx) as r:
            body = await r.json()
            assert r.status == 200 and body["total"] == len(home), (r.status, body.get("total"))

    async def move(session: aiohttp.ClientSession, nodes: list[str], vlan: str) -> None:
        async with session.post(f"{base}/vlans/{vlan}/nodes", json=[fqdn(n) for n in nodes], ssl=ctx) as r:
            body = await r.json()
            assert r.status == 200, (r.status, body)
            assert all(v["status"] in ("success", "unchanged") for v in body.values()), body

    sets = move_sets(home, 2, 10)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        await get_nodes(session)  # warm: connection, caches
        gets = await timed(args.gets, lambda _i: get_nodes(session))
        moves = await timed(args.moves, lambda i: move(session, sets[0], "5" if i % 2 == 0 else "DEFAULT"))

    async def reader() -> None:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as s:
            for _ in range(args.per_client):
                await get_nodes(s)

    t0 = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(args.clients)))
    reads_per_s = args.clients * args.per_client / (time.perf_counter() - t0)

    many = move_sets(home, args.clients, 10)

    async def mover(nodes: list[str], vlan: str) -> None:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as s:
            await move(s, nodes, vlan)

    t0 = time.perf_counter()
    await asyncio.gather(*(mover(nodes, "6") for nodes in many))
    moves_per_s = len(many) / (time.perf_counter() - t0)
    await asyncio.gather(*(mover(nodes, "DEFAULT") for nodes in many))
    return {
        "get_nodes": summary(gets),
        "move_10": summary(moves),
        "reads_per_s": round(reads_per_s, 1),
        "moves_per_s": round(moves_per_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gets", type=int, default=200, help="sequential GET /vlans/nodes for the latency (200)")
    ap.add_argument("--moves", type=int, default=40, help="sequential 10-node moves for the latency (40)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients for the throughput (50)")
    ap.add_argument("--per-client", type=int, default=8, help="GETs each concurrent client sends (8)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    import api_fixture
    import pg_fixture

    bench_tui.HOME_NODES = 1000  # the figure: 1,000 nodes behind the one site's /vlans/nodes
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-api-") as tmp:
        root = Path(tmp)
        inventory = root / "testbed.toml"
        inventory.write_text(bench_tui.testbed())
        certs = api_fixture.make_certs(root / "certs", users=("root",), services=())

        data = root / "sqlite"
        info = bench_tui.populate(data, inventory)
        from kavlan_core import inventory as inventory_mod

        inv = inventory_mod.load(str(inventory))
        home = [n.name for n in inv.site_nodes(SITE)]
        domain = inv.sites[SITE].domain
        results["testbed"] = {
            "nodes": info["nodes"],
            "home_nodes": len(home),
            "vlans_seen": info["vlans_seen_from_home"],
        }
        results["embedded, SQLite"] = asyncio.run(embedded(args, data, inventory))

        server = api_fixture.start_server(
            root / "api-sqlite",
            certs,
            inventory=inventory,
            env={"KAVLAN_DATA_DIR": str(data), "KAVLAN_SITE": SITE},
        )
        try:
            results["kavlan-api, SQLite"] = asyncio.run(remote(args, server, home, domain))
        finally:
            server.stop()

        bindir = pg_fixture._binaries()
        if bindir is None:
            results["kavlan-api, PostgreSQL"] = {"skipped": pg_fixture.NO_POSTGRES}
        else:
            with pg_fixture.private_server(bindir) as pg:
                url = pg.url(pg.create_database())
                os.environ["KAVLAN_DATABASE"] = url  # populate() keeps it: the same population, on PostgreSQL
                bench_tui.populate(root / "pg-data", inventory)
                server = api_fixture.start_server(
                    root / "api-pg",
                    certs,
                    inventory=inventory,
                    env={"KAVLAN_DATABASE": url, "KAVLAN_SITE": SITE},
                )
                try:
                    results["kavlan-api, PostgreSQL"] = asyncio.run(remote(args, server, home, domain))
                finally:
                    server.stop()
                    del os.environ["KAVLAN_DATABASE"]

    if args.json:
        print(json.dumps(results, indent=2))
        return
    cols = [k for k in results if k != "testbed"]
    print(f"testbed: {results['testbed']}; {args.gets} GETs, {args.moves} moves, {args.clients} clients")
    print(f"{'':34}" + "".join(f"{c:>24}" for c in cols))
    rows = [
        ("GET /vlans/nodes p50 (ms)", "get_nodes", "p50_ms"),
        ("GET /vlans/nodes p99 (ms)", "get_nodes", "p99_ms"),
        ("10-node move p50 (ms)", "move_10", "p50_ms"),
        ("10-node move p99 (ms)", "move_10", "p99_ms"),
        (f"GETs/s, {args.clients} clients", "reads_per_s", None),
        (f"10-node moves/s, {args.clients} clients", "moves_per_s", None),
    ]
    for label, key, sub in rows:
        cells = []
        for c in cols:
            r = results[c]
            cells.append("-" if "skipped" in r else str(r[key][sub] if sub else r[key]))
        print(f"{label:34}" + "".join(f"{v:>24}" for v in cells))


if __name__ == "__main__":
    main()
