"""The ground truth of a switch recording (.snmprec): per port, its access VLAN, or why it is not an access port
or its VLAN cannot be told, computed from the file alone.

Nothing here imports the drivers: this module has its own .snmprec parser and its own PortList decoding, so that
a test comparing a driver with it compares two independent readings of the same data. It reads the values as
snmpsim serves them (a line is stripped; ``4x`` is hex, an odd last digit padded with 0; ``4`` is the line's
bytes), since that is what the drivers see.

A port's truth, on a Q-BRIDGE switch: a link aggregation is not an access port; a port whose membership cannot be
read (no VLAN table, a garbled list, current-table rows that disagree) is unknown; a tagged member of any VLAN is a
trunk; an untagged member of exactly one VLAN that is also in its egress list is an access port of it, unless
its dot1qPvid says another VLAN; anything else is unknown. On a Cisco switch (vmVlan): a port-channel is an
aggregation; a port the trunk table says is trunking is a trunk; a port with no trunk state, or negotiating, is
unknown; otherwise the port's vmVlan, when it has one that is a VLAN.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Oid = tuple[int, ...]

SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)
IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_TYPE: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
BRIDGE_PORT_IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
CURRENT_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 4)
CURRENT_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 5)
STATIC_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
STATIC_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
PVID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)
VM_VLAN: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 68, 1, 2, 2, 1, 2)
VTP_VLAN_STATE: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 3, 1, 1, 2)
TRUNK_DYNAMIC_STATUS: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 6, 1, 1, 13)
TRUNK_ENCAPSULATION: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 6, 1, 1, 16)

JUNIPER: Oid = (1, 3, 6, 1, 4, 1, 2636)
LAG_TYPE = 161  # ieee8023adLag
VENDOR_LAG_TYPES = (53, 54)  # propVirtual, propMultiplexor: Cisco port-channels, HP trunks, Ruijie aggregates
LAG_NAME = re.compile(r"port-?channel|^po ?\d|^trk\d|^ag\d|aggregate|eth-trunk|^lag ?\d|^ae\d|^bond", re.I)
# a value that a recorder turned into text: "ff ff f8 ...", or real octets followed by "\n00 00 ..."
TEXT_DUMP = re.compile(rb"\A[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})+ ?\Z|\n(?:[0-9A-Fa-f]{2} )+")

Kind = Literal["access", "trunk", "lag", "unknown"]


@dataclass(frozen=True, slots=True)
class Value:
    tag: str
    """The type tag without its encoding suffix: ``2`` INTEGER, ``4`` OCTET STRING, ``66`` Gauge32..."""
    octets: bytes


@dataclass(frozen=True, slots=True)
class Port:
    """One port's truth: an access port of ``vlan``, or another kind with the reason."""

    name: str
    kind: Kind
    vlan: int | None = None
    why: str = ""


def read_snmprec(path: Path) -> dict[Oid, Value]:
    """Every line of a recording, as snmpsim serves it."""
    rows: dict[Oid, Value] = {}
    for raw in path.read_bytes().split(b"\n"):
        line = raw.decode("iso-8859-1").strip()  # snmpsim strips each line, CR included
        if not line:
            continue
        oid, tag, value = line.split("|", 2)
        tag, _, variation = tag.partition(":")
        if variation:  # a writecache line (a test's writable copy): its value before any write
            settings = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
            tag, value = (
                (tag + "x", settings["hexvalue"]) if "hexvalue" in settings else (tag, settings["value"])
            )
        rows[tuple(int(x) for x in oid.split("."))] = Value(tag.removesuffix("x"), _octets(tag, value))
    return rows


def _octets(tag: str, value: str) -> bytes:
    if tag.endswith("x"):
        digits = value + "0" * (len(value) % 2)  # pyasn1 pads an odd hex string
        return bytes(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))
    return value.encode("iso-8859-1")


class Recording:
    """One .snmprec file and what its ports are."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.rows = read_snmprec(path)
        self._columns: dict[Oid, dict[Oid, Value]] = {}
        self._ports: dict[str, Port] | None = None

    def column(self, prefix: Oid) -> dict[Oid, Value]:
        if prefix not in self._columns:
            n = len(prefix)
            self._columns[prefix] = {oid[n:]: v for oid, v in self.rows.items() if oid[:n] == prefix}
        return self._columns[prefix]

    def numbers(self, prefix: Oid) -> dict[int, int]:
        """A column indexed by one number, of numbers."""
        return {k[0]: int(v.octets) for k, v in self.column(prefix).items() if len(k) == 1}

    def texts(self, prefix: Oid) -> dict[int, str]:
        return {
            k[0]: v.octets.decode("utf-8", "replace") for k, v in self.column(prefix).items() if len(k) == 1
        }

    @property
    def cisco(self) -> bool:
        """Whether the switch says where its ports are with vmVlan (the snmp_cisco driver's)."""
        return bool(self.column(VM_VLAN))

    @property
    def juniper(self) -> bool:
        oid = self.rows.get(SYS_OBJECT_ID)
        return oid is not None and oid.octets.decode().startswith(".".join(map(str, JUNIPER)) + ".")

    def ports(self) -> dict[str, Port]:
        """The truth of every port a driver is asked about, by name."""
        if self._ports is None:
            self._ports = _cisco_ports(self) if self.cisco else _qbridge_ports(self)
        return self._ports


@functools.cache
def recording(path: Path) -> Recording:
    """The recording at ``path``, parsed once per process (the corpus sweep asks for each several times)."""
    return Recording(path)


# --- names -----------------------------------------------------------------------------------------------


class _Names:
    """Interface names: ifName first, ifDescr where an interface has no ifName; a name several interfaces hold
    is ambiguous."""

    def __init__(self, rec: Recording) -> None:
        self.if_name = {i: n for i, n in rec.texts(IF_NAME).items() if n}
        self.if_descr = {i: n for i, n in rec.texts(IF_DESCR).items() if n}
        self.if_type = rec.numbers(IF_TYPE)

    def name(self, if_index: int) -> str | None:
        return self.if_name.get(if_index) or self.if_descr.get(if_index)

    def holders(self, name: str) -> set[int]:
        by_name = {i for i, n in self.if_name.items() if n == name}
        return by_name or {i for i, n in self.if_descr.items() if n == name}

    def aggregation(self, if_index: int) -> str | None:
        kind = self.if_type.get(if_index)
        if kind == LAG_TYPE:
            return "is a link aggregation (ifType ieee8023adLag)"
        names = (self.if_name.get(if_index, ""), self.if_descr.get(if_index, ""))
        if kind in VENDOR_LAG_TYPES and any(LAG_NAME.search(n) for n in names):
            return f"is a link aggregation ({names[0] or names[1]}, ifType {kind})"
        return None


# --- Q-BRIDGE ---------------------------------------------------------------------------------------------


def _bits(octets: bytes, port: int) -> bool:
    index = (port - 1) // 8
    return index < len(octets) and bool(octets[index] & (0x80 >> ((port - 1) % 8)))


def _garbled_from(octets: bytes) -> int | None:
    """The first octet of ``octets`` that is text rather than bits, if any."""
    found = TEXT_DUMP.search(octets)
    return None if found is None else found.start()


@dataclass(frozen=True, slots=True)
class _List:
    """A VLAN's member list: a bitmap (possibly garbled from some octet on) or a text list of bridge ports."""

    octets: bytes
    text: bool

    def holds(self, port: int) -> bool | None:
        """Whether ``port`` is in the list; None where the list is garbled there."""
        if self.text:
            return str(port).encode() in self.octets.split(b",")
        start = _garbled_from(self.octets)
        if start is not None and (port - 1) // 8 >= start:
            return None
        return _bits(self.octets, port)


@dataclass(frozen=True, slots=True)
class _Row:
    vid: int
    mark: int
    egress: _List
    untagged: _List


def _table(rec: Recording) -> tuple[str, list[_Row]]:
    """The rows of the static table when it has any, else of the current table (every time mark)."""
    text = rec.juniper  # Junos writes member lists as "3,4434,4443"
    for name, egress_col, untagged_col, index in (
        ("dot1qVlanStaticTable", STATIC_EGRESS, STATIC_UNTAGGED, 1),
        ("dot1qVlanCurrentTable", CURRENT_EGRESS, CURRENT_UNTAGGED, 2),
    ):
        egress, untagged = rec.column(egress_col), rec.column(untagged_col)
        keys = sorted({k for k in (*egress, *untagged) if len(k) == index})
        if keys:
            empty = Value("4", b"")
            rows = [
                _Row(
                    k[-1],
                    k[0] if index == 2 else 0,
                    _List(egress.get(k, empty).octets, text),
                    _List(untagged.get(k, empty).octets, text),
                )
                for k in keys
            ]
            return name, rows
    return "", []


def _membership(rows: list[_Row], port: int) -> tuple[set[int], set[int], str]:
    """(untagged in, tagged in, why unknown) for a bridge port, from every row of the table."""
    untagged: set[int] = set()
    tagged: set[int] = set()
    seen: dict[int, tuple[bool, bool, int]] = {}
    for row in rows:
        e, u = row.egress.holds(port), row.untagged.holds(port)
        if e is None or u is None:
            return set(), set(), f"the member lists of VLAN {row.vid} are garbled where this port's bit is"
        earlier = seen.get(row.vid)
        if earlier is not None and earlier[:2] != (e, u):
            return (
                set(),
                set(),
                (
                    f"the rows of VLAN {row.vid} at time marks {earlier[2]} and {row.mark} disagree about this port"
                ),
            )
        seen[row.vid] = (e, u, row.mark)
    for vid, (e, u, _) in seen.items():
        if u and not e:
            return set(), set(), f"is untagged in VLAN {vid} but not in its egress list"
        if u:
            untagged.add(vid)
        elif e:
            tagged.add(vid)
    return untagged, tagged, ""


def _qbridge_port(name: str, port: int, if_index: int, rec: Recording, ctx: _QContext) -> Port:
    lag = ctx.names.aggregation(if_index)
    if lag:
        return Port(name, "lag", why=lag)
    if not ctx.rows:
        return Port(name, "unknown", why="the switch has no VLAN table: a PVID alone cannot tell a trunk")
    untagged, tagged, why = _membership(ctx.rows, port)
    if why:
        return Port(name, "unknown", why=why)
    if tagged:
        return Port(name, "trunk", why=f"tagged in VLAN {sorted(tagged)}")
    pvid = ctx.pvids.get(port)
    if len(untagged) == 1:
        (vid,) = untagged
        if pvid is not None and pvid != vid:
            return Port(name, "unknown", why=f"untagged in VLAN {vid}, dot1qPvid {pvid}")
        return Port(name, "access", vid)
    if untagged:
        return Port(name, "unknown", why=f"untagged in VLANs {sorted(untagged)}")
    return Port(name, "unknown", why=f"in no VLAN (dot1qPvid {pvid})")


@dataclass(frozen=True, slots=True)
class _QContext:
    names: _Names
    rows: list[_Row]
    pvids: dict[int, int]


def _qbridge_ports(rec: Recording) -> dict[str, Port]:
    names = _Names(rec)
    bridge = rec.numbers(BRIDGE_PORT_IF_INDEX)  # bridge port -> ifIndex
    _, rows = _table(rec)
    ctx = _QContext(names, rows, rec.numbers(PVID))
    bridged = set(bridge.values())
    out: dict[str, Port] = {}
    for port, if_index in sorted(bridge.items()):
        name = names.name(if_index)
        if name is None or name in out:
            continue  # a bridge port with no interface name cannot be asked for
        holders = names.holders(name) & bridged
        ports = [p for p, i in bridge.items() if i in holders]
        if len(ports) > 1:
            out[name] = Port(name, "unknown", why=f"the name is held by bridge ports {sorted(ports)}")
            continue
        out[name] = _qbridge_port(name, port, if_index, rec, ctx)
    return out


# --- Cisco -------------------------------------------------------------------------------------------------

TRUNKING, NOT_TRUNKING = 1, 2
TRUNK_ENCAPSULATIONS = (1, 2, 3, 4)  # isl, dot10, lane, dot1Q
NEGOTIATING, NOT_APPLICABLE = 5, 6


def _cisco_port(name: str, if_index: int, rec: Recording, names: _Names) -> Port:
    lag = names.aggregation(if_index)
    if lag:
        return Port(name, "lag", why=lag)
    dynamic = rec.numbers(TRUNK_DYNAMIC_STATUS).get(if_index)
    encapsulation = rec.numbers(TRUNK_ENCAPSULATION).get(if_index)
    if dynamic == TRUNKING or encapsulation in TRUNK_ENCAPSULATIONS:
        return Port(name, "trunk", why="trunking (vlanTrunkPortTable)")
    if dynamic != NOT_TRUNKING and encapsulation != NOT_APPLICABLE:
        return Port(name, "unknown", why=f"trunk state unknown (encapsulation {encapsulation})")
    vm_vlan = rec.numbers(VM_VLAN).get(if_index)
    if vm_vlan is None:
        return Port(name, "unknown", why="no vmVlan")
    if not 1 <= vm_vlan <= 4094:
        return Port(name, "unknown", why=f"vmVlan {vm_vlan}")
    return Port(name, "access", vm_vlan)


def _cisco_ports(rec: Recording) -> dict[str, Port]:
    names = _Names(rec)
    candidates = (
        set(rec.numbers(VM_VLAN))
        | set(rec.numbers(TRUNK_ENCAPSULATION))
        | set(rec.numbers(BRIDGE_PORT_IF_INDEX).values())
    )
    out: dict[str, Port] = {}
    for if_index in sorted(candidates):
        name = names.name(if_index)
        if name is None or name in out:
            continue
        if len(names.holders(name)) > 1:
            out[name] = Port(
                name, "unknown", why=f"the name is held by ifIndexes {sorted(names.holders(name))}"
            )
            continue
        out[name] = _cisco_port(name, if_index, rec, names)
    return out


def vtp_states(rec: Recording, domain: int = 1) -> dict[int, int]:
    """vid -> vtpVlanState in ``domain``."""
    return {
        k[1]: int(v.octets) for k, v in rec.column(VTP_VLAN_STATE).items() if len(k) == 2 and k[0] == domain
    }


def bridge_ports(rec: Recording) -> dict[int, int]:
    """bridge port -> ifIndex."""
    return rec.numbers(BRIDGE_PORT_IF_INDEX)


def bridge_port_of(rec: Recording, name: str) -> int | None:
    """The bridge port a name stands for (one holder among the bridge ports)."""
    names = _Names(rec)
    bridge = bridge_ports(rec)
    holders = names.holders(name)
    ports = [p for p, i in bridge.items() if i in holders]
    return ports[0] if len(ports) == 1 else None


def if_index_of(rec: Recording, name: str) -> int | None:
    holders = _Names(rec).holders(name)
    return next(iter(holders)) if len(holders) == 1 else None


def table_name(rec: Recording) -> str:
    return _table(rec)[0]


def vlan_rows(rec: Recording) -> list[tuple[int, int, bytes, bytes]]:
    """(vid, time mark, egress, untagged) of the table the truth reads, as served."""
    return [(r.vid, r.mark, r.egress.octets, r.untagged.octets) for r in _table(rec)[1]]
