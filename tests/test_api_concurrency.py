"""Two ``kavlan-api`` servers on one PostgreSQL, many clients at once: every request answered, no double booking,
each node ends in a VLAN that was asked for it, and the store equals the switches."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_fixture import SITE, ApiServer, start_server
from api_fixture import api_certs as api_certs  # a fixture, for this module

DOMAIN = "sophia.grid5000.fr"
POOL = (
    [f"suno-{i}" for i in range(1, 9)]
    + [f"helios-{i}" for i in range(1, 9)]
    + [f"helios-{i}" for i in range(29, 37)]
)
"""24 nodes on three switches (sophia-sw1, sw3, sw4)."""
TARGETS = ["DEFAULT", "4", "5", "6", "7", "8", "9"]
CLIENTS = 50
SEED = 20261126


@pytest.fixture
def two_servers(api_certs: Path, pg_url: str, tmp_path: Path) -> Iterator[tuple[ApiServer, ApiServer]]:
    env = {"KAVLAN_DATABASE": pg_url}
    first = start_server(tmp_path / "api-1", api_certs, env=env)
    try:
        second = start_server(tmp_path / "api-2", api_certs, env=env)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def _ssl(server: ApiServer, user: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=server.ca)
    ctx.load_cert_chain(*server.cert(user))
    return ctx


async def _request(
    server: ApiServer, user: str, method: str, path: str, body: Any = None, *, poll_bound: float = 120.0
) -> tuple[int, Any]:
    """One client: its own connection; a 202 is followed to its end (bounded)."""
    timeout = aiohttp.ClientTimeout(total=poll_bound)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        ctx = _ssl(server, user)
        async with session.request(method, server.url + path, json=body, ssl=ctx) as r:
            status, data = r.status, await r.json(content_type=None)
            location = r.headers.get("Location")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + poll_bound
        while status == 202 and location and loop.time() < deadline:
            await asyncio.sleep(0.2)
            async with session.get(
                server.url + location if location.startswith("/") else location, ssl=ctx
            ) as r:
                status, data = r.status, await r.json(content_type=None)
        return status, data


def test_reservations_from_both_servers_never_double_book(two_servers: tuple[ApiServer, ApiServer]) -> None:
    servers = two_servers
    users = ["alice", "bob", "carol"]
    request = "{\"type='kavlan'\"}/vlan=1+/nodes=5"

    async def go() -> list[tuple[int, Any]]:
        return await asyncio.gather(
            *(
                _request(servers[i % 2], users[i % 3], "POST", f"/sites/{SITE}/jobs", {"resources": request})
                for i in range(20)
            )
        )

    answers = asyncio.run(go())
    statuses = [s for s, _ in answers]
    assert set(statuses) <= {201, 409}, answers
    granted = [body for s, body in answers if s == 201]
    assert len(granted) == 6, f"sophia has 6 routed VLANs, and 20 requests asked for one each: {statuses}"
    for s, body in answers:
        if s == 409:
            assert "VLAN" in body["message"], body
    vlans = [v for job in granted for v in job["resources_by_type"]["vlans"]]
    nodes = [n for job in granted for n in job["assigned_nodes"]]
    assert len(vlans) == len(set(vlans)) == 6
    assert len(nodes) == len(set(nodes)) == 30
    # both servers see the same six jobs
    for server in servers:
        status, listing = asyncio.run(_request(server, "root", "GET", f"/sites/{SITE}/jobs?state=running"))
        assert status == 200
        assert sorted(j["uid"] for j in listing["items"]) == sorted(j["uid"] for j in granted)


def test_fifty_clients_moving_overlapping_nodes_through_two_servers(
    two_servers: tuple[ApiServer, ApiServer],
) -> None:
    servers = two_servers
    rng = random.Random(SEED)
    asks = [(rng.sample(POOL, 6), rng.choice(TARGETS)) for _ in range(CLIENTS)]

    async def go() -> list[tuple[int, Any]]:
        return await asyncio.gather(
            *(
                _request(
                    servers[i % 2],
                    "root",
                    "POST",
                    f"/sites/{SITE}/vlans/{vlan}/nodes",
                    [f"{n}.{DOMAIN}" for n in nodes],
                )
                for i, (nodes, vlan) in enumerate(asks)
            )
        )

    answers = asyncio.run(go())
    assert len(answers) == CLIENTS
    asked: dict[str, set[str]] = {n: set() for n in POOL}
    for (status, body), (nodes, vlan) in zip(answers, asks, strict=True):
        assert status == 200, body
        assert set(body) == {f"{n}.{DOMAIN}" for n in nodes}, body
        for fqdn, result in body.items():
            assert result["status"] in ("success", "unchanged"), (fqdn, result)
            asked[fqdn.split(".")[0]].add(vlan)

    # the final VLAN of each node is one that some client asked for it, and both servers say the same
    finals = []
    for server in servers:
        status, listing = asyncio.run(
            _request(server, "root", "POST", f"/sites/{SITE}/vlans/nodes", [f"{n}.{DOMAIN}" for n in POOL])
        )
        assert status == 200, listing
        finals.append({item["uid"].split(".")[0]: str(item["vlan"]) for item in listing["items"]})
    assert finals[0] == finals[1]
    for node, vlan in finals[0].items():
        assert vlan in asked[node] or (not asked[node] and vlan == "DEFAULT"), (node, vlan, asked[node])

    # the store equals the switches: no drift anywhere on the site
    status, drift = asyncio.run(_request(servers[0], "root", "GET", f"/sites/{SITE}/kavlan/drift"))
    assert status == 200
    assert drift == {"drifts": [], "unreadable": []}, drift
