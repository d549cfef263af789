"""The snmp_cisco driver's decisions without a network, and the SET checks of the session both SNMP drivers share."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pysnmp.proto import rfc1902, rfc1905

from kavlan_core.drivers.base import PortState, SwitchError, driver_class
from kavlan_core.drivers.snmp_cisco import VM_VLAN, SnmpCiscoDriver, port_state, vlan_problem
from kavlan_core.drivers.snmp_session import SnmpSession
from kavlan_core.model import Switch

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

TRUNK = PortState(None, trunk=True)
IF_INDEX = 10002


def driver(**options: Any) -> SnmpCiscoDriver:
    switch = Switch(name="c1", site="lab", driver="snmp_cisco", address="127.0.0.1:9", options=options)
    return SnmpCiscoDriver(switch, {"version": "2c", "community": "x"})


def test_registered_under_its_name() -> None:
    assert driver_class("snmp_cisco") is SnmpCiscoDriver


@pytest.mark.parametrize(
    ("vm_vlan", "dynamic", "encapsulation", "expected"),
    [
        (1, None, 6, PortState(1)),  # the c3560 recording: only encapOperType, notApplicable
        (178, 2, None, PortState(178)),  # notTrunking
        (1, 1, None, TRUNK),  # trunking: its vmVlan is not what it carries
        (1, None, 4, TRUNK),  # dot1Q
        (None, None, 1, TRUNK),  # ISL, and no vmVlan row
        (1, 2, 4, TRUNK),  # the two columns disagree: a trunk is never written
        (1, None, 5, "is negotiating a trunk"),
        (1, None, None, "has no trunk state in vlanTrunkPortTable"),
        (None, None, 6, "has no vmVlan: it is not a static access port"),
        (0, None, 6, "has vmVlan 0, which is not a VLAN"),
        (4095, 2, 6, "has vmVlan 4095, which is not a VLAN"),
    ],
)
def test_port_state(
    vm_vlan: int | None, dynamic: int | None, encapsulation: int | None, expected: PortState | str
) -> None:
    state = port_state(vm_vlan, dynamic, encapsulation)
    if isinstance(expected, str):
        assert isinstance(state, str) and state.startswith(expected)
    else:
        assert state == expected


def test_without_trunk_table_vmvlan_is_trusted_only_when_told() -> None:
    assert isinstance(port_state(7, None, None), str)
    assert port_state(7, None, None, detect_trunks=False) == PortState(7)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (
            None,
            "VLAN 5 does not exist on the switch (no vtpVlanState.3.5): create it on the switch, or on its VTP server",
        ),
        (2, "VLAN 5 is suspended on the switch (vtpVlanState 2)"),
        (3, "VLAN 5 is mtuTooBigForDevice"),
        (1, None),
    ],
)
def test_vlan_states(state: int | None, words: str | None) -> None:
    problem = vlan_problem(5, state, vtp_domain=3)
    if words is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(words)


# --- what a SET answer must be, for both SNMP drivers -------------------------------------------------------------

OID = (*VM_VLAN, IF_INDEX)


def answer_set(varbinds: list[tuple[Any, Any]]) -> None:
    """Send one vmVlan SET through a session whose agent answers ``varbinds``, with no error status."""

    async def conversation() -> None:
        session = SnmpSession(driver(), asyncio.get_running_loop(), "127.0.0.1", 9, None, None)

        async def agent(command: Any, auth: Any, *args: Any) -> Any:
            return None, 0, 0, varbinds

        session.request = agent  # type: ignore[method-assign]
        try:
            await session.set([(OID, 2)], "setting vmVlan", ["Fa0/2"])
        finally:
            session.close()

    asyncio.run(asyncio.wait_for(conversation(), 10))


def name(oid: tuple[int, ...]) -> rfc1902.ObjectName:
    return rfc1902.ObjectName(oid)


def test_a_set_answered_as_sent_is_accepted() -> None:
    answer_set([(name(OID), rfc1902.Integer32(2))])


@pytest.mark.parametrize(
    ("varbinds", "words"),
    [
        ([], "the switch answered 0 values to setting vmVlan (1 sent)"),
        (
            [(name(OID), rfc1905.NoSuchInstance())],
            "the switch refused setting vmVlan: no such object vmVlan.10002",
        ),
        (
            [(name((*VM_VLAN, 10003)), rfc1902.Integer32(2))],
            "answered vmVlan.10003 to setting vmVlan on vmVlan.10002",
        ),
        (
            [(name(OID), rfc1902.Integer32(1))],
            "the switch answered vmVlan.10002 = 1 to setting vmVlan (sent 2)",
        ),
    ],
)
def test_every_set_answer_is_checked(varbinds: list[tuple[Any, Any]], words: str) -> None:
    with pytest.raises(SwitchError) as err:
        answer_set(varbinds)
    assert words in err.value.reason and err.value.ports == ("Fa0/2",) and err.value.switch == "c1"


@pytest.mark.parametrize("tag", [1002, 1003, 1004, 1005])
@pytest.mark.parametrize("state", [None, 1, 2])
def test_the_reserved_vlans_are_refused_whatever_vtp_says(tag: int, state: int | None) -> None:
    # the IOS-XE recordings list 1002-1005 as operational (vtpVlanState 1): still no access port goes there
    assert vlan_problem(tag, state, vtp_domain=1) == (
        f"VLAN {tag} is one of the reserved VLANs 1002-1005 (FDDI and Token Ring defaults) on Cisco switches: "
        "it cannot take access ports"
    )


def test_ensure_vlan_refuses_a_reserved_vlan_before_any_traffic() -> None:
    with pytest.raises(SwitchError, match="reserved VLANs 1002-1005"):
        asyncio.run(driver().ensure_vlan(1002, "kavlan-4"))  # 127.0.0.1:9 would time out
