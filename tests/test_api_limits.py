"""The server's bounds that need no server: what a bound per client address counts (an IPv6 client is its
/64), and the password throttle's table, which an attacker cannot flush of a user's wait with new names."""

from __future__ import annotations

import pytest

from kavlan_core.api.server import passwords
from kavlan_core.api.server.limits import client_group
from kavlan_core.api.server.passwords import FREE_FAILURES, Throttle


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("-", "-"),
        ("/run/kavlan.sock", "/run/kavlan.sock"),
    ],
)
def test_an_ipv6_client_is_its_64(address: str, group: str) -> None:
    assert client_group(address) == group


def test_a_users_wait_survives_a_flood_of_new_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "KEYS_MAX", 50)
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES + 1):
        throttle.failed("user:alice")
    assert throttle.wait("user:alice") > 0
    for i in range(500):  # failures under new names from new addresses, each once: none of them waits
        now[0] += 0.001
        throttle.failed(f"user:guess-{i}")
        throttle.failed(f"client:198.51.100.{i % 250}")
    assert throttle.wait("user:alice") > 0, "alice's wait was flushed out of the table"
    assert len(throttle) <= 50
