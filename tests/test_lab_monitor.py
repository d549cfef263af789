"""Monitoring on real network namespaces with the linux_bridge driver: traffic between two nodes shows in both
nodes' rates, and the isolation check proves isolation: clean, then a leak made by hand (a node given a second
link into another VLAN and bridging its two links) flagged, then clean again once undone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import bridge_testbed, run
from kavlan_core import config
from kavlan_core.events import Event, LeakFound
from kavlan_core.service import KavlanService

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ping") is None,
    reason="needs root, iproute2 and ping (CI has them)",
)

AGEING_CS = 150
"""The lab bridges forget a learned address after 1.5 s (centiseconds): a leak undone is gone soon after."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def bridge(sw: str, name: str) -> None:
    ip("-n", sw, "link", "add", name, "type", "bridge", "ageing_time", str(AGEING_CS))
    ip("-n", sw, "link", "set", name, "up")


@pytest.fixture
def lab(kenv: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, list[str], KavlanService]]:
    """A switch namespace (bridges vlan100 for DEFAULT and vlan704 for VLAN 4), three nodes cabled to p1-p3 with
    the MACs the testbed says, 10.64.200.N/24; and a service on it."""
    tag = uuid.uuid4().hex[:6]
    sw = f"kvm{tag}-sw"
    nodes = [f"kvm{tag}-n{i}" for i in (1, 2, 3)]
    inv = tmp_path / "bridge.toml"
    inv.write_text(bridge_testbed(sw))
    svc = KavlanService(config.load(inventory=str(inv)))
    made: list[str] = []
    try:
        ip("netns", "add", sw)
        made.append(sw)
        bridge(sw, "vlan100")
        bridge(sw, "vlan704")
        for i, node in enumerate(nodes, start=1):
            ip("netns", "add", node)
            made.append(node)
            ip("-n", sw, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0")
            ip("-n", sw, "link", "set", "eth0", "netns", node)
            ip("-n", sw, "link", "set", f"p{i}", "master", "vlan100", "up")
            mac = svc.inventory.nodes[f"suno-{i}"].primary_nic.mac
            ip("-n", node, "link", "set", "eth0", "address", mac)
            ip("-n", node, "addr", "add", f"10.64.200.{i}/24", "dev", "eth0")
            ip("-n", node, "link", "set", "eth0", "up")
            ip("-n", node, "link", "set", "lo", "up")
        yield sw, nodes, svc
    finally:
        run(svc.close())
        for ns in reversed(made):
            ip("netns", "del", ns, check=False)


def ping(node: str, target: str, count: int = 3, size: int = 56) -> None:
    """Traffic (and ARP broadcasts, for an address nobody has): the switch learns the sender's MAC."""
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            node,
            "ping",
            "-q",
            "-c",
            str(count),
            "-i",
            "0.05",
            "-W",
            "1",
            "-s",
            str(size),
            target,
        ],
        capture_output=True,
        timeout=30,
    )


def until(check: Any, seconds: float = 15.0) -> Any:
    """``check()`` until it is truthy, polled, bounded by ``seconds``; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_traffic_between_two_nodes_shows_in_both_rates(lab: tuple[str, list[str], KavlanService]) -> None:
    _, nodes, svc = lab
    first = run(svc.port_loads(["suno-1", "suno-2", "suno-3"], interval=0))
    assert [x.up for x in first.loads] == [True, True, True]
    ping(nodes[0], "10.64.200.2", count=40, size=1400)
    report = run(svc.port_loads(["suno-1", "suno-2", "suno-3"], interval=0))
    loads = {x.node: x for x in report.loads}
    # 40 echo requests of 1428 octets one way, 40 replies back: each node sent over 56 kB; suno-3 nothing of it
    sent = {node: (load.in_rate or 0) * report.seconds for node, load in loads.items()}
    assert sent["suno-1"] > 40 * 1400 and sent["suno-2"] > 40 * 1400, (sent, report.seconds)
    assert sent["suno-3"] < 40 * 1400, sent


def test_a_leak_made_by_hand_is_flagged_then_clean_once_undone(
    lab: tuple[str, list[str], KavlanService],
) -> None:
    sw, nodes, svc = lab
    seen: list[Event] = []
    svc.events.subscribe(seen.append)
    job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=2"))
    vlan = job.vlans[0].vlan
    assert run(svc.set_vlan(["suno-1", "suno-2"], vlan)).ok
    for node in nodes:
        ping(node, "10.64.200.99")  # ARP broadcasts: every port's MAC learned
    report = run(svc.check_isolation(job=job.id))
    assert report.clean and report.macs == 2, report

    # the leak: suno-3 (DEFAULT) gets a second link into the job's VLAN and bridges its two links
    ip("-n", sw, "link", "add", "p9", "type", "veth", "peer", "name", "eth1")
    ip("-n", sw, "link", "set", "eth1", "netns", nodes[2])
    ip("-n", sw, "link", "set", "p9", "master", f"vlan{700 + vlan}", "up")
    ip("-n", nodes[2], "link", "add", "br0", "type", "bridge")
    for link in ("eth0", "eth1"):
        ip("-n", nodes[2], "link", "set", link, "master", "br0")
    ip("-n", nodes[2], "link", "set", "eth1", "up")
    ip("-n", nodes[2], "link", "set", "br0", "up")
    made = time.monotonic()

    def leaks() -> list[str]:
        ping(nodes[0], "10.64.200.99", count=2)
        return sorted({k.kind for k in run(svc.check_isolation(job=job.id)).leaks})

    found = until(leaks)
    print(f"leak flagged {time.monotonic() - made:.2f} s after it was made")
    # suno-1's MAC crossed into DEFAULT through suno-3: seen in a VLAN its port is not in, behind suno-3's port
    assert "misplaced" in found and "foreign" in found, found
    assert any(isinstance(e, LeakFound) and e.node in ("suno-1", "suno-3") for e in seen)

    ip("-n", nodes[2], "link", "del", "br0")
    ip("-n", sw, "link", "del", "p9")
    assert until(lambda: run(svc.check_isolation(job=job.id)).clean), "clean again once undone"
