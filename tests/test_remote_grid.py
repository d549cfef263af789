"""Grid reservations in remote mode, through two sites' ``kavlan-api`` servers (sophia's and lille's, on one
database as a testbed's sites share theirs): each part is reserved at its site's server, the grid's record at this
frontend's; a part a site cannot serve deletes what the other reserved; the tutorial's moves go to each node's own
site's server; and a job across sites reads the same from every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_fixture import (
    ApiServer,
    api_certs,  # noqa: F401  (the session's CA, asked for by name below)
)
from test_remote_sites import client_env, requests_to, sh, sites  # noqa: F401  (sites: the two servers)

pytestmark = pytest.mark.slow

LINE = "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+/nodes=2,lille:rdef=/nodes=2"


def test_a_grid_through_two_sites_servers(sites: dict[str, ApiServer], tmp_path: Path) -> None:  # noqa: F811
    sophia, lille = sites["sophia"], sites["lille"]
    env = client_env(sites, tmp_path / "client")

    rc, out, err = sh(["kavlan-oargridsub", "-t", "deploy", "-w", "2:00:00", LINE], env)
    assert rc == 0, err
    assert "[OAR_GRIDSUB] [sophia] Reservation success on sophia : batchId = 1000" in out
    assert "[OAR_GRIDSUB] [lille] Reservation success on lille : batchId = 1001" in out
    assert "[OAR_GRIDSUB] Grid reservation id = 1\n" in out
    assert [r["status"] for r in requests_to(sophia, "POST", "/sites/sophia/grids")] == [201]
    assert [r["status"] for r in requests_to(sophia, "POST", "/sites/sophia/jobs")] == [201]
    assert [r["status"] for r in requests_to(lille, "POST", "/sites/lille/jobs")] == [201], (
        "lille's part at lille"
    )
    assert [r["status"] for r in requests_to(sophia, "POST", "/sites/sophia/grids/1/jobs")] == [200]

    rc, out, err = sh(["kavlan-oargridstat", "-w", "-l", "1"], env)
    nodes = list(dict.fromkeys(line for line in out.splitlines() if "grid" in line))
    assert rc == 0 and len(nodes) == 4, out + err
    assert {n.split(".")[1] for n in nodes} == {"sophia", "lille"}
    stat = json.loads(sh(["kavlan-oarstat", "--json"], env)[1])
    assert {j["grid"] for j in stat.values()} == {1} and sorted(j["sites"][0] for j in stat.values()) == [
        "lille",
        "sophia",
    ]

    # every node into sophia's global VLAN: each by its own site's server, and back
    nodefile = tmp_path / "gridnodes"
    nodefile.write_text("".join(f"{n}\n" for n in nodes))
    assert sh(["kavlan", "-s", "-i", "18", "-f", str(nodefile)], env)[0] == 0
    assert requests_to(lille, "POST", "/sites/lille/vlans/18/nodes")
    assert sh(["kavlan", "-g", "-f", str(nodefile)], env)[1].splitlines() == [f"{n}: 18" for n in nodes]
    assert sh(["kavlan", "-s", "-i", "DEFAULT", "-f", str(nodefile)], env)[0] == 0

    rc, out, err = sh(["kavlan-oargriddel", "1"], env)
    assert rc == 0 and out.count("DONE") == 2, out + err
    assert [r["status"] for r in requests_to(lille, "DELETE", "/sites/lille/jobs/1001")] == [202]
    ended = json.loads(sh(["kavlan-oarstat", "-a", "--json"], env)[1])
    assert {j["state"] for j in ended.values()} == {"Terminated"}


def test_a_part_the_second_site_cannot_serve_leaves_nothing_on_the_first(
    sites: dict[str, ApiServer],  # noqa: F811
    tmp_path: Path,
) -> None:
    sophia, lille = sites["sophia"], sites["lille"]
    env = client_env(sites, tmp_path / "client")
    rc, out, err = sh(["kavlan-oargridsub", "sophia:rdef=/nodes=2,lille:rdef=/nodes=999"], env)
    assert (rc, out) == (1, ""), err
    assert err.startswith("kavlan-oargridsub: lille cannot serve its part, nothing was reserved: ")
    assert len(err.splitlines()) == 1
    assert [r["status"] for r in requests_to(sophia, "POST", "/sites/sophia/jobs")] == [201]
    assert [r["status"] for r in requests_to(lille, "POST", "/sites/lille/jobs")] == [409]
    assert [r["status"] for r in requests_to(sophia, "DELETE", "/sites/sophia/jobs/1000")] == [202]
    assert [r["status"] for r in requests_to(sophia, "DELETE", "/sites/sophia/grids/1")] == [204]
    jobs = json.loads(sh(["kavlan-oarstat", "-a", "--json"], env)[1])
    assert {j["state"] for j in jobs.values()} == {"Terminated"}, "nothing stays reserved"
    assert sh(["kavlan-oargridstat", "1"], env)[0] == 1, "the grid's number was dropped"


def test_a_job_across_sites_reads_the_same_everywhere(sites: dict[str, ApiServer], tmp_path: Path) -> None:  # noqa: F811
    env = client_env(sites, tmp_path / "client")
    request = "{\"type='kavlan-global'\"}/vlan=1+{\"site='lille'\"}/nodes=2+/nodes=2"
    assert sh(["kavlan-oarsub", "-l", request], env)[:2] == (0, "OAR_JOB_ID=1000\n")
    job = json.loads(sh(["kavlan-oarstat", "-j", "1000", "--json"], env)[1])["1000"]
    nodes = job["assigned_nodes"]
    assert len(nodes) == 4 and job["sites"] == ["sophia", "lille"]
    listed = sh(["kavlan", "-l", "-j", "1000"], env)[1].split()
    assert sorted(listed) == sorted(n.replace(".", "-kavlan-18.", 1) for n in nodes)
    rc, out, err = sh(["kavlan", "-s", "-j", "1000"], env)
    assert rc == 0, out + err
    assert sorted(sh(["kavlan", "-g", "-j", "1000"], env)[1].splitlines()) == sorted(
        f"{n}: 18" for n in nodes
    )
    assert sorted(sh(["kavlan", "-l", "-i", "18"], env)[1].split()) == sorted(listed)
