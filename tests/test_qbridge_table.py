"""The Q-BRIDGE VLAN table as the snmp_qbridge driver reads it, without a network: a port decided from its own bits,
over every time mark; garbled lists and bits of ports the switch lacks; the lists a move writes."""

from __future__ import annotations

import pytest

from kavlan_core.drivers import portlist
from kavlan_core.drivers.base import PortChange, PortState
from kavlan_core.drivers.qbridge_table import (
    MemberList,
    MemberLists,
    VlanTable,
    port_state,
    table_of,
    write_problem,
)

BRIDGE = frozenset(range(1, 9))
TRUNK = PortState(None, trunk=True)
# the tail some recorders append to a PortList: real octets, then "\n00 00 00 " as text
TAIL = b"\n00 00 00 00 "


def current(rows: dict[tuple[int, int], tuple[set[int], set[int]]], length: int = 1) -> VlanTable:
    """A current table from (time mark, vid) -> (egress ports, untagged ports)."""
    egress = {k: portlist.encode(e, length) for k, (e, _) in rows.items()}
    untagged = {k: portlist.encode(u, length) for k, (_, u) in rows.items()}
    return table_of("current", egress, untagged, BRIDGE)


def refused(state: PortState) -> str:
    assert state.tag is None and not state.trunk and state.refused is not None, state
    return state.refused


@pytest.mark.parametrize(
    ("port", "pvid", "expected"),
    [
        (1, None, PortState(10)),  # untagged in 10 only, no dot1qPvid row: the lists decide
        (1, 10, PortState(10)),
        (2, 10, TRUNK),  # tagged in 20
        (3, 30, "is an untagged member of VLAN 10 but has dot1qPvid 30"),
        (4, None, "is an untagged member of several VLANs (10, 20)"),
        (5, None, "has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown"),
        (5, 7, "has dot1qPvid 7 but is a member of no VLAN: its VLAN is unknown"),
        (6, None, "is an untagged member of VLAN 20 but not in its egress list (dot1qVlanCurrentTable)"),
    ],
)
def test_each_port_from_its_own_bits(port: int, pvid: int | None, expected: PortState | str) -> None:
    table = current({(0, 10): ({1, 2, 3, 4}, {1, 2, 3, 4}), (0, 20): ({2, 4}, {4, 6})})
    state = port_state(table, port, pvid)
    if isinstance(expected, str):
        assert refused(state) == expected
    else:
        assert state == expected


def test_time_marks_that_disagree_leave_their_ports_unknown_and_no_other() -> None:
    # a Moxa-like log: VLAN 1 grew from port 1 to ports 1-3 over time; port 4 is in neither row
    table = current({(3822, 1): ({1}, {1}), (3869, 1): ({1, 2, 3}, {1, 2, 3}), (3869, 2): ({4}, {4})})
    assert port_state(table, 1, None) == PortState(1)
    assert refused(port_state(table, 2, None)) == (
        "is not where dot1qVlanCurrentTable says: VLAN 1's rows at time marks 3822 and 3869 disagree about it"
    )
    assert port_state(table, 4, None) == PortState(2)


def test_a_garbled_list_refuses_the_ports_of_its_garbled_octets_only() -> None:
    # 2 octets of bits (ports 1-16), then a text dump: ports 17 and after cannot be told from this list
    egress = {(0, 1): b"\xc0\x00" + TAIL}
    table = table_of("current", egress, dict(egress), frozenset(range(1, 33)))
    assert port_state(table, 1, 1) == PortState(1)
    assert (
        port_state(table, 3, 1).refused == "has dot1qPvid 1 but is a member of no VLAN: its VLAN is unknown"
    )
    assert refused(port_state(table, 17, 1)) == (
        "cannot be read from VLAN 1's member lists in dot1qVlanCurrentTable: they are garbled there"
    )
    # a list that is a text dump from its first octet ("ff ff f8 80 00", as dell-sonic answers) tells nothing
    whole = {(0, 1): b"ff ff f8 80 00"}
    assert port_state(table_of("current", whole, dict(whole), BRIDGE), 1, 1).refused is not None


def test_bits_of_ports_the_switch_lacks_are_no_ports() -> None:
    # only the asked bridge ports are ever decided: bit 9 (no such bridge port) makes nothing of itself
    table = current({(0, 1): ({1, 9}, {1, 9})}, length=2)
    assert port_state(table, 1, 1) == PortState(1)


def test_text_lists_and_the_formats() -> None:
    table = table_of("static", {(0, 30): b"0,4097,4099"}, {(0, 30): b"4099"}, frozenset({4097, 4099}))
    assert table.format == "text"
    assert port_state(table, 4097, None) == TRUNK
    assert port_state(table, 4099, 30) == PortState(30)
    forced = table_of("static", {(0, 1): b"\xff"}, {(0, 1): b"\xff"}, BRIDGE, option="text")
    assert refused(port_state(forced, 1, 1)).startswith(
        "cannot be told: VLAN 1: not a text list of bridge ports"
    )
    assert refused(port_state(VlanTable("none"), 1, 1)).startswith(
        "cannot be told: the switch has neither dot1qVlanStaticTable nor dot1qVlanCurrentTable"
    )


def test_what_a_move_may_write() -> None:
    table = current({(0, 10): ({1, 2, 3}, {1, 3}), (0, 20): ({2, 4}, {4})})
    assert write_problem(table, 1) is None
    assert write_problem(table, 2) == "is a trunk, a tagged member of VLAN 10, 20"
    # lists and PVID that disagree may be written: the move (or a rollback) makes them agree
    assert write_problem(current({(0, 10): ({1}, {1}), (0, 20): ({1}, {1})}), 1) is None


def test_a_move_keeps_every_other_bit_and_never_shortens() -> None:
    # VLAN 10: ports 1, 2 and bit 12 of a port the switch lacks, then a garbled tail; VLAN 20: a 1-octet list
    egress = {(0, 10): b"\xc0\x10" + TAIL, (0, 20): b"\x10"}
    untagged = {(0, 10): b"\xc0\x10" + TAIL, (0, 20): b"\x10"}
    table = table_of("static", egress, untagged, frozenset(range(1, 9)))
    lists = MemberLists.of(table)
    written = {
        (column, vid): octets for column, vid, octets in lists.move(20, [PortChange("a", 10, 20)], {"a": 1})
    }
    size = len(b"\xc0\x10" + TAIL)
    assert written[("egress", 10)] == b"\x40\x10" + TAIL  # port 1 out, bit 12 and the tail as they were
    assert written[("untagged", 10)] == b"\x40\x10" + TAIL
    assert written[("egress", 20)] == b"\x90" + bytes(size - 1)  # port 1 in, padded to the longest length
    assert written[("untagged", 20)] == b"\x90" + bytes(size - 1)
    assert MemberList(b"\x40\x10" + TAIL).holds(1) is False


def test_a_move_leaves_every_vlan_the_port_is_in() -> None:
    # a port untagged in 10 and 30 (refused by reads) is moved out of both by a rollback to 20
    table = current({(0, 10): ({1}, {1}), (0, 20): (set(), set()), (0, 30): ({1}, {1})})
    table.source = "static"
    written = MemberLists.of(table).move(20, [PortChange("a", 10, 20)], {"a": 1})
    assert sorted((column, vid) for column, vid, _ in written) == [
        ("egress", 10),
        ("egress", 20),
        ("egress", 30),
        ("untagged", 10),
        ("untagged", 20),
        ("untagged", 30),
    ]
