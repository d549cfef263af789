"""Remote mode with two sites, each with its own ``kavlan-api serve --site X`` on one shared database: a node is
always moved by its own site's server, a VLAN's DHCP by its owner's, and a move of several sites is one report."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fixture import (
    ApiServer,
    api_certs,  # noqa: F401  (the session's CA, asked for by name below)
    start_server,
)

pytestmark = pytest.mark.slow

GLOBAL = "{\"type='kavlan-global'\"}/vlan=1"


@pytest.fixture
def sites(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, ApiServer]]:
    """sophia's and lille's servers; one data dir, so one SQLite database and the same switch locks."""
    certs = Path(request.getfixturevalue("api_certs"))
    shared = {"KAVLAN_DATA_DIR": str(tmp_path / "shared-data")}
    servers: dict[str, ApiServer] = {}
    try:
        for site in ("sophia", "lille"):
            servers[site] = start_server(tmp_path / site, certs, args=["--site", site], env=shared)
        yield servers
    finally:
        for srv in servers.values():
            srv.stop()


def client_env(servers: dict[str, ApiServer], home: Path) -> dict[str, str]:
    """alice on sophia's frontend; the config maps each site to its server."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "config.toml"
    cfg.write_text(
        'site = "sophia"\n[api_sites]\n' + "".join(f'{s} = "{srv.url}"\n' for s, srv in servers.items())
    )
    cert, key = servers["sophia"].cert("alice")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(
        KAVLAN_DATA_DIR=str(home / "data"),
        KAVLAN_CONFIG=str(cfg),
        KAVLAN_USER="alice",
        KAVLAN_CA_CERT=servers["sophia"].ca,
        KAVLAN_CLIENT_CERT=cert,
        KAVLAN_CLIENT_KEY=key,
    )
    return env


def sh(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def requests_to(srv: ApiServer, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in lines(srv.access_log) if r["method"] == method and r["path"].endswith(suffix)]


def test_each_node_is_moved_by_its_own_sites_server(sites: dict[str, ApiServer], tmp_path: Path) -> None:
    sophia, lille = sites["sophia"], sites["lille"]
    env = client_env(sites, tmp_path / "client")

    # sophia's global VLAN, a sophia node, two lille nodes (reserved on lille's server)
    assert sh(["kavlan-oarsub", "-l", GLOBAL], env)[:2] == (0, "OAR_JOB_ID=1000\n")
    assert sh(["kavlan", "-V", "-j", "1000"], env)[:2] == (0, "18\n")
    assert sh(["kavlan-oarsub", "--site", "lille", "-l", "{\"cluster='chetemi'\"}/nodes=2"], env)[:2] == (
        0,
        "OAR_JOB_ID=1001\n",
    )
    assert [r["status"] for r in requests_to(lille, "POST", "/sites/lille/jobs")] == [201]
    assert sh(["kavlan-oarsub", "-l", "{\"cluster='suno'\"}/nodes=1"], env)[:2] == (0, "OAR_JOB_ID=1002\n")
    jobs = json.loads(sh(["kavlan-oarstat", "--json"], env)[1])  # each server lists the jobs of its site
    assert sorted(jobs) == ["1000", "1001", "1002"]
    chetemi = jobs["1001"]["assigned_nodes"]
    (suno,) = jobs["1002"]["assigned_nodes"]
    assert all(n.endswith(".lille.grid5000.fr") for n in chetemi) and len(chetemi) == 2

    # a lille node into sophia's global VLAN: lille's server does it
    short = chetemi[0].split(".")[0]
    assert sh(["kavlan", "-s", "-i", "18", "-m", chetemi[0]], env) == (
        0,
        "",
        f"kavlan: lille moved its node(s) {short} on its switch(es) lille-sw1 (this frontend is sophia's)\n",
    )
    assert [r["status"] for r in requests_to(lille, "POST", "/sites/lille/vlans/18/nodes")] == [200]
    assert requests_to(sophia, "POST", "/vlans/18/nodes") == []
    (moved,) = [a for a in lines(lille.audit_log) if a["what"] == "vlan.set"]
    assert (moved["who"], moved["site"], moved["nodes"], moved["after"]) == (
        "alice",
        "lille",
        [chetemi[0]],
        {chetemi[0]: "18"},
    )
    assert not [a for a in lines(sophia.audit_log) if a["what"] == "vlan.set"]
    assert sh(["kavlan", "-g", "-m", chetemi[0]], env)[1] == f"{chetemi[0]}: 18\n"

    # a move of both sites: each part to its server, one answer
    assert sh(["kavlan", "-s", "-i", "18", "-m", chetemi[1], "-m", suno, "-v"], env)[1].splitlines()[:2] == [
        f"{chetemi[1]}: success",
        f"{suno}: success",
    ]
    assert len(requests_to(sophia, "POST", "/sites/sophia/vlans/18/nodes")) == 2  # the dry run, then the move
    listed = sh(["kavlan", "-l", "-i", "18"], env)[1].split()
    assert sorted(listed) == sorted(n.replace(".", "-kavlan-18.", 1) for n in [*chetemi, suno])

    # refused on one site: nothing changes on the other
    before = len(requests_to(lille, "POST", "/sites/lille/vlans/DEFAULT/nodes"))
    rc, out, err = sh(["kavlan", "-s", "-i", "DEFAULT", "-m", chetemi[0], "-m", "helios-1"], env)
    assert (rc, out) == (1, "") and err.startswith(
        "kavlan: Not enough privileges on Kavlan resources: helios-1"
    )
    assert sh(["kavlan", "-g", "-m", chetemi[0]], env)[1] == f"{chetemi[0]}: 18\n"
    assert [r.get("query") for r in requests_to(lille, "POST", "/sites/lille/vlans/DEFAULT/nodes")][
        before:
    ] in ([], ["dry_run=true"])

    # the DHCP of VLAN 18 is sophia's
    assert sh(["kavlan", "-e", "-j", "1000"], env)[0] == 0
    assert [r["status"] for r in requests_to(sophia, "PUT", "/sites/sophia/vlans/18/dhcpd")] == [204]
    assert requests_to(lille, "PUT", "/dhcpd") == []

    # the same data, read embedded on the shared database
    embedded = {
        **env,
        "KAVLAN_CONFIG": str(tmp_path / "none.toml"),
        "KAVLAN_DATA_DIR": sophia.env["KAVLAN_DATA_DIR"],
        "KAVLAN_INVENTORY": sophia.env["KAVLAN_INVENTORY"],
    }
    assert sh(["kavlan", "-g", "-m", chetemi[0], "-m", chetemi[1], "-m", suno], embedded) == sh(
        ["kavlan", "-g", "-m", chetemi[0], "-m", chetemi[1], "-m", suno], env
    )

    # lille's job is deleted by lille's server; its nodes go back to DEFAULT
    assert sh(["kavlan-oardel", "1001"], env)[0] == 0
    assert [r["status"] for r in requests_to(lille, "DELETE", "/sites/lille/jobs/1001")] == [202]
    assert sh(["kavlan", "-g", "-m", chetemi[0], "-m", chetemi[1]], env)[1] == "".join(
        f"{n}: DEFAULT\n" for n in chetemi
    )
    assert sh(["kavlan-shell", "-c", "whoami"], env)[1].splitlines()[-1] == (
        f"API servers: {sophia.url} (sophia), {lille.url} (lille)"
    )
