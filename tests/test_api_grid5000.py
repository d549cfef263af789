"""A client nobody here wrote: python-grid5000 (PyPI) against kavlan-api, with a client certificate and with a
password: lists VLANs, reads a VLAN's nodes, moves nodes in and back, starts and stops DHCP, reads a user's
VLANs, reserves and ends a job; a user without rights gets the refusal."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

from typing import Any

import pytest
from api_fixture import PASSWORDS, SITE, ApiServer, api_certs, api_server  # noqa: F401

from kavlan_core.authz import PRIVILEGES

grid5000 = pytest.importorskip("grid5000")


def _connect(server: ApiServer, user: str, *, password: str | None = None) -> Any:
    if password is None:
        cert, key = server.cert(user)
        gk = grid5000.Grid5000(
            uri=server.url, sslcert=cert, sslkey=key, ssluser=user, verify_ssl=server.ca, timeout=30
        )
    else:
        gk = grid5000.Grid5000(
            uri=server.url, username=user, password=password, verify_ssl=server.ca, timeout=30
        )
    gk.session.trust_env = False  # the session's own CA, not REQUESTS_CA_BUNDLE; no proxy for loopback
    return gk


@pytest.mark.parametrize("auth", ["certificate", "password"])
def test_python_grid5000_drives_kavlan_api(api_server: ApiServer, auth: str) -> None:
    gk = _connect(api_server, "alice", password=PASSWORDS["alice"] if auth == "password" else None)
    site = gk.sites[SITE]
    assert site.uid == SITE

    # reserve as OAR's API takes it (python-grid5000 sends command; it is ignored)
    job = site.jobs.create(
        {"resources": "{\"type='kavlan'\"}/vlan=1+/nodes=2", "command": "sleep 3600", "types": ["deploy"]}
    )
    job.refresh()
    assert job.state == "running" and job.user == "alice"
    nodes = list(job.assigned_nodes)
    vlan_id = job.resources_by_type["vlans"][0]
    assert any(j.uid == job.uid for j in site.jobs.list(state="running", user="alice"))

    # list the site's VLANs, read one and its nodes
    vlans = site.vlans.list()
    assert {v.uid: v.type for v in vlans}["DEFAULT"] == "NULL"
    assert {v.type for v in vlans if v.uid in {"4", "5", "6", "7", "8", "9"}} == {"kavlan"}
    vlan = site.vlans[vlan_id]
    assert vlan.uid == vlan_id and vlan.type in ("kavlan", "kavlan-local", "kavlan-global")
    assert vlan.nodes.list() == []

    # move nodes into the VLAN and back
    answer = vlan.nodes.submit(nodes)
    assert answer == {n: {"status": "success", "message": "Successfully added to vlan"} for n in nodes}
    assert sorted(n.uid for n in vlan.nodes.list()) == sorted(nodes)
    assert vlan.nodes[nodes[0]].vlan == vlan_id  # /vlans/nodes/{fqdn}
    assert {n.uid: n.vlan for n in site.vlansnodes.submit(nodes)} == {n: vlan_id for n in nodes}
    back = site.vlans["DEFAULT"].nodes.submit(nodes)
    assert {v["status"] for v in back.values()} == {"success"}
    assert vlan.nodes.list() == []

    # start and stop the VLAN's DHCP server (python-grid5000 has no manager for it: its own request call)
    dhcpd = f"/sites/{SITE}/vlans/{vlan_id}/dhcpd"
    assert gk.http_request("put", dhcpd, post_data={"action": "start"}).status_code == 204
    assert gk.http_get(dhcpd)["state"] == "on"
    assert gk.http_request("put", dhcpd, post_data={"action": "stop"}).status_code == 204
    assert gk.http_get(dhcpd)["state"] == "off"

    # a user's VLANs, and a user's status on a VLAN
    assert site.vlansusers["alice"].vlans == [vlan_id]
    assert vlan.users["alice"].status == "authorized"
    assert vlan.users["bob"].status == "unauthorized"

    # end the job
    job.delete()
    job.refresh()
    assert job.state == "terminated"
    assert site.vlansusers["alice"].vlans == []


@pytest.mark.parametrize("auth", ["certificate", "password"])
def test_python_grid5000_user_without_rights_gets_the_refusal(api_server: ApiServer, auth: str) -> None:
    owner = _connect(api_server, "alice")
    job = owner.sites[SITE].jobs.create(
        {"resources": "{\"type='kavlan'\"}/vlan=1+/nodes=1", "command": "true"}
    )
    job.refresh()
    vlan_id, node = job.resources_by_type["vlans"][0], job.assigned_nodes[0]
    try:
        gk = _connect(api_server, "bob", password=PASSWORDS["bob"] if auth == "password" else None)
        site = gk.sites[SITE]
        with pytest.raises(grid5000.exceptions.Grid5000Error) as info:
            site.vlans[vlan_id].nodes.submit([node])
        assert info.value.response_code == 403
        assert PRIVILEGES in str(info.value) and "bob" in str(info.value)
        with pytest.raises(grid5000.exceptions.Grid5000Error) as info:
            gk.http_request("put", f"/sites/{SITE}/vlans/{vlan_id}/dhcpd", post_data={"action": "start"})
        assert info.value.response_code == 403 and PRIVILEGES in str(info.value)
        with pytest.raises(grid5000.exceptions.Grid5000Error) as info:
            site.jobs[job.uid].delete()
        assert info.value.response_code == 403
        assert site.vlans[vlan_id].nodes.list() == []
        assert owner.http_get(f"/sites/{SITE}/vlans/{vlan_id}/dhcpd")["state"] == "off"
    finally:
        job.delete()


def test_python_grid5000_with_a_wrong_password(api_server: ApiServer) -> None:
    gk = _connect(api_server, "alice", password="not-her-password")
    with pytest.raises(grid5000.exceptions.Grid5000Error) as info:
        gk.sites[SITE].vlans.list()
    assert info.value.response_code == 401


def test_python_grid5000_with_a_certificate_and_no_user_is_the_read_only_anonymous(
    api_server: ApiServer,
) -> None:
    """python-grid5000 names the user anonymous when none is given (ssluser): it reads, as with g5k-api, and
    is refused any change."""
    cert, key = api_server.cert("alice")
    gk = grid5000.Grid5000(uri=api_server.url, sslcert=cert, sslkey=key, verify_ssl=api_server.ca, timeout=30)
    gk.session.trust_env = False
    site = gk.sites[SITE]
    assert {v.uid for v in site.vlans.list()} >= {"DEFAULT", "4"}
    assert gk.http_get(f"/sites/{SITE}/kavlan/whoami")["uid"] == "anonymous"
    with pytest.raises(grid5000.exceptions.Grid5000Error) as info:
        site.jobs.create({"resources": "nodes=1", "command": "true"})
    assert info.value.response_code == 403 and "may only read" in str(info.value)


def test_python_grid5000_at_its_default_path_under_stable(api_server: ApiServer) -> None:
    """python-grid5000's default URL ends with /stable (g5k-api's version): the same API is there, and the
    links it is given stay under it."""
    cert, key = api_server.cert("alice")
    gk = grid5000.Grid5000(
        uri=api_server.url + "/stable",
        sslcert=cert,
        sslkey=key,
        ssluser="alice",
        verify_ssl=api_server.ca,
        timeout=30,
    )
    gk.session.trust_env = False
    site = gk.sites[SITE]
    vlan = site.vlans["4"]
    assert vlan.uid == "4"
    assert {link["rel"]: link["href"] for link in vlan.links}["parent"] == f"/stable/sites/{SITE}/vlans"
    job = site.jobs.create({"resources": "{\"type='kavlan'\"}/vlan=1+/nodes=1", "command": "true"})
    try:
        job.refresh()
        assert job.state == "running"
        moved = site.vlans[job.resources_by_type["vlans"][0]].nodes.submit([*job.assigned_nodes, "nosuch-1"])
        assert moved == {
            job.assigned_nodes[0]: {"status": "success", "message": "Successfully added to vlan"},
            "nosuch-1": {"status": "failure", "message": "Unknown node"},
        }
    finally:
        job.delete()
    job.refresh()
    assert job.state == "terminated"
