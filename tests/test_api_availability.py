"""kavlan-api stays available to a normal client while others, without any certificate, hold connections open:
a thousand idle or half-sent connections leave a normal client's p95 within twice what it is alone; connections
are bounded per address and in total (the longest idle one closed to make room), a request's headers and body
must arrive in time, and every refusal is in the access log."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import contextlib
import json
import resource
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from api_fixture import SITE, ApiServer, api_certs, raise_open_files, start_server  # noqa: F401

ATTACKERS = 1000
ADDRESSES = [f"127.0.0.{n}" for n in range(2, 22)]
"""Where the attackers come from: 50 connections each, under the per-address bound (a frontend's users share
one address); the normal client is 127.0.0.1."""
SAMPLES = 150


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed_gets(session: requests.Session, url: str, n: int = SAMPLES) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = session.get(url, timeout=30)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


@contextlib.contextmanager
def _open_files(n: int) -> Iterator[None]:
    before = raise_open_files(n)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (before, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def _idle(port: int, source: str) -> socket.socket:
    """A connection that says nothing: the server waits for its TLS handshake."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def _half_request(port: int, source: str, ctx: ssl.SSLContext) -> socket.socket:
    """A connection that completes TLS, then sends half a request's headers."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(f"GET /sites/{SITE}/vlans HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
    return tls


def _closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closed ``sock`` within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True


def _refusals(server: ApiServer) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in server.access_log.read_text().splitlines()]
    return [x for x in lines if x.get("event") == "refused"]


@pytest.fixture(scope="module")
def crowded(api_certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server that may hold the attackers (open files 4,096), whose header timeout outlasts the measure."""
    s = start_server(
        tmp_path_factory.mktemp("api-crowded"), api_certs, args=["--header-timeout", "60"], open_files=4096
    )
    try:
        yield s
    finally:
        s.stop()


def _attack_round(server: ApiServer, client: requests.Session) -> dict[str, Any]:
    """The normal client alone, then beside a thousand idle or half-sent connections: its latencies."""
    port = int(server.url.rsplit(":", 1)[1])
    url = server.url + f"/sites/{SITE}/vlans/4"
    alone = _timed_gets(client, url)
    ctx = ssl.create_default_context(cafile=server.ca)
    held: list[socket.socket] = []
    try:
        for i in range(ATTACKERS):
            source = ADDRESSES[i % len(ADDRESSES)]
            held.append(_idle(port, source) if i % 2 else _half_request(port, source, ctx))
        server.until_holding(ATTACKERS)
        attacked = _timed_gets(client, url)
        still = sum(not _closed(s, 0.001) for s in held[:: len(held) // 50])
    finally:
        for s in held:
            s.close()
    return {
        "alone": (round(_p(alone, 0.5) * 1000, 2), round(_p(alone, 0.95) * 1000, 2)),
        "attacked": (round(_p(attacked, 0.5) * 1000, 2), round(_p(attacked, 0.95) * 1000, 2)),
        "still open": still,
    }


def test_a_thousand_idle_connections_leave_a_normal_client_its_speed(crowded: ApiServer) -> None:
    """p50 and p95 (ms) of a normal client's requests, alone then beside the attackers; a machine busy with
    other work makes one round noisy, so the best of three rounds is judged (each is printed)."""
    client = crowded.client("alice")
    _timed_gets(client, crowded.url + f"/sites/{SITE}/vlans/4", 20)  # warm: the connection, the caches
    rounds = []
    with _open_files(4096):
        for _ in range(3):
            r = _attack_round(crowded, client)
            rounds.append(r)
            print(r)
            assert r["still open"] == 50, f"the server dropped attackers it had room for: {r}"
            if r["attacked"][1] <= 2 * r["alone"][1] and r["attacked"][0] <= 2 * r["alone"][0]:
                break
    assert any(r["attacked"][1] <= 2 * r["alone"][1] for r in rounds), rounds
    assert "Traceback" not in crowded.stderr.read_text()


@pytest.fixture
def tight(api_certs: Path, tmp_path: Path) -> Iterator[ApiServer]:
    s = start_server(
        tmp_path / "api-tight",
        api_certs,
        args=[
            "--max-connections",
            "40",
            "--max-connections-per-client",
            "10",
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
        ],
    )
    try:
        yield s
    finally:
        s.stop()


def test_bounds_per_address_and_in_total_refuse_and_log(tight: ApiServer) -> None:
    port = int(tight.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=tight.ca)
    one = [_half_request(port, "127.0.0.3", ctx) for _ in range(10)]
    over = [_idle(port, "127.0.0.3") for _ in range(3)]
    try:
        assert all(_closed(s, 2) for s in over)  # the 11th and later from one address: closed at once
        others = [_idle(port, f"127.0.0.{4 + i % 4}") for i in range(35)]  # 45 in all: the oldest idle go
        client = tight.client("alice")
        assert client.get(tight.url + f"/sites/{SITE}/kavlan/whoami", timeout=30).status_code == 200
        assert sum(_closed(s, 0.2) for s in one) >= 5
    finally:
        for s in [*one, *over, *others]:
            s.close()
    reasons = {(r["client"], r["reason"]) for r in _refusals(tight)}
    assert ("127.0.0.3", "too many connections from this address") in reasons
    assert any(why == "closed while idle to make room (the server is full)" for _, why in reasons)
    err = tight.stderr.read_text()
    assert "Traceback" not in err and "Exception" not in err, err


def test_headers_and_bodies_must_arrive_in_time(tight: ApiServer) -> None:
    port = int(tight.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=tight.ca)
    silent = _idle(port, "127.0.0.8")
    half = _half_request(port, "127.0.0.9", ctx)
    t0 = time.monotonic()
    assert _closed(silent, 10) and _closed(half, 10)
    assert time.monotonic() - t0 < 5
    # a body that never comes: 408 in one sentence
    ctx.load_cert_chain(*tight.cert("alice"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(
            f"POST /sites/{SITE}/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b" 408 " in head.split(b"\r\n")[0], answer
    assert json.loads(body)["message"] == "the request body did not arrive within 1 s"
    wanted = {
        ("127.0.0.8", "TLS: no handshake within the header timeout"),
        ("127.0.0.9", "closed: no complete request"),  # logged once its TLS close is done (or timed out)
    }
    deadline = time.monotonic() + 10
    while (
        not wanted <= {(r["client"], r["reason"]) for r in _refusals(tight)} and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert wanted <= {(r["client"], r["reason"]) for r in _refusals(tight)}
    err = tight.stderr.read_text()
    assert "Traceback" not in err and "Exception" not in err, err
