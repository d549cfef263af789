"""kavlan-api end to end: every endpoint's shapes and statuses on a real server, long moves, the event stream,
logs, several sites, plain HTTP, the certificate and password helpers; the OpenAPI document against the router."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from api_fixture import SECRET, SITE, ApiServer, add_user, api_certs, api_server, kavlan_api, start_server  # noqa: F401
from cryptography import x509
from openapi_spec_validator import validate

from kavlan_core import inventory as inventory_mod
from kavlan_core.api import auth, openapi, wire
from kavlan_core.api.server.app import init_app
from kavlan_core.api.server.options import Options
from kavlan_core.api.server.state import STATE
from kavlan_core.authz import PRIVILEGES

ROUTED = "{\"type='kavlan'\"}/vlan=1+/nodes=2"


@pytest.fixture(autouse=True)
def _end_jobs(request: pytest.FixtureRequest) -> Any:
    """Each test's jobs end after it (as the administrator): VLANs are few."""
    yield
    for name in ("api_server", "slow_server"):
        if name in request.fixturenames:
            s: ApiServer = request.getfixturevalue(name)
            for job in s.get("root", f"/sites/{SITE}/jobs").json()["items"]:
                s.delete("root", f"/sites/{SITE}/jobs/{job['uid']}")


def _job(api_server: ApiServer, user: str = "alice", resources: str = ROUTED) -> tuple[int, str, list[str]]:
    job = api_server.reserve(user, resources)
    return job["uid"], job["resources_by_type"]["vlans"][0], job["assigned_nodes"]


def _error(r: Any, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["code"] == status and body["title"] and body["exception"]
    for w in words:
        assert w in body["message"], body
    return dict(body)


# --- the document and the router ----------------------------------------------------------------------------


def test_openapi_is_valid_and_lists_exactly_the_routes(make_service: Any) -> None:
    app = init_app(make_service(), Options(access_log="", sites=("sophia",)))
    doc = app[STATE].document
    validate(doc)
    routes = {
        (r.method.lower(), r.resource.canonical)  # type: ignore[union-attr]
        for r in app.router.routes()
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    # every GET answers HEAD too, and every route is served under /stable as well (g5k-api's version)
    expected = documented | {("head", p) for m, p in documented if m == "get"}
    assert routes == expected | {(m, "/stable" + p) for m, p in expected}
    # every operation but the document itself names its errors
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path != "/openapi.json":
                assert {"400", "401", "403", "404"} <= set(op["responses"]), (method, path)
    assert openapi.document(["sophia"], ["DEFAULT", "4"], insecure=True)["security"] == [{"basic": []}]


def test_openapi_is_served_without_credentials(api_server: ApiServer) -> None:
    r = api_server.client().get(api_server.url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    assert doc["components"]["parameters"]["site"]["schema"]["enum"] == [SITE]


# --- sites and VLANs -------------------------------------------------------------------------------------------


def test_sites(api_server: ApiServer) -> None:
    r = api_server.get("alice", "/sites")
    assert r.status_code == 200
    assert [s["uid"] for s in r.json()["items"]] == [SITE]
    site = api_server.get("alice", f"/sites/{SITE}").json()
    assert {link["rel"] for link in site["links"]} >= {"vlans", "jobs", "self", "parent"}
    _error(api_server.get("alice", "/sites/lille/vlans"), 404, "lille is not served by this server", "sophia")
    _error(api_server.get("alice", "/sites/atlantis/vlans"), 404, "unknown site 'atlantis'")
    _error(api_server.get("alice", "/no/such/path"), 404, "no such resource")


def test_vlans_as_the_original_lists_them(api_server: ApiServer) -> None:
    r = api_server.get("alice", f"/sites/{SITE}/vlans")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"total", "offset", "items", "links"} and body["offset"] == 0
    types = {v["uid"]: v["type"] for v in body["items"]}
    assert body["total"] == len(body["items"]) == 13
    assert types["DEFAULT"] == "NULL"
    assert {types[str(i)] for i in (1, 2, 3)} == {"kavlan-local"}
    assert {types[str(i)] for i in range(4, 10)} == {"kavlan"}
    assert types["18"] == "kavlan-global"  # sophia's own
    assert {t for uid, t in types.items() if uid not in ("DEFAULT", "18") and int(uid) >= 10} == {
        "kavlan-global-remote"
    }
    four = next(v for v in body["items"] if v["uid"] == "4")
    assert [link["rel"] for link in four["links"]] == ["dhcpd", "nodes", "users", "self", "parent"]
    assert four["links"][3]["href"] == f"/sites/{SITE}/vlans/4"
    assert {"kind", "site", "owner", "subnet", "tag", "job", "user", "dhcpd", "members"} <= set(four)
    assert four["kind"] == "kavlan" and four["site"] == SITE and four["dhcpd"] in ("on", "off")
    one = api_server.get("alice", f"/sites/{SITE}/vlans/4").json()
    assert one["uid"] == "4" and one["type"] == "kavlan"
    assert api_server.get("alice", f"/sites/{SITE}/vlans/DEFAULT").json()["type"] == "NULL"
    for bad in ("0", "22", "abc", "04", "default"):
        _error(api_server.get("alice", f"/sites/{SITE}/vlans/{bad}"), 404, "no VLAN")


def test_nodes_and_their_vlans(api_server: ApiServer) -> None:
    items = api_server.get("bob", f"/sites/{SITE}/vlans/nodes").json()["items"]
    uids = {i["uid"] for i in items}
    assert "suno-1.sophia.grid5000.fr" in uids and "uvb-1-eth1.sophia.grid5000.fr" in uids
    assert all(i["uid"].endswith(".sophia.grid5000.fr") for i in items)
    one = api_server.get("bob", f"/sites/{SITE}/vlans/nodes/suno-3.sophia.grid5000.fr")
    assert one.status_code == 200
    assert {k: one.json()[k] for k in ("uid", "vlan")} == {
        "uid": "suno-3.sophia.grid5000.fr",
        "vlan": "DEFAULT",
    }
    assert [link["rel"] for link in one.json()["links"]] == ["self", "parent"]
    _error(
        api_server.get("bob", f"/sites/{SITE}/vlans/nodes/nosuch-1.sophia.grid5000.fr"), 404, "unknown node"
    )
    _error(
        api_server.get("bob", f"/sites/{SITE}/vlans/nodes/chetemi-1.lille.grid5000.fr"),
        404,
        "a node of lille",
    )
    r = api_server.post(
        "bob", f"/sites/{SITE}/vlans/nodes", ["suno-1.sophia.grid5000.fr", "suno-2", "nosuch-1", "chetemi-1"]
    )
    assert r.status_code == 200
    assert [i["uid"] for i in r.json()["items"]] == ["suno-1.sophia.grid5000.fr", "suno-2.sophia.grid5000.fr"]
    # g5k-api's 422 "Missing node list" for a body that names no node
    _error(api_server.post("bob", f"/sites/{SITE}/vlans/nodes", {"nodes": []}), 422, "Missing node list")
    _error(api_server.post("bob", f"/sites/{SITE}/vlans/nodes", []), 422, "Missing node list")
    r = api_server.client("bob").post(
        api_server.url + f"/sites/{SITE}/vlans/nodes", data="suno-1", timeout=30
    )
    _error(r, 415, "must be JSON")
    r = api_server.client("bob").post(
        api_server.url + f"/sites/{SITE}/vlans/nodes",
        data="[",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    _error(r, 400, "not valid JSON")


# --- moves ----------------------------------------------------------------------------------------------------------


def test_move_into_a_vlan_and_back(api_server: ApiServer) -> None:
    job, vlan, nodes = _job(api_server)
    path = f"/sites/{SITE}/vlans/{vlan}/nodes"
    plan = api_server.post("alice", path + "?dry_run=true", nodes)
    assert plan.status_code == 200
    assert sorted(m["name"] for sp in plan.json()["switches"] for m in sp["moves"]) == sorted(nodes)
    assert set(api_server.vlan_of(nodes).values()) == {"DEFAULT"}  # a dry run changes nothing

    r = api_server.post("alice", path, nodes)
    assert r.status_code == 200, r.text
    assert r.json() == {n: {"status": "success", "message": "Successfully added to vlan"} for n in nodes}
    assert api_server.vlan_of(nodes) == {n: vlan for n in nodes}

    members = api_server.get("bob", path).json()
    assert members["total"] == 2
    m = members["items"][0]
    assert m["uid"] in nodes and m["vlan"] == vlan and m["job"] == job
    assert m["name"] == m["uid"].replace(".sophia", f"-kavlan-{vlan}.sophia")
    assert {"node", "nic", "site", "cluster", "switch", "port", "address"} <= set(m)

    again = api_server.post("alice", path, nodes).json()
    assert again == {n: {"status": "unchanged", "message": "Node already in vlan"} for n in nodes}
    full = api_server.post("alice", f"/sites/{SITE}/vlans/DEFAULT/nodes?report=full", nodes)
    assert full.status_code == 200
    report = full.json()
    assert report["vlan"] == 0 and {r["status"] for r in report["results"]} == {"success"}
    assert report["switches"] and report["switches"][0]["ok"] is True
    assert set(api_server.vlan_of(nodes).values()) == {"DEFAULT"}
    _error(api_server.post("alice", path + "?dry_run=maybe", nodes), 400, "dry_run")
    _error(api_server.post("alice", path + "?report=all", nodes), 400, "report")
    _error(api_server.post("alice", path, []), 422, "Missing node list")
    # g5k-api: an unknown node is a failure of its own, the others move; this project's report refuses it
    r = api_server.post("alice", path, ["nosuch-9", nodes[0]])
    assert r.status_code == 200 and r.json() == {
        "nosuch-9": {"status": "failure", "message": "Unknown node"},
        nodes[0]: {"status": "success", "message": "Successfully added to vlan"},
    }
    _error(api_server.post("alice", path + "?report=full", ["nosuch-9"]), 400, "nosuch-9")
    _error(api_server.post("alice", path + "?dry_run=true", ["nosuch-9"]), 400, "nosuch-9")
    back = api_server.post("alice", f"/sites/{SITE}/vlans/DEFAULT/nodes", nodes).json()
    assert {v["status"] for v in back.values()} == {"success", "unchanged"}


def test_a_refused_move_says_so_and_changes_nothing(api_server: ApiServer) -> None:
    _job_id, vlan, nodes = _job(api_server)
    r = api_server.post("bob", f"/sites/{SITE}/vlans/{vlan}/nodes", nodes)
    body = _error(r, 403, PRIVILEGES, "is not in a running job of bob")
    assert body["exception"] == "NotAllowed"
    assert {x["node"] for x in body["refusals"]} == set(nodes)
    assert isinstance(wire.error_from(403, body), type(wire.error_from(403, {"exception": "NotAllowed"})))
    assert set(api_server.vlan_of(nodes).values()) == {"DEFAULT"}
    # bob's own node into alice's VLAN: the VLAN is refused
    _bob_job, _bob_vlan, bob_nodes = _job(api_server, "bob")
    body = _error(api_server.post("bob", f"/sites/{SITE}/vlans/{vlan}/nodes", bob_nodes[:1]), 403, PRIVILEGES)
    assert "is not held by a running job of bob" in body["message"]


def test_a_node_of_another_site_is_moved_by_its_own_server(api_server: ApiServer) -> None:
    _job_id, vlan, _nodes = _job(api_server)
    body = _error(
        api_server.post("alice", f"/sites/{SITE}/vlans/{vlan}/nodes", ["chetemi-1.lille.grid5000.fr"]),
        400,
        "is a node of lille",
        "own site's server",
    )
    assert body["exception"] == "BadInput"


# --- DHCP -----------------------------------------------------------------------------------------------------------


def test_dhcpd_statuses(api_server: ApiServer) -> None:
    _job_id, vlan, _nodes = _job(api_server)
    path = f"/sites/{SITE}/vlans/{vlan}/dhcpd"
    r = api_server.put("alice", path, {"action": "start"})
    assert r.status_code == 204 and r.content == b""
    assert api_server.get("bob", path).json() == {"state": "on"}
    _error(api_server.put("bob", path, {"action": "stop"}), 403, PRIVILEGES)
    assert api_server.get("bob", path).json() == {"state": "on"}
    assert api_server.put("alice", path, {"action": "stop"}).status_code == 204
    assert api_server.get("bob", path).json() == {"state": "off"}
    c = api_server.client("alice")
    _error(
        c.put(
            api_server.url + path,
            data='{"action": "start"}',
            headers={"Content-Type": "text/plain"},
            timeout=30,
        ),
        415,
    )
    _error(api_server.put("alice", path, {"action": "restart"}), 422, "start")
    _error(api_server.put("alice", path, ["start"]), 422)
    _error(api_server.put("alice", f"/sites/{SITE}/vlans/77/dhcpd", {"action": "start"}), 404)
    _error(api_server.put("alice", f"/sites/{SITE}/vlans/DEFAULT/dhcpd", {"action": "start"}), 403, "DEFAULT")
    for method in ("post", "delete", "patch"):
        r = getattr(c, method)(api_server.url + path, json={"action": "start"}, timeout=30)
        _error(r, 405)
        assert set(r.headers["Allow"].split(",")) == {"GET", "HEAD", "PUT"}
    assert api_server.get("alice", path + "/leases").json() == []
    assert api_server.get("bob", path).json() == {"state": "off"}


# --- users --------------------------------------------------------------------------------------------------------


def test_users_and_their_vlans(api_server: ApiServer) -> None:
    _job_id, vlan, _nodes = _job(api_server, "carol")
    r = api_server.get("bob", f"/sites/{SITE}/vlans/users/carol")
    assert r.status_code == 200 and r.json()["uid"] == "carol" and r.json()["vlans"] == [vlan]
    assert api_server.get("bob", f"/sites/{SITE}/vlans/users/nobody").json()["vlans"] == []
    carol = api_server.get("bob", f"/sites/{SITE}/vlans/{vlan}/users/carol").json()
    assert (carol["uid"], carol["status"]) == ("carol", "authorized")
    assert api_server.get("bob", f"/sites/{SITE}/vlans/{vlan}/users/bob").json()["status"] == "unauthorized"
    assert api_server.get("bob", f"/sites/{SITE}/vlans/{vlan}/users/root").json()["status"] == "authorized"
    listed = api_server.get("bob", f"/sites/{SITE}/vlans/{vlan}/users").json()
    assert [u["uid"] for u in listed["items"]] == ["carol"]
    everyone = api_server.get("bob", f"/sites/{SITE}/vlans/users").json()
    assert vlan in next(u for u in everyone["items"] if u["uid"] == "carol")["vlans"]
    _error(api_server.get("bob", f"/sites/{SITE}/vlans/users/not a user"), 404)


# --- jobs -----------------------------------------------------------------------------------------------------------


def test_jobs(api_server: ApiServer) -> None:
    r = api_server.post(
        "carol",
        f"/sites/{SITE}/jobs",
        {"resources": ROUTED, "types": ["deploy"], "name": "t", "walltime": 600},
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers["Location"] == f"/sites/{SITE}/jobs/{job['uid']}"
    assert (
        job["state"] == "running" and job["user"] == "carol" and job["walltime"] == 600 and job["name"] == "t"
    )
    assert len(job["assigned_nodes"]) == 2 and all(
        n.endswith(".sophia.grid5000.fr") for n in job["assigned_nodes"]
    )
    assert job["resources_by_type"]["vlans"] and job["job"]["id"] == job["uid"] and job["stopped_at"] is None
    mine = api_server.get("bob", f"/sites/{SITE}/jobs", params={"user": "carol"}).json()["items"]
    assert job["uid"] in [j["uid"] for j in mine] and {j["user"] for j in mine} == {"carol"}
    assert api_server.get("bob", f"/sites/{SITE}/jobs/{job['uid']}").json()["uid"] == job["uid"]
    _error(api_server.delete("bob", f"/sites/{SITE}/jobs/{job['uid']}"), 403, "belongs to carol")
    # as g5k-api: 202, no body, the job's Location
    r = api_server.delete("carol", f"/sites/{SITE}/jobs/{job['uid']}")
    assert (
        r.status_code == 202
        and r.content == b""
        and r.headers["Location"] == f"/sites/{SITE}/jobs/{job['uid']}"
    )
    ended = api_server.get("carol", r.headers["Location"]).json()
    assert ended["state"] == "terminated" and ended["stopped_at"] is not None
    _error(api_server.delete("carol", f"/sites/{SITE}/jobs/{job['uid']}"), 404, "already ended")
    running = api_server.get("bob", f"/sites/{SITE}/jobs", params={"user": "carol"}).json()["items"]
    assert job["uid"] not in [j["uid"] for j in running]
    ended = api_server.get("bob", f"/sites/{SITE}/jobs", params={"user": "carol", "state": "all"}).json()[
        "items"
    ]
    assert job["uid"] in [j["uid"] for j in ended]
    oar = api_server.get("bob", f"/sites/{SITE}/jobs", params={"state": "waiting,launching,running"})
    assert oar.status_code == 200
    _error(api_server.get("bob", f"/sites/{SITE}/jobs", params={"state": "sleeping"}), 400, "sleeping")
    _error(api_server.get("bob", f"/sites/{SITE}/jobs/123456789"), 404, "does not exist")
    _error(api_server.get("bob", f"/sites/{SITE}/jobs/x1"), 404)
    _error(api_server.post("carol", f"/sites/{SITE}/jobs", {"resources": "/nodes=100000"}), 409)
    _error(
        api_server.post("carol", f"/sites/{SITE}/jobs", {"resources": "/nodes=1", "queue": "x"}), 400, "queue"
    )
    _error(api_server.post("carol", f"/sites/{SITE}/jobs", {"resources": "{type=}"}), 400)
    _error(api_server.post("carol", f"/sites/{SITE}/jobs", {"types": ["deploy"]}), 400, "resources")
    _error(
        api_server.post("carol", f"/sites/{SITE}/jobs", {"resources": "/nodes=1", "types": "deploy"}),
        400,
        "types",
    )
    _error(
        api_server.post("carol", f"/sites/{SITE}/jobs", {"resources": "/nodes=1", "walltime": 0}),
        400,
        "walltime",
    )
    c = api_server.client("carol")
    _error(c.post(api_server.url + f"/sites/{SITE}/jobs", data="resources=/nodes=1", timeout=30), 415)


# --- extensions -----------------------------------------------------------------------------------------------------


def test_whoami_inventory_drift_repair(api_server: ApiServer) -> None:
    assert api_server.get("alice", f"/sites/{SITE}/kavlan/whoami").json() == {
        "uid": "alice",
        "admin": False,
        "via": None,
        "method": "certificate",
    }
    assert api_server.get("root", f"/sites/{SITE}/kavlan/whoami").json()["admin"] is True
    r = api_server.get("alice", f"/sites/{SITE}/kavlan/inventory")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    doc = tomllib.loads(r.text)
    switches = [sw for s in doc["site"] for sw in s.get("switch", [])]
    assert switches and not any("credentials" in sw or "options" in sw for sw in switches)
    assert SECRET not in r.text and "demo-switches" not in r.text
    parsed = inventory_mod.parse(r.text)
    assert len(parsed.nodes) == len(inventory_mod.load("demo").nodes)
    assert api_server.get("alice", f"/sites/{SITE}/kavlan/drift").json() == {"drifts": [], "unreadable": []}
    _error(api_server.post("alice", f"/sites/{SITE}/kavlan/repair", None), 403, PRIVILEGES)
    repaired = api_server.post("root", f"/sites/{SITE}/kavlan/repair", None)
    assert repaired.status_code == 200 and repaired.json()["results"] == []
    _error(api_server.get("alice", f"/sites/{SITE}/kavlan/moves/0123abcd"), 404, "no move")


# --- logs -----------------------------------------------------------------------------------------------------------


def test_access_and_audit_logs_never_carry_credentials(api_server: ApiServer) -> None:
    _job_id, vlan, nodes = _job(api_server)
    assert api_server.post("alice", f"/sites/{SITE}/vlans/{vlan}/nodes", nodes).status_code == 200
    api_server.client("alice", password=PASSWORD_ALICE).get(
        api_server.url + f"/sites/{SITE}/vlans", timeout=30
    )
    access = [json.loads(line) for line in api_server.access_log.read_text().splitlines()]
    assert access and all(
        {"time", "user", "method", "path", "status", "duration_ms"} <= set(a) for a in access
    )
    assert any(
        a["method"] == "POST" and a["path"] == f"/sites/{SITE}/vlans/{vlan}/nodes" and a["user"] == "alice"
        for a in access
    )
    audit = [json.loads(line) for line in api_server.audit_log.read_text().splitlines()]
    move = next(
        a for a in audit if a["what"] == "vlan.set" and a["nodes"] == nodes and a["result"]["status"] == 200
    )
    assert (
        move["who"] == "alice"
        and move["before"] == {n: "DEFAULT" for n in nodes}
        and move["after"] == {n: vlan for n in nodes}
    )
    assert move["result"]["success"] == 2
    assert any(a["what"] == "job.submit" for a in audit)
    for path in (api_server.access_log, api_server.audit_log, api_server.stdout, api_server.stderr):
        text = path.read_text()
        assert SECRET not in text, path
        assert PASSWORD_ALICE not in text, path


PASSWORD_ALICE = "alice-password-1"


# --- long moves and the event stream -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_server(api_certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Moves always outlive --move-wait 0; heartbeats every 0.3 s."""
    s = start_server(
        tmp_path_factory.mktemp("api-slow"), api_certs, args=["--move-wait", "0", "--heartbeat", "0.3"]
    )
    try:
        yield s
    finally:
        s.stop()


def test_a_long_move_answers_202_then_its_result(slow_server: ApiServer) -> None:
    _job_id, vlan, nodes = _job(slow_server)
    r = slow_server.post("alice", f"/sites/{SITE}/vlans/{vlan}/nodes", nodes)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    assert location.startswith(f"/sites/{SITE}/kavlan/moves/") and r.json() == {
        "id": location.rsplit("/", 1)[1],
        "status": "running",
    }
    _error(slow_server.get("bob", location), 404, "no move")  # only its user (or an administrator) reads it
    deadline = time.monotonic() + 20
    while True:
        r = slow_server.get("alice", location)
        if r.status_code != 202 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200
    assert r.json() == {n: {"status": "success", "message": "Successfully added to vlan"} for n in nodes}
    assert slow_server.get("root", location).status_code == 200
    # a refusal is the answer as well
    r = slow_server.post("bob", f"/sites/{SITE}/vlans/{vlan}/nodes", nodes)
    if r.status_code == 202:
        for _ in range(400):
            r = slow_server.get("bob", r.headers["Location"])
            if r.status_code != 202:
                break
            time.sleep(0.05)
    _error(r, 403, PRIVILEGES)


def test_the_event_stream(slow_server: ApiServer) -> None:
    _job_id, vlan, nodes = _job(slow_server)
    with slow_server.client("bob").get(
        slow_server.url + f"/sites/{SITE}/kavlan/events", stream=True, timeout=10
    ) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("application/x-ndjson")
        lines = stream.iter_lines()
        assert json.loads(next(lines))["type"] == "Heartbeat"
        slow_server.post("alice", f"/sites/{SITE}/vlans/{vlan}/nodes", nodes)
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e["type"] == "MoveFinished" for e in seen):
            seen.append(json.loads(next(lines)))
        assert json.loads(next(lines))["type"] == "Heartbeat"  # quiet now: a heartbeat within 0.3 s
    kinds = [e["type"] for e in seen]
    moved = [wire.decode_event(e) for e in seen if e["type"] == "NodeMoved"]
    assert sorted(m.node for m in moved) == sorted(nodes)  # type: ignore[union-attr]
    assert "MoveStarted" in kinds and "SwitchFinished" in kinds


# --- several sites ----------------------------------------------------------------------------------------------------


def test_two_sites_one_server_and_the_tutorials_global_vlan(api_certs: Path, tmp_path: Path) -> None:
    s = start_server(tmp_path / "two", api_certs, args=["--site", "sophia", "--site", "lille"])
    try:
        assert [i["uid"] for i in s.get("alice", "/sites").json()["items"]] == ["sophia", "lille"]
        _error(s.get("alice", "/sites/lyon/vlans"), 404, "not served")
        glob = s.reserve("alice", "{\"type='kavlan-global'\"}/vlan=1", site="sophia")
        assert glob["resources_by_type"]["vlans"] == ["18"]
        lille_node = s.reserve("alice", "/nodes=1", site="lille")["assigned_nodes"][0]
        assert ".lille." in lille_node
        _error(s.post("alice", "/sites/sophia/vlans/18/nodes", [lille_node]), 400, "is a node of lille")
        r = s.post("alice", "/sites/lille/vlans/18/nodes", [lille_node])
        assert r.status_code == 200 and r.json()[lille_node]["status"] == "success"
        members = s.get("alice", "/sites/sophia/vlans/18/nodes").json()["items"]
        assert [m["uid"] for m in members] == [lille_node]
        lille18 = s.get("alice", "/sites/lille/vlans/18").json()
        assert lille18["type"] == "kavlan-global-remote" and lille18["owner"] == "sophia"
        assert s.get("alice", "/sites/lille/vlans/users/alice").json()["vlans"] == ["18"]
    finally:
        s.stop()


# --- plain HTTP, options ------------------------------------------------------------------------------------------------


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*kavlan_api(), "serve", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_plain_http_only_on_loopback_and_only_when_asked(api_certs: Path, tmp_path: Path) -> None:
    users = tmp_path / "users"
    auth.set_password(users, "alice", "pw-alice-9")
    for args, words in (
        (["--insecure-http", "--listen", "0.0.0.0:0", "--users-file", str(users)], "loopback address only"),
        (["--insecure-http", "--listen", "127.0.0.1:0"], "needs --users-file"),
        (["--listen", "127.0.0.1:0", "--users-file", str(users)], "HTTPS needs --tls-cert"),
        (
            [
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                str(api_certs / "server.pem"),
                "--tls-key",
                str(api_certs / "server.key"),
            ],
            "nobody could authenticate",
        ),
        (["--listen", "localhost"], "HOST:PORT"),
    ):
        r = _serve(*args)
        assert r.returncode == 1, r.stderr
        assert words in r.stderr and r.stderr.startswith("kavlan-api: ") and r.stderr.count("\n") == 1, (
            r.stderr
        )
    s = start_server(tmp_path / "plain", api_certs, tls=False, users={"alice": "pw-alice-9"})
    try:
        assert s.url.startswith("http://127.0.0.1:")
        plain = s.client()
        r = plain.get(s.url + f"/sites/{SITE}/vlans", timeout=30)
        _error(r, 401, "authentication required")
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        ok = s.client("alice", password="pw-alice-9").get(s.url + f"/sites/{SITE}/kavlan/whoami", timeout=30)
        assert ok.status_code == 200 and ok.json()["method"] == "password"
        assert s.client().get(s.url + "/openapi.json", timeout=30).json()["security"] == [{"basic": []}]
    finally:
        s.stop()


# --- the helpers: kavlan-api ca, kavlan-api passwd ----------------------------------------------------------------------


def test_kavlan_api_ca_makes_what_mtls_needs(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    r = subprocess.run(
        [
            *kavlan_api(),
            "ca",
            str(d),
            "--server-name",
            "kavlan.example.org",
            "--user",
            "dave",
            "--service",
            "oar",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "kavlan-api serve" in r.stdout and "--trusted-service oar" in r.stdout
    for name in ("ca", "server", "dave", "oar"):
        assert stat.S_IMODE(os.stat(d / f"{name}.key").st_mode) == 0o600
        assert (d / f"{name}.pem").exists()
    srv = x509.load_pem_x509_certificate((d / "server.pem").read_bytes())
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kavlan.example.org" in san.get_values_for_type(x509.DNSName)
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    dave = x509.load_pem_x509_certificate((d / "dave.pem").read_bytes())
    assert dave.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "dave"
    ca_before = (d / "ca.pem").read_bytes()
    r = subprocess.run(
        [*kavlan_api(), "ca", str(d), "--server-name", "kavlan.example.org", "--user", "erin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        r.returncode == 0 and (d / "ca.pem").read_bytes() == ca_before
    )  # the CA is kept: old certificates stay valid
    erin = x509.load_pem_x509_certificate((d / "erin.pem").read_bytes())
    assert erin.issuer == dave.issuer
    r = subprocess.run(
        [*kavlan_api(), "ca", str(d), "--server-name", "x", "--user", "server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "cannot be a certificate's CN" in r.stderr


def test_kavlan_api_passwd_and_the_hashes(tmp_path: Path) -> None:
    users = tmp_path / "users"
    r = add_user(users, "dave", "correct horse")
    assert "added" in r.stdout
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    add_user(users, "erin", "battery staple", scheme="pbkdf2_sha256")
    lines = dict(line.split(":", 1) for line in users.read_text().splitlines())
    assert lines["dave"].startswith("scrypt$") and lines["erin"].startswith("pbkdf2_sha256$")
    assert "correct horse" not in users.read_text()
    book = auth.UsersFile(users)
    assert book.check("dave", "correct horse") and book.check("erin", "battery staple")
    assert not book.check("dave", "battery staple") and not book.check("nobody", "x")
    r = add_user(users, "dave", "new secret")
    assert "changed" in r.stdout and users.read_text().count("dave:") == 1
    assert book.check("dave", "new secret") and not book.check("dave", "correct horse")
    assert not auth.verify_password("x", "garbage") and not auth.verify_password("x", "scrypt$1$2$3$!!$!!")
    bad = subprocess.run(
        [*kavlan_api(), "passwd", str(users), "bad:name"],
        input="x\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "not a user name" in bad.stderr
