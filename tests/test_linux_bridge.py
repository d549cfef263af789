"""The linux_bridge driver on real network namespaces: ports move between per-VLAN bridges and isolation is real."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from conftest import bridge_testbed, run
from kavlan_core import config
from kavlan_core.drivers.base import PortChange
from kavlan_core.drivers.linux_bridge import LinuxBridgeDriver
from kavlan_core.model import Switch
from kavlan_core.reports import DriftReport
from kavlan_core.service import KavlanService

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ping") is None,
    reason="needs root, iproute2 and ping (CI has them)",
)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def lab():
    """A switch namespace with bridge vlan100 and ports p1-p3, each cabled to a node namespace (10.64.200.N/24)."""
    tag = uuid.uuid4().hex[:6]
    sw = f"kvt{tag}-sw"
    nodes = [f"kvt{tag}-n{i}" for i in (1, 2, 3)]
    made = []
    try:
        ip("netns", "add", sw)
        made.append(sw)
        ip("-n", sw, "link", "add", "vlan100", "type", "bridge")
        ip("-n", sw, "link", "set", "vlan100", "up")
        for i, node in enumerate(nodes, start=1):
            ip("netns", "add", node)
            made.append(node)
            ip("-n", sw, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0")
            ip("-n", sw, "link", "set", "eth0", "netns", node)
            ip("-n", sw, "link", "set", f"p{i}", "master", "vlan100", "up")
            ip("-n", node, "addr", "add", f"10.64.200.{i}/24", "dev", "eth0")
            ip("-n", node, "link", "set", "eth0", "up")
            ip("-n", node, "link", "set", "lo", "up")
        yield sw, nodes
    finally:
        for ns in reversed(made):
            ip("netns", "del", ns, check=False)


def pings(node: str, target: int) -> bool:
    proc = subprocess.run(
        ["ip", "netns", "exec", node, "ping", "-c", "1", "-W", "1", f"10.64.200.{target}"],
        capture_output=True,
        timeout=30,
    )
    return proc.returncode == 0


def test_driver_moves_ports_and_isolates(lab):
    sw, nodes = lab
    drv = LinuxBridgeDriver(Switch("sw", "s", "linux_bridge", options={"netns": sw}))
    assert {p: s.tag for p, s in run(drv.read_ports(["p1", "p2", "p3"])).items()} == {
        "p1": 100,
        "p2": 100,
        "p3": 100,
    }
    assert pings(nodes[0], 2)
    run(drv.ensure_vlan(704, "kavlan-4"))
    run(drv.ensure_vlan(704, "kavlan-4"))  # a second time is harmless
    changes = [PortChange("p2", 100, 704), PortChange("p3", 100, 704)]
    assert drv.describe(changes) == [
        f"ip -n {sw} link set p2 master vlan704",
        f"ip -n {sw} link set p3 master vlan704",
    ]
    run(drv.apply(changes))
    assert {p: s.tag for p, s in run(drv.read_ports(["p1", "p2", "p3"])).items()} == {
        "p1": 100,
        "p2": 704,
        "p3": 704,
    }
    assert pings(nodes[1], 3), "nodes in the same VLAN reach each other"
    assert not pings(nodes[0], 2), "nodes in different VLANs are isolated"


def test_bad_port_names_never_reach_the_command_line(lab):
    sw, _ = lab
    drv = LinuxBridgeDriver(Switch("sw", "s", "linux_bridge", options={"netns": sw}))
    with pytest.raises(Exception, match="not a valid link name"):
        run(drv.apply([PortChange("p1; reboot", 100, 704)]))
    with pytest.raises(Exception, match="no port named nosuch"):
        run(drv.read_ports(["nosuch"]))


def test_service_moves_nodes_on_a_linux_bridge_switch(lab, kenv, tmp_path):
    sw, nodes = lab
    inv = tmp_path / "bridge.toml"
    inv.write_text(bridge_testbed(sw))
    svc = KavlanService(config.load(inventory=str(inv)))
    try:
        job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=2"))
        vlan = job.vlans[0].vlan
        plan = run(svc.plan(list(job.nodes), vlan))
        assert plan.switches[0].commands == [
            f"ip -n {sw} link set p1 master vlan{700 + vlan}",
            f"ip -n {sw} link set p2 master vlan{700 + vlan}",
        ]
        report = run(svc.set_vlan(list(job.nodes), vlan))
        assert report.ok, report.results
        assert pings(nodes[0], 2) and not pings(nodes[0], 3)
        assert run(svc.drift()) == DriftReport()
        ip("-n", sw, "link", "set", "p1", "master", "vlan100")  # behind kavlan's back
        assert [(d.node, d.actual) for d in run(svc.drift()).drifts] == [("suno-1", 0)]
    finally:
        run(svc.close())
