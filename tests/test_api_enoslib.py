"""What EnOSlib asks of kavlan-api, on a real server: its job requests (a name to find them again, a queue, full
node names, no reservation date), the reference documents it reads (the site's VLANs with their networks and
gateways, clusters, a node's network adapters, the DNS server), and the deployment it makes into a VLAN."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import time
from typing import Any

import pytest
from api_fixture import PASSWORDS, SITE, ApiServer, api_certs, api_server  # noqa: F401

ROUTED = "{\"type='kavlan'\"}/vlan=1+/nodes=2"


@pytest.fixture(autouse=True)
def _end_jobs(api_server: ApiServer) -> Any:
    """Each test's jobs end after it (as the administrator): VLANs are few."""
    yield
    for job in api_server.get("root", f"/sites/{SITE}/jobs").json()["items"]:
        api_server.delete("root", f"/sites/{SITE}/jobs/{job['uid']}")


def _error(r: Any, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["message"], r.json()


def _enoslib_job(name: str, resources: str, **extra: Any) -> dict[str, Any]:
    """The body EnOSlib's ``_do_grid_make_reservation`` posts."""
    body = {"name": name, "types": ["deploy"], "resources": resources, "command": "sleep 31536000"}
    return {**body, "queue": "default", **extra}


def test_jobs_as_enoslib_makes_finds_and_ends_them(api_server: ApiServer) -> None:
    jobs = f"/sites/{SITE}/jobs"
    # EnOSlib's request: servers by full name first, a VLAN, the walltime inside the resources, queue default
    wanted = "suno-3.sophia.grid5000.fr"
    resources = f"{{network_address in ('{wanted}')}}/nodes=1+{{type='kavlan'}}/vlan=1,walltime=01:00:00"
    r = api_server.post("alice", jobs, _enoslib_job("exp-a", resources))
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["assigned_nodes"] == [wanted] and a["walltime"] == 3600 and a["resources_by_type"]["vlans"]
    other = api_server.post("alice", jobs, _enoslib_job("exp-b", "{cluster='suno'}/nodes=1", queue=None))
    assert other.status_code == 201, other.text

    # found again by name (EnOSlib reloads, or deletes, the job of its name: never another one)
    query = {"name": "exp-a", "state": "waiting,launching,running", "user": "alice"}
    found = api_server.get("alice", jobs, params=query).json()
    assert [j["uid"] for j in found["items"]] == [a["uid"]] and found["total"] == 1
    assert api_server.get("alice", jobs, params={**query, "name": "nothing"}).json()["items"] == []
    _error(api_server.get("alice", jobs, params={"name": "x" * 200}), 400, "name")

    # a start time is refused in OAR's words; so is a field of the wrong type
    later = api_server.post("alice", jobs, _enoslib_job("later", ROUTED, reservation="2031-01-01 10:00:00"))
    _error(later, 400, "Reservation not valid --> KO", "without a reservation date")
    _error(api_server.post("alice", jobs, _enoslib_job("q", ROUTED, queue=3)), 400, "queue")

    # a job deleted twice: oardel's words, which EnOSlib recognises and goes past
    assert api_server.delete("alice", f"{jobs}/{a['uid']}").status_code == 202
    _error(api_server.delete("alice", f"{jobs}/{a['uid']}"), 404, "This job was already killed")


def _grid5000(server: ApiServer, user: str = "alice") -> Any:
    grid5000 = pytest.importorskip("grid5000")
    gk = grid5000.Grid5000(
        uri=server.url, username=user, password=PASSWORDS[user], verify_ssl=server.ca, timeout=30
    )
    gk.session.trust_env = False  # the session's own CA, not REQUESTS_CA_BUNDLE; no proxy for loopback
    return gk


def test_reference_documents_read_as_enoslib_reads_them(api_server: ApiServer) -> None:
    gk = _grid5000(api_server)
    site = gk.sites[SITE]  # EnOSlib's get_vlans, get_ipv6: the site's reference
    # the demo's sophia: DEFAULT, local, routed and its own global VLAN 18; each gateway host .1 of its subnet
    assert set(site.kavlans) == {"default", *map(str, range(1, 10)), "18"}
    assert site.kavlans["default"] == {"network": "10.64.0.0/18", "gateway": "10.64.0.1"}
    assert site.kavlans["4"] == {"network": "10.64.64.0/18", "gateway": "10.64.64.1"}
    assert site.ipv6["site_index"] == 1
    # get_cluster_site: every site's clusters; is_exotic_cluster; get_node's network adapters
    assert "suno" in [c.uid for c in site.clusters.list()]
    assert site.clusters["suno"].exotic is False
    node = site.clusters["suno"].nodes["suno-1"]
    (nic,) = [n for n in node.network_adapters if n["mounted"]]
    assert (
        nic["device"] == "eth0"
        and nic["interface"] == "Ethernet"
        and nic["mountable"]
        and not nic["management"]
    )
    assert nic["switch"] and nic["switch_port"] and nic["mac"].count(":") == 5
    assert "suno-1" in [n.uid for n in site.clusters["suno"].nodes.list()]
    # get_dns
    assert site.servers["dns"].network_adapters["default"]["ip"] == site.kavlans["default"]["gateway"]
    # what is not there: one sentence, 404
    for path in ("clusters/nosuch", "clusters/suno/nodes/uvb-1", "servers/ntp"):
        _error(api_server.get("alice", f"/sites/{SITE}/{path}"), 404, "no ")


def test_deployment_into_a_vlan_through_python_grid5000(api_server: ApiServer) -> None:
    """EnOSlib's ``deploy``: create, refresh until terminated, read each node's state."""
    gk = _grid5000(api_server)
    site = gk.sites[SITE]
    job = site.jobs.create({"resources": "{type='kavlan'}/vlan=1+{cluster='suno'}/nodes=2", "name": "deploy"})
    vlan = job.resources_by_type["vlans"][0]
    nodes = list(job.assigned_nodes)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk5 alice@frontend"
    deployment = site.deployments.create(
        {"environment": "debian12-min", "nodes": nodes, "key": key, "vlan": vlan}
    )
    assert deployment.status in ("waiting", "processing", "terminated") and deployment.uid.startswith("D-")
    for _ in range(200):  # bounded: the demo's simulated nodes are not dialled
        if deployment.status in ("terminated", "error"):
            break
        time.sleep(0.05)
        deployment.refresh()
    assert deployment.status == "terminated", deployment.__dict__
    assert {n: v["state"] for n, v in deployment.result.items()} == dict.fromkeys(nodes, "OK")
    assert "no operating system to install" in deployment.installed
    assert {n.uid for n in site.vlans[vlan].nodes.list()} == set(nodes)
    assert api_server.get("alice", f"/sites/{SITE}/vlans/{vlan}/dhcpd").json()["state"] == "on"
    assert deployment.uid in [d.uid for d in site.deployments.list()]

    # refused before the 201, in one sentence: another user's nodes, no VLAN, an unknown node, a bad body
    deployments = f"/sites/{SITE}/deployments"
    body = {"environment": "debian12-min", "nodes": nodes, "vlan": vlan}
    _error(api_server.post("bob", deployments, body), 403, "Not enough privileges")
    _error(api_server.post("alice", deployments, {**body, "vlan": None}), 400, "deploys into a VLAN")
    _error(api_server.post("alice", deployments, {**body, "nodes": ["nosuch-1"]}), 400, "unknown node")
    _error(api_server.post("alice", deployments, {**body, "colour": 1}), 400, "unknown deployment field")
    _error(api_server.post("alice", deployments, {**body, "key": "https://x/k.pub"}), 400, "key URL")
    _error(api_server.get("alice", f"{deployments}/D-nosuch"), 404, "no deployment")
