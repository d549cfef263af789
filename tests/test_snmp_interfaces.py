"""What a port name of the inventory stands for on an SNMP switch, without a network: ifName, ifDescr as an alias,
names several interfaces hold, bridge ports, and link aggregations (never access ports)."""

from __future__ import annotations

import pytest

from kavlan_core.drivers.snmp_interfaces import Interface, Interfaces, interfaces_of

# ifIndex -> ifName, ifDescr, ifType; bridge port -> ifIndex. The shapes are the corpus's: SLX-OS holds
# "Ethernet 0/1" twice (one a bridge port), LCOS "WLAN-1" twice (both bridge ports), VOSS maps bridge ports to
# ifIndex 0, Cisco names its EtherChannels Po (ifType propVirtual), LCOS has a propVirtual CAPWAP tunnel.
NAMES = {
    1: "Ethernet 0/1",
    2: "Ethernet 0/1",
    3: "WLAN-1",
    4: "WLAN-1",
    5: "Po30",
    6: "WLC-TUNNEL-1",
    7: "",
    8: "lag1",
}
DESCRS = {
    1: "Ethernet 0/1",
    2: "Ethernet 0/1",
    5: "Port-channel30",
    6: "CAPWAP Tunnel 1",
    7: "FastEthernet0/7",
}
TYPES = {1: 6, 2: 6, 3: 71, 4: 71, 5: 53, 6: 53, 7: 6, 8: 161}
BRIDGE = {1: 1, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 192: 0}


@pytest.fixture
def table() -> Interfaces:
    return interfaces_of(NAMES, DESCRS, TYPES, BRIDGE)


def test_the_bridge_ports_are_the_map_s(table: Interfaces) -> None:
    assert table.bridge_ports == frozenset(
        BRIDGE
    )  # 192 is a bridge port with no interface: still a bridge bit


def test_a_name_held_twice_names_its_one_bridge_port(table: Interfaces) -> None:
    found = table.find("Ethernet 0/1", bridged=True)
    assert isinstance(found, Interface) and (found.if_index, found.bridge_port) == (1, 1)
    assert table.find("Ethernet 0/1", bridged=False) == (
        "names several interfaces (ifIndex 1, 2): refusing to guess which"
    )
    assert (
        table.find("WLAN-1", bridged=True)
        == "names several bridge ports (ifIndex 3, 4): refusing to guess which"
    )


def test_ifdescr_is_an_alias_and_a_name_where_ifname_is_empty(table: Interfaces) -> None:
    found = table.find("FastEthernet0/7", bridged=True)
    assert isinstance(found, Interface) and found.bridge_port == 7 and found.name == "FastEthernet0/7"
    found = table.find("Port-channel30", bridged=False)
    assert isinstance(found, Interface) and found.if_index == 5


def test_what_is_no_port(table: Interfaces) -> None:
    assert table.find("xe-9/9/9", bridged=True) == (
        "does not exist on the switch (no interface has this ifName or ifDescr)"
    )
    assert interfaces_of({1: "a"}, {}, {}, {}).find("a", bridged=True) == (
        "is not a bridge port (no dot1dBasePortIfIndex maps to it)"
    )
    shared = interfaces_of({1: "a"}, {}, {}, {1: 1, 2: 1})
    assert shared.find("a", bridged=True) == "is bridge ports 1, 2 at once: refusing to guess which"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("lag1", "is a link aggregation (ifType ieee8023adLag): it is not an access port"),
        ("Po30", "is a link aggregation (ifType propVirtual, named as one): it is not an access port"),
        ("WLC-TUNNEL-1", None),  # propVirtual, but named as no aggregation
        ("FastEthernet0/7", None),
    ],
)
def test_link_aggregations(table: Interfaces, name: str, words: str | None) -> None:
    found = table.find(name, bridged=True)
    assert isinstance(found, Interface)
    assert found.aggregation() == words
