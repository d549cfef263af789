"""A switch that restarts between two reads may number its interfaces anew (without ifIndex persistence, a module
that came or went shifts them): what a driver read of its interfaces before is then no fact any more. sysUpTime rides
on every read (no request of its own) and says so; the driver reads the interfaces again. Without a network: an
agent behind ``SnmpSession.request`` (``test_snmp_adaptive.Agent``) whose objects the test changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pysnmp.proto import rfc1902
from test_snmp_adaptive import Agent, oid_of

from kavlan_core.drivers import snmp_session
from kavlan_core.drivers.base import PortChange, PortState
from kavlan_core.drivers.snmp_cisco import SnmpCiscoDriver
from kavlan_core.drivers.snmp_qbridge import SnmpQBridgeDriver
from kavlan_core.drivers.snmp_session import SYS_UP_TIME, SnmpDriver, SnmpSession, SwitchRestarted
from kavlan_core.model import Switch

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

Oid = tuple[int, ...]
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_TYPE: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
BRIDGE_MAP: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
STATIC_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
STATIC_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
PVID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)
VM_VLAN: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 68, 1, 2, 2, 1, 2)
TRUNK_STATUS: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 6, 1, 1, 13)
VTP_STATE: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 3, 1, 1, 2, 1)
NAMES = {10: "ge-0/0/0", 11: "ge-0/0/1"}


class Clock:
    """time.monotonic as the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(snmp_session, "monotonic", fake)
    return fake


def driver_of(kind: type[SnmpDriver]) -> SnmpDriver:
    switch = Switch(
        name="sw", site="lab", driver="x", address="127.0.0.1:9", options={"timeout": 1, "retries": 1}
    )
    return kind(switch, {"version": "2c", "community": "x"})


def test_uptime_tells_a_restart(clock: Clock) -> None:
    driver = driver_of(SnmpQBridgeDriver)
    driver._check_uptime(None)  # no sysUpTime: nothing to tell
    driver._check_uptime(rfc1902.TimeTicks(100_000))  # the first one seen
    clock.now += 60
    driver._check_uptime(rfc1902.TimeTicks(106_000))  # a minute later, a minute older
    clock.now += 60
    driver._check_uptime(rfc1902.TimeTicks(106_000))  # standing still (a recording) tells nothing
    clock.now += 3
    driver._check_uptime(rfc1902.TimeTicks(106_100))  # a slow answer: within the slack
    with pytest.raises(SwitchRestarted, match="restarted"):
        driver._check_uptime(rfc1902.TimeTicks(50))  # went back
    clock.now += 3600
    driver._check_uptime(rfc1902.TimeTicks(360_050))  # an hour later, an hour older: fine again
    clock.now += 7 * 86400  # a week later, up only for a day: it restarted, though its uptime grew
    with pytest.raises(SwitchRestarted):
        driver._check_uptime(rfc1902.TimeTicks(8_640_000 + 360_050))
    clock.now += 21 * 86400  # three weeks later, 5 minutes of drift between the clocks: no restart
    driver._check_uptime(rfc1902.TimeTicks(8_640_000 + 360_050 + 21 * 8_640_000 - 30_000))


def qbridge_objects(bridge: dict[int, int], access: dict[int, int], uptime: int) -> dict[Oid, Any]:
    """A Q-BRIDGE switch: ifIndexes 10 and 11 named ge-0/0/0 and ge-0/0/1, the bridge ports ``bridge`` (bridge
    port -> ifIndex), each an access port of ``access[bridge port]`` (VLANs 1 and 20 exist)."""
    objects: dict[Oid, Any] = {}
    for if_index, name in NAMES.items():
        objects[(*IF_NAME, if_index)] = rfc1902.OctetString(name.encode())
        objects[(*IF_TYPE, if_index)] = rfc1902.Integer32(6)
    for bp, if_index in bridge.items():
        objects[(*BRIDGE_MAP, bp)] = rfc1902.Integer32(if_index)
        objects[(*PVID, bp)] = rfc1902.Gauge32(access[bp])
    for vid in (1, 20):
        bits = sum(0x80 >> (bp - 1) for bp in bridge if access[bp] == vid)
        objects[(*STATIC_EGRESS, vid)] = rfc1902.OctetString(bytes([bits]))
        objects[(*STATIC_UNTAGGED, vid)] = rfc1902.OctetString(bytes([bits]))
    objects[SYS_UP_TIME] = rfc1902.TimeTicks(uptime)
    return objects


def serve(agent: Agent, objects: dict[Oid, Any]) -> None:
    """The agent holds ``objects`` from now on."""
    agent.objects = dict(sorted(objects.items()))
    agent.oids = list(agent.objects)


Body = Callable[[SnmpDriver], Awaitable[Any]]


def talk(driver: SnmpDriver, agent: Agent, body: Body) -> Any:
    async def conversation() -> Any:
        session = SnmpSession(driver, asyncio.get_running_loop(), "127.0.0.1", 9, None, None)
        session.request = agent.request  # type: ignore[method-assign]
        driver._session = session
        try:
            return await body(driver)
        finally:
            session.close()

    return asyncio.run(asyncio.wait_for(conversation(), 10))


def test_qbridge_reads_the_interfaces_again_after_a_restart(clock: Clock) -> None:
    agent = Agent({}, 100_000)
    serve(agent, qbridge_objects({1: 10, 2: 11}, {1: 1, 2: 1}, uptime=100_000))
    driver = driver_of(SnmpQBridgeDriver)

    async def conversation(d: SnmpDriver) -> tuple[dict[str, PortState], dict[str, PortState]]:
        before = await d.read_ports(list(NAMES.values()))
        # restarted: the bridge ports swapped their interfaces, and bridge port 1 (now ge-0/0/1) is in VLAN 20
        clock.now += 120
        serve(agent, qbridge_objects({1: 11, 2: 10}, {1: 20, 2: 1}, uptime=3_000))
        return before, await d.read_ports(list(NAMES.values()))

    before, after = talk(driver, agent, conversation)
    assert before == {"ge-0/0/0": PortState(1), "ge-0/0/1": PortState(1)}
    assert after == {"ge-0/0/0": PortState(1), "ge-0/0/1": PortState(20)}


def test_qbridge_moves_the_port_numbered_anew(clock: Clock) -> None:
    agent = Agent({}, 100_000)
    serve(agent, qbridge_objects({1: 10, 2: 11}, {1: 1, 2: 1}, uptime=100_000))
    driver = driver_of(SnmpQBridgeDriver)
    written: list[Oid] = []
    answer = agent.request

    async def acknowledging(command: Any, auth: Any, *args: Any) -> Any:
        if command.__name__ != "set_cmd":
            return await answer(command, auth, *args)
        sent = [(oid_of(v), v._ObjectType__args[1]) for v in args]  # acknowledged as sent
        written.extend(oid for oid, _ in sent)
        return None, 0, 0, [(rfc1902.ObjectName(oid), value) for oid, value in sent]

    async def conversation(d: SnmpDriver) -> None:
        await d.read_ports(["ge-0/0/1"])
        clock.now += 120
        serve(agent, qbridge_objects({1: 11, 2: 10}, {1: 1, 2: 1}, uptime=3_000))
        assert d._session is not None
        d._session.request = acknowledging  # type: ignore[method-assign]
        await d.apply([PortChange("ge-0/0/1", 1, 20)])

    talk(driver, agent, conversation)
    assert (*PVID, 1) in written and (*PVID, 2) not in written  # ge-0/0/1 is bridge port 1 now


def cisco_objects(vm_vlan: dict[int, int], uptime: int) -> dict[Oid, Any]:
    objects: dict[Oid, Any] = {}
    for if_index, name in NAMES.items():
        objects[(*IF_NAME, if_index)] = rfc1902.OctetString(name.encode())
        objects[(*IF_TYPE, if_index)] = rfc1902.Integer32(6)
    for if_index, vid in vm_vlan.items():
        objects[(*VM_VLAN, if_index)] = rfc1902.Integer32(vid)
        objects[(*TRUNK_STATUS, if_index)] = rfc1902.Integer32(2)
    objects[(*VTP_STATE, 1)] = rfc1902.Integer32(1)
    objects[(*VTP_STATE, 20)] = rfc1902.Integer32(1)
    objects[SYS_UP_TIME] = rfc1902.TimeTicks(uptime)
    return objects


def test_cisco_reads_the_interfaces_again_after_a_restart(clock: Clock) -> None:
    agent = Agent({}, 100_000)
    serve(agent, cisco_objects({10: 1, 11: 1}, uptime=100_000))
    driver = driver_of(SnmpCiscoDriver)
    renamed = {12: "ge-0/0/0", 13: "ge-0/0/1"}

    async def conversation(d: SnmpDriver) -> tuple[dict[str, PortState], dict[str, PortState]]:
        before = await d.read_ports(list(NAMES.values()))
        clock.now += 120
        objects = cisco_objects({}, uptime=3_000)
        for if_index, name in renamed.items():  # the same ports, at new ifIndexes, ge-0/0/1 in VLAN 20
            objects[(*IF_NAME, if_index)] = rfc1902.OctetString(name.encode())
            objects[(*IF_TYPE, if_index)] = rfc1902.Integer32(6)
            objects[(*VM_VLAN, if_index)] = rfc1902.Integer32(20 if name == "ge-0/0/1" else 1)
            objects[(*TRUNK_STATUS, if_index)] = rfc1902.Integer32(2)
        for if_index in NAMES:
            del objects[(*IF_NAME, if_index)], objects[(*IF_TYPE, if_index)]
        serve(agent, objects)
        return before, await d.read_ports(list(NAMES.values()))

    before, after = talk(driver, agent, conversation)
    assert before == {"ge-0/0/0": PortState(1), "ge-0/0/1": PortState(1)}
    assert after == {"ge-0/0/0": PortState(1), "ge-0/0/1": PortState(20)}
