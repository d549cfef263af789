"""Deploying into a VLAN (core/deploy.py) on simulated switches: rights as for a move, the VLAN's DHCP switched on,
every node OK in the VLAN, the plain sentence that there is no system to install, bad input refused before anything
changes; the site's deployment tool ([site.deploy] command and node_command) run and believed."""

from __future__ import annotations

import sys

import pytest

from conftest import run
from kavlan_core import inventory
from kavlan_core.deploy import check_request, key_command
from kavlan_core.errors import BadInput, NotAllowed
from kavlan_core.model import DEFAULT

ROUTED = "{\"type='kavlan'\"}/vlan=1"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk5 alice@frontend"


def in_first_site(text: str, tables: str) -> str:
    """``tables`` (a ``[site.X]`` table) added to the description's first site: before the second ``[[site]]``."""
    at = text.find("\n[[site]]", text.find("[[site]]") + 1)
    return text + tables if at < 0 else text[:at] + "\n" + tables + text[at:]


def test_deploy_into_a_vlan_on_the_demo(make_service) -> None:
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{{\"cluster='suno'\"}}/nodes=3"))
    vlan = job.vlans[0].vlan
    assert run(svc.dhcp_state(vlan)) == "off"
    nodefile = [f"{n}.sophia.grid5000.fr" for n in job.nodes for _core in range(2)]  # a node once per core
    report = run(svc.deploy(nodefile, vlan, environment="debian12-min", key=KEY))
    assert report.ok and [report.state(n) for n in report.staged.nodes] == ["OK"] * 3
    assert [n.name for n in report.staged.nodes] == [f"{n}.sophia.grid5000.fr" for n in job.nodes]
    assert set(dict(run(svc.vlan_of(job.nodes))).values()) == {vlan}
    assert run(svc.dhcp_state(vlan)) == "on" and "started" in report.dhcp
    assert "no operating system to install" in report.installed and "debian12-min" in report.installed
    assert "simulated" in report.key
    # a second deployment: the nodes are there already, deployed in place, OK
    again = run(svc.deploy(list(job.nodes), vlan, environment="debian12-min"))
    assert again.ok and "was on" in again.dhcp


def test_deploy_is_refused_as_a_move_would_be(make_service) -> None:
    alice, bob = make_service(), make_service(user="bob")
    job = run(alice.submit(f"{ROUTED},nodes=2"))
    vlan = job.vlans[0].vlan
    with pytest.raises(NotAllowed):
        run(bob.deploy(list(job.nodes), vlan, environment="debian12-min"))
    with pytest.raises(BadInput, match="unknown node"):
        run(alice.deploy(["nosuch-1"], vlan, environment="debian12-min"))
    with pytest.raises(BadInput, match="bad environment name"):
        run(alice.deploy(list(job.nodes), vlan, environment="debian 12; rm -rf /"))
    with pytest.raises(BadInput, match="not an OpenSSH public key"):
        run(alice.deploy(list(job.nodes), vlan, environment="debian12-min", key="hello"))
    with pytest.raises(BadInput, match="DEFAULT"):
        run(alice.deploy(list(job.nodes), DEFAULT, environment="debian12-min"))
    assert set(dict(run(alice.vlan_of(job.nodes))).values()) == {DEFAULT}  # nothing moved
    assert run(alice.dhcp_state(vlan)) == "off"


def test_the_key_goes_in_once_and_requests_are_checked() -> None:
    cmd = key_command(KEY + "\n\n", "/root/.ssh/authorized_keys")
    assert cmd.count("grep -qxF") == 1 and "mkdir -p" in cmd
    check_request("debian12-x64-min", "")
    with pytest.raises(BadInput):
        check_request("", "")


def test_the_sites_deploy_table_is_read_and_checked() -> None:
    from importlib import resources

    lab = resources.files("kavlan_core").joinpath("data/lab.toml").read_text()
    table = f'\n[site.deploy]\nnode_command = "{sys.executable} -c pass {{node}}"\nauthorized_keys = "/k"\n'
    spec = inventory.parse(in_first_site(lab, table), "t.toml").deploys["sophia"]
    assert spec.node_command.endswith("{node}") and spec.authorized_keys == "/k" and not spec.command
    for bad, message in (
        ('command = "kadeploy3 -e {env}"', "must name the nodefile"),
        ('node_command = "reinstall"', "must name the node"),
        ('colour = "blue"', "unknown key"),
    ):
        with pytest.raises(inventory.InventoryError, match=message):
            inventory.parse(in_first_site(lab, f"\n[site.deploy]\n{bad}\n"), "t.toml")


def test_the_vlan_whose_dhcp_starts_is_the_nodes_sites(make_service) -> None:
    """A routed VLAN is its site's: deploying lille's nodes from a sophia frontend starts lille's VLAN's DHCP."""
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},nodes=2", site="lille"))
    vlan = job.vlans[0]
    assert vlan.site == "lille"
    report = run(svc.deploy(list(job.nodes), vlan.vlan, environment="debian12-min"))
    assert report.ok, report
    assert (
        run(svc.dhcp_state(vlan.vlan, "lille")) == "on" and run(svc.dhcp_state(vlan.vlan, "sophia")) == "off"
    )
