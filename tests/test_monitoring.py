"""Live monitoring in the core, on the simulated switches: wrap-safe rates, each NIC's link and traffic, the
forwarding tables mapped to nodes, the isolation check (clean, each kind of leak, a switch it cannot read), and the
events a link going down or a leak appearing raise."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import run, set_switch_options
from kavlan_core.drivers.simulated import sent_rate
from kavlan_core.errors import BadInput
from kavlan_core.events import Event, LeakFound, LinkChanged
from kavlan_core.monitoring import WRAP, rate
from kavlan_core.service import KavlanService

SUNO3_MAC_IN_VLAN5 = "Gi1/0/9 {mac} 705"  # an uplink of sw1 that learned suno-3's MAC in VLAN 5 (tag 705)


def test_rates_are_wrap_safe_and_refuse_a_counter_that_went_back() -> None:
    assert rate(WRAP - 100, 50, 2.0) == 75.0
    assert rate(1000, 3000, 2.0) == 1000.0
    assert rate(5_000_000, 10, 1.0) is None, "a restart, not a wrap"
    assert rate(None, 10, 1.0) is None
    assert rate(10, 20, 0.0) is None


def test_port_loads_show_what_each_node_sends(make_service: Any) -> None:
    svc: KavlanService = make_service()
    report = run(svc.port_loads(["suno-1", "suno-3"], interval=0.2))
    assert [(x.node, x.switch, x.port, x.up) for x in report.loads] == [
        ("suno-1", "sw1", "Gi1/0/1", True),
        ("suno-3", "sw2", "Gi1/0/1", True),
    ]
    now = time.time()
    for load in report.loads:
        assert load.in_rate == pytest.approx(sent_rate(load.switch, load.port, now), rel=0.15)
        assert load.out_rate == pytest.approx(sent_rate(load.switch, load.port, now) / 2, rel=0.15)
        assert load.speed_mbps == 10_000 and load.in_errors == 0
    assert 0.15 < report.seconds < 5


def test_a_link_going_down_is_an_event(make_service: Any) -> None:
    svc: KavlanService = make_service()
    seen: list[Event] = []
    svc.events.subscribe(seen.append)
    run(svc.port_loads(["suno-1"], interval=0))
    set_switch_options(svc, "sw1", {"down_ports": ["Gi1/0/1"]})
    report = run(svc.port_loads(["suno-1"], interval=0))
    assert report.loads[0].up is False
    assert [e for e in seen if isinstance(e, LinkChanged)] == [
        LinkChanged(at=seen[-1].at, switch="sw1", port="Gi1/0/1", node="suno-1", nic="eth0", up=False)
    ]


def test_unknown_nodes_are_refused(make_service: Any) -> None:
    svc: KavlanService = make_service()
    with pytest.raises(BadInput, match="nope"):
        run(svc.port_loads(["nope-1"]))


def test_the_fdb_maps_every_mac_to_its_node(make_service: Any) -> None:
    svc: KavlanService = make_service()
    report = run(svc.fdb())
    assert not report.unreadable
    assert sorted(r.node for r in report.rows) == sorted(f"suno-{i}" for i in range(1, 9))
    assert {r.vlan for r in report.rows} == {0}
    assert run(svc.fdb(5)).rows == []


def mac_of(svc: KavlanService, node: str) -> str:
    return svc.inventory.nodes[node].primary_nic.mac


def test_a_clean_site_is_clean(make_service: Any) -> None:
    report = run(make_service().check_isolation())
    assert report.clean and report.scope == "site sophia" and report.macs == 8


def test_leaks_of_each_kind_are_flagged(make_service: Any) -> None:
    svc0: KavlanService = make_service()
    suno3 = mac_of(svc0, "suno-3")
    extra = [
        "Gi1/0/1 02:00:00:00:00:99 100",  # a MAC nobody has behind suno-1's port
        SUNO3_MAC_IN_VLAN5.format(mac=suno3),  # suno-3 (in DEFAULT) seen in VLAN 5
        "Gi1/0/2 02:00:00:00:00:98 100",  # a MAC nobody has, in DEFAULT and in VLAN 5
        "Gi1/0/9 02:00:00:00:00:98 705",
    ]
    svc: KavlanService = make_service(options={"sw1": {"fdb_extra": extra}})
    seen: list[Event] = []
    svc.events.subscribe(seen.append)
    report = run(svc.check_isolation())
    kinds = sorted((k.kind, k.mac, k.node) for k in report.leaks)
    assert kinds == [
        ("misplaced", suno3, "suno-3"),
        ("two-vlans", "02:00:00:00:00:98", ""),
        ("unknown", "02:00:00:00:00:98", "suno-2"),
        ("unknown", "02:00:00:00:00:99", "suno-1"),
    ]
    misplaced = next(k for k in report.leaks if k.kind == "misplaced")
    assert misplaced.detail == (
        f"suno-3/eth0 ({suno3}) is seen in VLAN 5 on sw1 port Gi1/0/9, but its port sw2/Gi1/0/1 is in VLAN DEFAULT"
    )
    assert not report.clean
    assert len([e for e in seen if isinstance(e, LeakFound)]) == 4
    run(svc.check_isolation())
    assert len([e for e in seen if isinstance(e, LeakFound)]) == 4, "a leak is an event once"
    only5 = run(svc.check_isolation(vlan=5))
    # the unknown MAC behind suno-2's port is learned in VLAN 5 too: it concerns VLAN 5
    assert only5.scope == "VLAN 5" and len(only5.leaks) == 3
    assert "02:00:00:00:00:99" not in {k.mac for k in only5.leaks}
    assert run(svc.check_isolation(vlan=3)).clean


def test_a_switch_that_cannot_be_read_is_never_clean(make_service: Any) -> None:
    svc: KavlanService = make_service(options={"sw2": {"timeout": True, "timeout_s": 0.01}})
    report = run(svc.check_isolation(vlan=4))
    assert not report.leaks and not report.clean
    assert [u.switch for u in report.unreadable] == ["sw2"]
    assert "no answer" in report.unreadable[0].reason


class Clock:
    """The service's clock, stepped by the test (the store records moves at it)."""

    def __init__(self) -> None:
        self.t = 1_780_000_000.0

    def __call__(self) -> float:
        return self.t


def test_a_stale_entry_after_a_move_is_no_leak_but_a_real_leak_still_is(make_service: Any) -> None:
    clock = Clock()
    svc: KavlanService = make_service(admins="alice", clock=clock)
    suno1 = mac_of(svc, "suno-1")
    assert run(svc.set_vlan(["suno-1"], 4)).ok
    # sw1's uplink still remembers suno-1's MAC in DEFAULT (tag 100), learned before the move
    set_switch_options(svc, "sw1", {"fdb_extra": [f"Gi1/0/9 {suno1} 100"]})
    report = run(svc.check_isolation())
    assert report.clean and report.stale == 1, report
    assert run(svc.check_isolation(vlan=4)).stale == 0, "a stale entry of DEFAULT is not one of VLAN 4's"
    # behind another node's port it is a leak, however recent the move
    set_switch_options(svc, "sw1", {"fdb_extra": [f"Gi1/0/2 {suno1} 100"]})
    assert sorted(k.kind for k in run(svc.check_isolation()).leaks) == ["foreign", "misplaced"]
    # once the switches' ageing time has passed, the uplink's entry is a leak too
    set_switch_options(svc, "sw1", {"fdb_extra": [f"Gi1/0/9 {suno1} 100"]})
    clock.t += svc.settings.fdb_ageing + 1
    (leak,) = run(svc.check_isolation()).leaks
    assert (leak.kind, leak.node, leak.port) == ("misplaced", "suno-1", "Gi1/0/9")


def test_a_move_back_to_default_is_recorded_for_the_check(make_service: Any) -> None:
    clock = Clock()
    svc: KavlanService = make_service(admins="alice", clock=clock)
    suno1 = mac_of(svc, "suno-1")
    assert run(svc.set_vlan(["suno-1"], 4)).ok
    clock.t += 1000
    assert run(svc.set_vlan(["suno-1"], 0)).ok
    with svc.store.read() as tx:
        assert tx.nic_moves(since=clock.t) == {("suno-1", "eth0"): (4, clock.t)}
    set_switch_options(svc, "sw1", {"fdb_extra": [f"Gi1/0/9 {suno1} 704"]})  # VLAN 4's tag, on the uplink
    report = run(svc.check_isolation(vlan=4))
    assert report.clean and report.stale == 1
    # another node's MAC there (it never was in VLAN 4) is a leak
    set_switch_options(svc, "sw1", {"fdb_extra": [f"Gi1/0/9 {mac_of(svc, 'suno-2')} 704"]})
    (leak,) = run(svc.check_isolation(vlan=4)).leaks
    assert (leak.kind, leak.node) == ("misplaced", "suno-2")
