"""The interfaces of an SNMP switch, as both SNMP drivers name them: ifName (ifDescr where a name is not an
ifName), ifType and the bridge-port map, read in one walk; and what a port name of the inventory stands for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .snmp_session import Oid, SnmpSession, name_objects, text_of

IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_TYPE: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
DOT1D_BASE_PORT_IFINDEX: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)

name_objects({IF_TYPE: "ifType", DOT1D_BASE_PORT_IFINDEX: "dot1dBasePortIfIndex"})

IEEE8023AD_LAG = 161
VENDOR_AGGREGATE_TYPES = {53: "propVirtual", 54: "propMultiplexor"}
"""Where Cisco (Port-channel), HP (Trk), Ruijie (AggregatePort) and others put their link aggregations."""
AGGREGATE_NAME = re.compile(
    r"port-?channel|^po ?\d|^trk\d|^ag\d|aggregate|eth-trunk|^lag ?\d|^ae\d|^bond", re.I
)


@dataclass(frozen=True, slots=True)
class Interface:
    if_index: int
    name: str
    """ifName, or ifDescr when the interface has no ifName."""
    descr: str = ""
    if_type: int | None = None
    bridge_port: int | None = None

    def aggregation(self) -> str | None:
        """Why this interface is a link aggregation, if it is one (its member ports carry its VLANs: moving it
        as an access port would move them all, so the drivers refuse it)."""
        if self.if_type == IEEE8023AD_LAG:
            return "is a link aggregation (ifType ieee8023adLag): it is not an access port"
        kind = VENDOR_AGGREGATE_TYPES.get(self.if_type or 0)
        if kind and (AGGREGATE_NAME.search(self.name) or AGGREGATE_NAME.search(self.descr)):
            return f"is a link aggregation (ifType {kind}, named as one): it is not an access port"
        return None


@dataclass(slots=True)
class Interfaces:
    """Every interface of a switch, found by name; a name held by several interfaces names none of them."""

    by_index: dict[int, Interface]
    bridge: dict[int, int] = field(default_factory=dict)
    """bridge port -> ifIndex, as the switch maps them."""
    by_name: dict[str, list[int]] = field(default_factory=dict)
    by_descr: dict[str, list[int]] = field(default_factory=dict)
    shared: dict[int, list[int]] = field(default_factory=dict)
    """ifIndex -> the bridge ports mapped to it, where there are several (such a port cannot be told apart)."""

    @property
    def bridge_ports(self) -> frozenset[int]:
        """The switch's real bridge ports: the bits of a PortList that are ports."""
        return frozenset(self.bridge)

    def knows(self, names: Iterable[str]) -> bool:
        return all(n in self.by_name or n in self.by_descr for n in names)

    def find(self, name: str, *, bridged: bool) -> Interface | str:
        """The interface ``name`` stands for (among the bridge ports when ``bridged``), or why there is none."""
        holders = self.by_name.get(name) or self.by_descr.get(name) or []
        if not holders:
            return "does not exist on the switch (no interface has this ifName or ifDescr)"
        if bridged:
            shared = [bp for i in holders for bp in self.shared.get(i, ())]
            if shared:
                return (
                    f"is bridge ports {', '.join(map(str, sorted(shared)))} at once: refusing to guess which"
                )
            holders = [i for i in holders if self.by_index[i].bridge_port is not None]
            if not holders:
                return "is not a bridge port (no dot1dBasePortIfIndex maps to it)"
        if len(holders) > 1:
            where = "bridge ports" if bridged else "interfaces"
            return f"names several {where} (ifIndex {', '.join(map(str, sorted(holders)))}): refusing to guess which"
        return self.by_index[holders[0]]

    def port(self, name: str, *, bridged: bool) -> Interface | str:
        """The interface ``name`` stands for when it can be an access port, or why not (see ``find``; and a link
        aggregation is never one)."""
        found = self.find(name, bridged=bridged)
        if isinstance(found, str):
            return found
        return found.aggregation() or found


def interfaces_of(
    names: Mapping[int, str], descrs: Mapping[int, str], types: Mapping[int, int], bridge: Mapping[int, int]
) -> Interfaces:
    """The interfaces from their columns (ifIndex -> ifName, ifDescr, ifType) and the bridge-port map (bridge
    port -> ifIndex; a bridge port mapped to ifIndex 0 or to no interface is nobody's)."""
    ports_of: dict[int, list[int]] = {}
    for bp, if_index in bridge.items():
        ports_of.setdefault(if_index, []).append(bp)
    table = Interfaces({}, dict(bridge))
    for if_index in sorted(set(names) | set(descrs)):
        name, descr = names.get(if_index, ""), descrs.get(if_index, "")
        bps = ports_of.get(if_index, [])
        if len(bps) > 1:
            table.shared[if_index] = sorted(bps)
        interface = Interface(
            if_index, name or descr, descr, types.get(if_index), bps[0] if len(bps) == 1 else None
        )
        table.by_index[if_index] = interface
        if name:
            table.by_name.setdefault(name, []).append(if_index)
        if descr and descr != name:
            table.by_descr.setdefault(descr, []).append(if_index)
    return table


async def read_interfaces(session: SnmpSession, *, bridged: bool) -> Interfaces:
    """Walk the switch's interfaces (and its bridge-port map when ``bridged``)."""
    columns = [IF_NAME, IF_DESCR, IF_TYPE] + ([DOT1D_BASE_PORT_IFINDEX] if bridged else [])
    walked = await session.walk(columns)

    def column(oid: Oid) -> dict[int, object]:
        return {suffix[0]: value for suffix, value in walked.get(oid, []) if len(suffix) == 1}

    return interfaces_of(
        {i: text_of(v) for i, v in column(IF_NAME).items()},
        {i: text_of(v) for i, v in column(IF_DESCR).items()},
        {i: int(v) for i, v in column(IF_TYPE).items()},  # type: ignore[call-overload]
        {bp: int(v) for bp, v in column(DOT1D_BASE_PORT_IFINDEX).items()},  # type: ignore[call-overload]
    )
