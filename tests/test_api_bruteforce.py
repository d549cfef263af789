"""HTTP Basic cannot be ground down: failed passwords are limited per client address and per user (429 with
Retry-After, doubling), a locked user keeps certificate access, and during a brute force of hundreds of guesses
a user with the right password keeps a p95 under 100 ms while certificate users keep their speed."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from api_fixture import PASSWORDS, SITE, ApiServer, api_certs, start_server  # noqa: F401

WHOAMI = f"/sites/{SITE}/kavlan/whoami"
GUESSES = 400
GUESSERS = [f"127.0.0.{n}" for n in range(61, 69)]


@pytest.fixture(scope="module")
def server(api_certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    users = {**PASSWORDS, "carol": "carol-password-3", "dave": "dave-password-4"}
    s = start_server(tmp_path_factory.mktemp("api-brute"), api_certs, users=users)
    try:
        yield s
    finally:
        s.stop()


def _get(session: requests.Session, server: ApiServer) -> requests.Response:
    return session.get(server.url + WHOAMI, timeout=30)


def test_failures_are_limited_per_address_exponentially(server: ApiServer) -> None:
    guesser = server.client("carol", password="not-it", source="127.0.0.41")
    statuses = [_get(guesser, server).status_code for _ in range(6)]
    assert statuses == [401] * 6  # five free failures, the sixth verified and wrong: now a wait
    waits = []
    for _ in range(3):
        r = _get(guesser, server)
        assert r.status_code == 429 and "retry in" in r.json()["message"], r.text
        waits.append(int(r.headers["Retry-After"]))
        time.sleep(waits[-1] + 0.1)
        assert _get(guesser, server).status_code == 401  # allowed again, wrong again: a longer wait
    assert waits == [1, 2, 4]
    # another address is not held back by this one (the user carol was guessed 9 times: she waits too)
    assert (
        _get(server.client("dave", password="dave-password-4", source="127.0.0.42"), server).status_code
        == 200
    )


def test_a_user_guessed_from_many_addresses_keeps_certificate_access(server: ApiServer) -> None:
    for n in range(6):  # one wrong guess from each of six addresses: bob's name is now locked
        assert (
            _get(server.client("bob", password="guess", source=f"127.0.0.{51 + n}"), server).status_code
            == 401
        )
    right = _get(server.client("bob", password=PASSWORDS["bob"], source="127.0.0.57"), server)
    assert right.status_code == 429 and right.headers["Retry-After"]
    assert _get(server.client("bob"), server).json()["uid"] == "bob"  # his certificate is not limited


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _latencies(
    session: requests.Session, server: ApiServer, n: int = 0, stop: threading.Event | None = None
) -> list[float]:
    """``n`` requests, or as many as fit until ``stop`` (at least 20)."""
    out: list[float] = []
    while len(out) < n or (stop is not None and (not stop.is_set() or len(out) < 20)):
        t0 = time.perf_counter()
        r = _get(session, server)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


def _brute_force(server: ApiServer, stop: threading.Event) -> dict[str, int]:
    """Hundreds of wrong guesses, from eight addresses, sixteen at once, for alice and for names that exist or
    not: what the server answered."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    local = threading.local()
    seats = itertools.count()

    def guess(i: int) -> None:
        """One guess, on its thread's keep-alive connection (from one of eight addresses)."""
        if not hasattr(local, "session"):
            local.session = server.client(source=GUESSERS[next(seats) % len(GUESSERS)])
        user = ["alice", "root", f"nobody{i}", "dave"][i % 4]
        r = local.session.get(server.url + WHOAMI, auth=(user, f"guess-{i}"), timeout=30)
        with lock:
            counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(guess, range(GUESSES)))
    stop.set()
    return counts


def test_the_right_password_keeps_its_speed_during_a_brute_force(server: ApiServer) -> None:
    alice = server.client("alice", password=PASSWORDS["alice"])
    root = server.client("root")  # a certificate user
    _latencies(alice, server, 10)
    password_alone, cert_alone = _latencies(alice, server, 60), _latencies(root, server, 60)
    stop = threading.Event()
    during: dict[str, list[float]] = {}
    victims = [
        threading.Thread(target=lambda: during.__setitem__("password", _latencies(alice, server, 0, stop))),
        threading.Thread(target=lambda: during.__setitem__("certificate", _latencies(root, server, 0, stop))),
    ]
    for v in victims:
        v.start()
    counts = _brute_force(server, stop)
    for v in victims:
        v.join(60)
    figures = {
        "guesses": counts,
        "password p95 ms alone / during": (_ms(password_alone), _ms(during["password"])),
        "certificate p95 ms alone / during": (_ms(cert_alone), _ms(during["certificate"])),
    }
    print(figures)
    assert sum(counts.values()) == GUESSES and counts.get("200", 0) == 0
    assert counts.get("429", 0) > GUESSES // 2, figures  # most guesses never reached a key derivation
    assert _p95(during["password"]) < 0.100, figures
    assert _p95(during["certificate"]) < 0.100, figures


def _ms(values: list[float]) -> float:
    return round(_p95(values) * 1000, 1)
