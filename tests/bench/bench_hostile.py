"""kavlan-api under attack: a normal client's latency alone, beside a thousand idle or half-sent connections, and
during a password brute force; and how long each hostile request holds the server's event loop.

Run on demand (not by the test suite):

    python tests/bench/bench_hostile.py                  # defaults below
    python tests/bench/bench_hostile.py --samples 500 --json

A real ``kavlan-api serve`` on 127.0.0.1 (the demo testbed, client certificates and HTTP Basic), as the tests
start it; the normal client is a keep-alive session with a client certificate (``GET /sites/sophia/vlans/4``).
Attackers come from other loopback addresses (127.0.0.2...). The event loop's stalls are measured inside an
in-process server (tests/api_inprocess.py): processor time of the loop's thread between two 1 ms ticks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import api_fixture  # noqa: E402
import api_inprocess  # noqa: E402

SITE = "sophia"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50_p95(seconds: list[float]) -> tuple[float, float]:
    return round(pct(seconds, 0.5) * 1000, 2), round(pct(seconds, 0.95) * 1000, 2)


def timed(session: Any, url: str, n: int, stop: threading.Event | None = None) -> list[float]:
    out: list[float] = []
    while len(out) < n or (stop is not None and not stop.is_set()):
        t0 = time.perf_counter()
        r = session.get(url, timeout=30)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


def idle_attack(server: Any, client: Any, url: str, n: int, connections: int) -> dict[str, Any]:
    port = int(server.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=server.ca)
    held = []
    t0 = time.perf_counter()
    try:
        for i in range(connections):
            source = f"127.0.0.{2 + i % 20}"
            raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
            if i % 2:
                held.append(raw)  # says nothing: the server waits for its TLS handshake
            else:
                tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                tls.sendall(f"GET /sites/{SITE}/vlans HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
                held.append(tls)
        opened = time.perf_counter() - t0
        server.until_holding(connections)
        return {"opened in s": round(opened, 2), "p50/p95 ms": p50_p95(timed(client, url, n))}
    finally:
        for s in held:
            s.close()


def brute_force(server: Any, client: Any, url: str, guesses: int) -> dict[str, Any]:
    alice = server.client("alice", password=api_fixture.PASSWORDS["alice"])
    whoami = server.url + f"/sites/{SITE}/kavlan/whoami"
    timed(alice, whoami, 10)
    stop = threading.Event()
    during: dict[str, list[float]] = {}
    counts: dict[int, int] = {}
    lock = threading.Lock()
    local = threading.local()
    seats = itertools.count()

    def guess(i: int) -> None:
        """One guess, on its thread's keep-alive connection (from one of eight addresses)."""
        if not hasattr(local, "session"):
            local.session = server.client(source=f"127.0.0.{61 + next(seats) % 8}")
        user = ["alice", "root", f"nobody{i}", "bob"][i % 4]
        status = local.session.get(whoami, auth=(user, f"guess-{i}"), timeout=30).status_code
        with lock:
            counts[status] = counts.get(status, 0) + 1

    victims = [
        threading.Thread(target=lambda: during.__setitem__("password", timed(alice, whoami, 20, stop))),
        threading.Thread(target=lambda: during.__setitem__("certificate", timed(client, url, 20, stop))),
    ]
    for v in victims:
        v.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(guess, range(guesses)))
    took = time.perf_counter() - t0
    stop.set()
    for v in victims:
        v.join()
    return {
        "guesses": dict(sorted(counts.items())),
        "guessing took s": round(took, 2),
        "right password p50/p95 ms": p50_p95(during["password"]),
        "certificate p50/p95 ms": p50_p95(during["certificate"]),
    }


def loop_stalls(root: Path) -> list[dict[str, Any]]:
    """Each hostile request against an in-process server: its answer, its time, the loop's longest stall."""
    from kavlan_core.api.server.limits import MAX_NODES

    s = api_inprocess.start(
        root / "inproc", api_inprocess.settings_for(root, api_fixture.demo_with_credentials(root / "d.toml"))
    )
    move, jobs = f"/sites/{SITE}/vlans/DEFAULT/nodes", f"/sites/{SITE}/jobs"
    cases = [
        (
            "a move of 100,000 names (3.3 MB)",
            move,
            json.dumps([f"nosuch-{i}.sophia.grid5000.fr" for i in range(100_000)]),
        ),
        ("a move of 100,000 short names", move, json.dumps(["x"] * 100_000)),
        (f"a move of {MAX_NODES} unknown names", move, json.dumps([f"nosuch-{i}" for i in range(MAX_NODES)])),
        ("resources of 20,000 groups", jobs, json.dumps({"resources": "+".join(["/nodes=1"] * 20_000)})),
        ("JSON nested 100,000 deep", jobs, "[" * 100_000 + "]" * 100_000),
        ("a lone surrogate", jobs, '{"resources": "nodes=1", "name": "\\ud800"}'),
        ("walltime=99999999 in resources", jobs, json.dumps({"resources": "nodes=1,walltime=99999999"})),
        ("a job name of 10,000 characters", jobs, json.dumps({"resources": "nodes=1", "name": "x" * 10_000})),
        ("GET /vlans (a normal read)", f"/sites/{SITE}/vlans", None),
    ]
    out = []
    try:
        s.request("GET", f"/sites/{SITE}/kavlan/whoami")
        for name, path, body in cases:
            with s.watch() as lag:
                t0 = time.perf_counter()
                method = "POST" if body is not None else "GET"
                data = body.encode() if body is not None else None
                reply = s.request(method, path, data, headers={"Content-Type": "application/json"})
                took = time.perf_counter() - t0
            message = reply.json().get("message", "") if reply.status >= 400 else ""
            out.append(
                {
                    "attack": name,
                    "answer": f"{reply.status} {message[:70]}",
                    "ms": round(took * 1000, 1),
                    "loop stall ms (cpu/wall)": (round(lag[1] * 1000, 1), round(lag[0] * 1000, 1)),
                }
            )
    finally:
        s.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=300, help="normal-client requests per measure (300)")
    ap.add_argument("--connections", type=int, default=1000, help="idle or half-sent connections (1000)")
    ap.add_argument("--guesses", type=int, default=400, help="wrong passwords of the brute force (400)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    api_fixture.raise_open_files(args.connections + 1024)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-hostile-") as tmp:
        root = Path(tmp)
        certs = api_fixture.make_certs(root / "certs")
        server = api_fixture.start_server(
            root / "api", certs, args=["--header-timeout", "60"], open_files=args.connections + 1024
        )
        try:
            client = server.client("root")
            url = server.url + f"/sites/{SITE}/vlans/4"
            timed(client, url, 30)
            results["alone"] = {"p50/p95 ms": p50_p95(timed(client, url, args.samples))}
            results[f"{args.connections} idle connections"] = idle_attack(
                server, client, url, args.samples, args.connections
            )
            results["alone again"] = {"p50/p95 ms": p50_p95(timed(client, url, args.samples))}
            results[f"brute force of {args.guesses} guesses"] = brute_force(server, client, url, args.guesses)
        finally:
            server.stop()
        results["loop"] = loop_stalls(root)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, figures in results.items():
        if name == "loop":
            continue
        print(f"{name:34} " + "; ".join(f"{k}: {v}" for k, v in figures.items()))
    print()
    print(f"{'hostile request':36}{'answer':76}{'ms':>8}  loop stall ms (cpu/wall)")
    for row in results["loop"]:
        print(f"{row['attack']:36}{row['answer']:76}{row['ms']:>8}  {row['loop stall ms (cpu/wall)']}")


if __name__ == "__main__":
    main()
