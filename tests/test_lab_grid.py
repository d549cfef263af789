"""A lab of two sites (root): each its own switches, router, frontend and kavlan, joined by a trunk that carries only
the global VLANs; a node of each site moved into sophia's global VLAN with the safeguard, from its own site's
frontend, answers the other by its in-VLAN name, reaches nothing of the other site, and comes back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_lab import (
    eventually,
    kavlan_lab,
    leftovers,
    needs_lab,
    subreaper,
    tool,
    unique_prefix,
    what_it_runs,
)

from kavlan_core import inventory
from kavlan_core.lab import system
from kavlan_core.lab.builder import Lab, lab_inventory_text
from kavlan_core.lab.state import LabState, Proc
from kavlan_core.lab.topology import LabError, build
from kavlan_core.model import DEFAULT, GLOBAL_IDS, LOCAL_IDS, ROUTED_IDS
from kavlan_tui import lab as lab_cli

SITES = ["sophia", "lille"]
GLOBAL = 18  # sophia's global VLAN (core/data/lab.toml)


# --- without root: the shape of a lab of sites ----------------------------------------------------------------


def test_two_sites_have_their_own_namespaces_and_a_trunk_of_global_vlans_only() -> None:
    topo = build(inventory.parse(lab_inventory_text(None, SITES)[0]), "kt12345-")
    assert list(topo.parts) == SITES
    sophia, lille = topo.parts["sophia"], topo.parts["lille"]
    assert (sophia.core, sophia.router, sophia.frontend) == (
        "kt12345-core",
        "kt12345-router",
        "kt12345-frontend",
    )
    assert (lille.core, lille.router, lille.frontend) == (
        "kt12345-lille-core",
        "kt12345-lille-router",
        "kt12345-lille-frontend",
    )
    assert len(set(topo.namespaces)) == len(topo.namespaces)
    trunk = [link for link in topo.links if {link.a_ns, link.b_ns} == {sophia.core, lille.core}]
    carried = {next(v for v, t in sophia.tags.items() if f"vlan{t}" == link.a_master) for link in trunk}
    assert carried == {11, 18} and carried <= set(GLOBAL_IDS), (
        "the trunk carries the global VLANs, nothing else"
    )
    # each site serves DHCP in DEFAULT, its routed and local VLANs and its own global VLAN, not another's
    assert set(sophia.dhcp) == {DEFAULT, *LOCAL_IDS, *ROUTED_IDS, 18}
    assert set(lille.dhcp) == {DEFAULT, *LOCAL_IDS, *ROUTED_IDS, 11}
    # another site's node in sophia's global VLAN is routed back to its own site's router
    assert {src for src, _, _ in sophia.router_rules} == {"10.76.0.31", "10.76.0.32"}
    assert [h.name for h in topo.gateways][3:] == ["kavlan-1.lille", "kavlan-2.lille", "kavlan-3.lille"]
    hosts = topo.hosts_file("lille")
    assert "10.68.0.2\tfrontend frontend.lille.grid5000.fr\n" in hosts
    assert "10.64.0.2\tfrontend.sophia.grid5000.fr\n" in hosts, (
        "another site's frontend by its full name only"
    )
    assert "10.76.0.11\tsuno-1-kavlan-18.sophia.grid5000.fr suno-1-kavlan-18\n" in hosts
    assert "10.78.0.12\tapi api.lille.grid5000.fr\n" in hosts, "each site's kavlan-api, in remote mode"


def test_the_lab_builds_the_first_site_alone_unless_told_and_refuses_what_it_cannot_build() -> None:
    assert list(build(inventory.parse(lab_inventory_text(None)[0])).parts) == ["sophia"]
    with pytest.raises(LabError, match=r"has no site 'paris' \(its sites: sophia, lille, lyon\)"):
        lab_inventory_text(None, ["sophia", "paris"])
    with pytest.raises(LabError, match="a site is named twice"):
        lab_inventory_text(None, ["lille", "lille"])
    text = lab_inventory_text(None, SITES)[0].replace("host = 31", "host = 11")
    with pytest.raises(LabError, match="chetemi-1 have the same host number 11: in a global VLAN"):
        build(inventory.parse(text))


def test_kavlan_lab_exec_takes_a_host_or_a_site_not_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    LabState(tmp_path / "lab.json", prefix="kx-", phase="up", sites=SITES).save()
    assert (
        lab_cli.main(
            ["exec", "--state-dir", str(tmp_path), "--site", "lille", "--host", "suno-1", "--", "true"]
        )
        == 1
    )
    assert capsys.readouterr().err == (
        "kavlan-lab: give --host or --site, not both: a host's console is in its own site\n"
    )


# --- with root: a real lab of two sites ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["embedded", "remote"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A two-site lab for the module, embedded (each frontend's kavlan on the store) or remote (each frontend's
    kavlan against its own site's kavlan-api); its down must leave nothing."""
    with subreaper():
        base = tmp_path_factory.mktemp("grid")
        the_lab = Lab(base / "state", prefix=unique_prefix(), sites=SITES, api=request.param == "remote")
        procs: list[Proc] = []
        try:
            the_lab.up()
            yield the_lab
        finally:
            if the_lab.state is not None:
                procs = what_it_runs(the_lab.state)
            report = the_lab.down()
            assert not report.leftovers
            assert leftovers(the_lab.prefix, the_lab.dir, procs) == []


def at(lab: Lab, site: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command on the frontend of ``site``."""
    return kavlan_lab("exec", "--state-dir", str(lab.dir), "--site", site, "--", *cmd, timeout=timeout)


def kavlan(lab: Lab, site: str, *args: str) -> str:
    proc = at(lab, site, tool("kavlan"), *args)
    assert proc.returncode == 0, f"kavlan {' '.join(args)} on {site}: {proc.stderr}"
    return proc.stdout


def reserve(lab: Lab, site: str, request: str) -> tuple[int, list[str]]:
    proc = at(lab, site, tool("kavlan-oarsub"), "-l", request, "--json")
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    return job["uid"], [n.split(".")[0] for n in job["assigned_nodes"]]


def pings(lab: Lab, site: str, name: str, via: str | None = None) -> bool:
    """``name`` answers one ping from the frontend of ``site``, or from ``via`` reached over ssh from there."""
    cmd = ["ping", "-c1", "-W1", name]
    proc = at(lab, site, "ssh", via, " ".join(cmd)) if via else at(lab, site, *cmd)
    return proc.returncode == 0


@needs_lab
def test_each_site_has_its_own_frontend_and_default_vlan(lab: Lab) -> None:
    assert pings(lab, "lille", "chetemi-1") and pings(lab, "sophia", "suno-1")
    assert not pings(lab, "sophia", "chetemi-1"), "lille's DEFAULT VLAN is not sophia's"
    assert kavlan(lab, "lille", "-g", "-m", "chetemi-2").split() == [
        "chetemi-2.lille.grid5000.fr:",
        "DEFAULT",
    ]
    data = json.loads(kavlan_lab("status", "--state-dir", str(lab.dir), "--json").stdout)
    assert [s["name"] for s in data["sites"]] == SITES and all(p["alive"] for p in data["processes"])
    assert {n["name"]: (n["site"], n["vlan"]) for n in data["nodes"]}["chetemi-1"] == ("lille", "DEFAULT")
    # the cores are joined by the global VLANs' bridges only
    home = lab.topology.parts["sophia"]
    trunk = {
        link["ifname"]: link.get("master", "")
        for link in system.ip_json(home.core, "link", "show")
        if link["ifname"].startswith("x2-")
    }
    assert sorted(trunk.values()) == sorted(f"vlan{home.tags[v]}" for v in (11, 18))


@needs_lab
def test_nodes_of_two_sites_meet_in_a_global_vlan_and_nowhere_else(lab: Lab) -> None:
    # the global VLAN and a node on sophia, a node on lille: each site's frontend moves its own node
    vjob, (here,) = reserve(lab, "sophia", "{\"type='kavlan-global'\"}/vlan=1,{\"cluster='suno'\"}/nodes=1")
    assert int(kavlan(lab, "sophia", "-V", "-j", str(vjob))) == GLOBAL
    njob, (there,) = reserve(lab, "lille", "{\"cluster='chetemi'\"}/nodes=1")
    kavlan(lab, "sophia", "-e", "-j", str(vjob))  # the global VLAN's DHCP server, on its owner's router
    kavlan(lab, "sophia", "-s", "-j", str(vjob), "--restart-via-at", "3")
    kavlan(lab, "lille", "-s", "-j", str(njob), "-i", str(GLOBAL), "--restart-via-at", "3")
    near, far = f"{here}-kavlan-{GLOBAL}", f"{there}-kavlan-{GLOBAL}"
    for site, name in (("sophia", here), ("lille", there)):
        assert kavlan(lab, site, "-g", "-m", name).split()[1] == str(GLOBAL)
    # the safeguard checked each over ssh in the VLAN; now they answer each other by their in-VLAN names
    eventually(f"{far} answers {near}", lambda: pings(lab, "sophia", far, via=near))
    eventually(f"{near} answers {far}", lambda: pings(lab, "lille", near, via=far))
    # from inside, the other site's DEFAULT VLAN (its frontend, a node) is out of reach
    assert not pings(lab, "sophia", "frontend.lille.grid5000.fr", via=near)
    assert not pings(lab, "sophia", "chetemi-2.lille.grid5000.fr", via=near)
    assert not pings(lab, "lille", "frontend.sophia.grid5000.fr", via=far)
    assert not pings(lab, "lille", "suno-2.sophia.grid5000.fr", via=far)
    # both back to DEFAULT, with the safeguard; they answer on their plain names at home again
    kavlan(lab, "lille", "-s", "-i", "DEFAULT", "-j", str(njob), "--restart-via-at", "3")
    kavlan(lab, "sophia", "-s", "-i", "DEFAULT", "-j", str(vjob), "--restart-via-at", "3")
    assert pings(lab, "sophia", here) and pings(lab, "lille", there)
    assert not pings(lab, "sophia", far), f"{there} left the global VLAN"
    if lab.api:
        # each node was moved by its own site's server; the VLAN's DHCP by its owner's
        audit = {
            site: (lab.dir / "api" / site / "kavlan-api.log").read_text() for site in SITES
        }  # access log
        assert f'"path": "/sites/lille/vlans/{GLOBAL}/nodes"' in audit["lille"]
        assert "/sites/lille/vlans/" not in audit["sophia"], "sophia's server moved no lille node"
        assert f'"path": "/sites/sophia/vlans/{GLOBAL}/nodes"' in audit["sophia"]
        assert f'"path": "/sites/sophia/vlans/{GLOBAL}/dhcpd"' in audit["sophia"]
        assert not pings(lab, "sophia", "api.lille.grid5000.fr", via=near), (
            "the API network is the frontends'"
        )
        assert pings(lab, "lille", "api.sophia.grid5000.fr")
