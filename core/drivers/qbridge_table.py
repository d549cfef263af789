"""The Q-BRIDGE VLAN table as the snmp_qbridge driver reads it (static or current, every row at every time mark,
bitmaps or text lists), what it says about one bridge port, and the member lists a move writes into it.

Everything here is pure: the driver reads, these functions decide. A port is decided from its own bits only:
bits of ports the switch does not have, and octets past a list's garbled start, never make a port of their own,
and a list garbled at one port's bit leaves the other ports readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from . import portlist
from .base import PortChange, PortState

Source = Literal["static", "current", "none"]
Format = Literal["bitmap", "text"]

TABLE_NAMES = {"static": "dot1qVlanStaticTable", "current": "dot1qVlanCurrentTable"}

# Junos answers dot1qVlanStaticEgressPorts with "3,4434,4443": bridge-port numbers as text, not a bitmap
_TEXT_LIST = re.compile(rb"[0-9]+(,[0-9]+)*")


@dataclass(frozen=True, slots=True)
class MemberList:
    """One VLAN's egress or untagged list, as the switch sent it."""

    octets: bytes
    text: bool = False
    garbled_from: int | None = field(init=False, default=None)
    """The first octet that is text rather than bits (see ``portlist.text_from``), for a bitmap."""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "garbled_from", portlist.text_from(self.octets))

    def holds(self, port: int) -> bool | None:
        """Whether bridge port ``port`` is in the list; None where the list is garbled at the port's bit."""
        if self.text:
            return port in _decode_text(self.octets)
        if self.garbled_from is not None and (port - 1) // 8 >= self.garbled_from:
            return None
        return portlist.holds(self.octets, port)


@dataclass(frozen=True, slots=True)
class Row:
    """A VLAN's row: at time mark 0 in the static table, at its time mark in the current table."""

    vid: int
    mark: int
    egress: MemberList
    untagged: MemberList


@dataclass(slots=True)
class VlanTable:
    """Every VLAN's member lists, from the static table when the switch has one, else from the current table."""

    source: Source
    format: Format = "bitmap"
    rows: list[Row] = field(default_factory=list)
    unreadable: str = ""
    """Why no member list can be read at all (the lists' format cannot be told), if so."""

    @property
    def vids(self) -> set[int]:
        return {row.vid for row in self.rows}

    @property
    def name(self) -> str:
        return TABLE_NAMES.get(self.source, "no VLAN table")

    def membership(self, port: int) -> tuple[set[int], set[int]] | str:
        """(the VLANs ``port`` is untagged in, those it is tagged in), or why its bits cannot be read: a list
        garbled at its bit, rows of one VLAN at different time marks that disagree about it, or an untagged
        member missing from the VLAN's egress list."""
        seen: dict[int, tuple[bool, bool, int]] = {}
        for row in self.rows:
            egress, untagged = row.egress.holds(port), row.untagged.holds(port)
            if egress is None or untagged is None:
                return f"cannot be read from VLAN {row.vid}'s member lists in {self.name}: they are garbled there"
            earlier = seen.get(row.vid)
            if earlier is not None and earlier[:2] != (egress, untagged):
                return (
                    f"is not where {self.name} says: VLAN {row.vid}'s rows at time marks {earlier[2]} and "
                    f"{row.mark} disagree about it"
                )
            seen[row.vid] = (egress, untagged, row.mark)
        untagged_in: set[int] = set()
        tagged_in: set[int] = set()
        for vid, (egress, untagged, _) in seen.items():
            if untagged and not egress:
                return f"is an untagged member of VLAN {vid} but not in its egress list ({self.name})"
            if untagged:
                untagged_in.add(vid)
            elif egress:
                tagged_in.add(vid)
        return untagged_in, tagged_in


def table_of(
    source: Source,
    egress: Mapping[tuple[int, int], bytes],
    untagged: Mapping[tuple[int, int], bytes],
    bridge_ports: frozenset[int],
    *,
    option: str = "auto",
) -> VlanTable:
    """The table from its two columns, keyed by (time mark, vid) (mark 0 in the static table)."""
    keys = sorted(set(egress) | set(untagged), key=lambda k: (k[1], k[0]))
    raw = {k: (egress.get(k, b""), untagged.get(k, b"")) for k in keys}
    try:
        fmt = member_list_format(raw.values(), bridge_ports, option=option, table=TABLE_NAMES[source])
    except ValueError as exc:
        return VlanTable(source, "bitmap", [], unreadable=str(exc))
    text = fmt == "text"
    for (_, vid), pair in raw.items():
        bad = [octets for octets in pair if text and octets and not _TEXT_LIST.fullmatch(octets)]
        if bad:  # portlist_format = "text" on a switch that sends bitmaps
            return VlanTable(
                source, fmt, [], unreadable=f"VLAN {vid}: not a text list of bridge ports: {bad[0][:40]!r}"
            )
    rows = [Row(vid, mark, MemberList(e, text), MemberList(u, text)) for (mark, vid), (e, u) in raw.items()]
    return VlanTable(source, fmt, rows)


def member_list_format(
    lists: Iterable[tuple[bytes, bytes]], bridge_ports: frozenset[int], *, option: str, table: str
) -> Format:
    """How the switch writes its member lists (pairs of egress, untagged): bitmaps (RFC 4363) or text lists of
    bridge ports (Junos). By the ``portlist_format`` option, or with ``auto``: text when every list reads as
    digits and commas and one has a comma, or when only the text reading names the switch's bridge ports;
    raises ValueError when the option is unknown, or when both readings fit."""
    if option in ("bitmap", "text"):
        return "text" if option == "text" else "bitmap"
    if option != "auto":
        raise ValueError(f"the switch option portlist_format = {option!r} is not auto, bitmap or text")
    values = [octets for pair in lists for octets in pair if octets]
    if not values or not all(_TEXT_LIST.fullmatch(v) for v in values):
        return "bitmap"  # some list has a byte that text never has: bitmaps
    if any(b"," in v for v in values):
        return "text"  # a bitmap of digits and commas only would be a strange set of ports
    as_text = set().union(*(_decode_text(v) for v in values)) - {0}
    as_bits = set().union(*(portlist.decode(v) for v in values))
    text_fits, bits_fit = as_text <= bridge_ports, as_bits <= bridge_ports
    if text_fits and not bits_fit:
        return "text"
    if bits_fit and not text_fits:
        return "bitmap"
    raise ValueError(
        f"cannot tell whether the member lists of {table} are bitmaps or text lists of bridge ports "
        '(set the switch option portlist_format = "bitmap" or "text")'
    )


def _decode_text(octets: bytes) -> frozenset[int]:
    """Bridge-port numbers from a text list such as ``3,4434,4443``; empty for an empty value."""
    if not octets:
        return frozenset()
    if not _TEXT_LIST.fullmatch(octets):
        raise ValueError(f"not a text list of bridge ports: {octets[:40]!r}")
    return frozenset(int(part) for part in octets.split(b","))


NO_TABLE = (
    "the switch has neither dot1qVlanStaticTable nor dot1qVlanCurrentTable, and dot1qPvid alone cannot tell an "
    "access port from a trunk (a trunk's native VLAN is its PVID too; use a CLI driver)"
)


def port_state(table: VlanTable, bridge_port: int, pvid: int | None) -> PortState:
    """A port's state from the VLAN table and its dot1qPvid (None: the port has no dot1qPvid row). A tagged
    member of any VLAN is a trunk; an untagged member of exactly one VLAN is an access port of it, and its PVID
    (when it has one) must agree; anything else is refused, with the reason."""
    if table.source == "none":
        return PortState(None, refused=f"cannot be told: {NO_TABLE}")
    if table.unreadable:
        return PortState(None, refused=f"cannot be told: {table.unreadable}")
    membership = table.membership(bridge_port)
    if isinstance(membership, str):
        return PortState(None, refused=membership)
    untagged_in, tagged_in = membership
    if tagged_in:
        return PortState(None, trunk=True)
    if len(untagged_in) == 1:
        (vid,) = untagged_in
        if pvid is not None and pvid != vid:
            return PortState(None, refused=f"is an untagged member of VLAN {vid} but has dot1qPvid {pvid}")
        return PortState(vid)
    if untagged_in:
        vids = ", ".join(str(v) for v in sorted(untagged_in))
        return PortState(None, refused=f"is an untagged member of several VLANs ({vids})")
    if pvid is None:
        return PortState(None, refused="has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown")
    return PortState(None, refused=f"has dot1qPvid {pvid} but is a member of no VLAN: its VLAN is unknown")


def write_problem(table: VlanTable, bridge_port: int) -> str | None:
    """Why a move must not write ``bridge_port``'s bits, if so: a trunk (tagged in a VLAN), or bits that cannot
    be read. A port whose lists and PVID disagree may be written: the move makes them agree (a rollback does)."""
    membership = table.membership(bridge_port)
    if isinstance(membership, str):
        return membership
    _, tagged_in = membership
    if tagged_in:
        return f"is a trunk, a tagged member of VLAN {', '.join(map(str, sorted(tagged_in)))}"
    return None


@dataclass(slots=True)
class MemberLists:
    """The static table's member lists per VLAN, updated as each PDU is built: two target VLANs may share an old
    one. Every bit but the moving ports' is written back as read, bits of ports the switch lacks included."""

    egress: dict[int, bytes]
    untagged: dict[int, bytes]
    size: int
    """Lists are written at the longest length the switch uses (some refuse others with wrongLength)."""

    @classmethod
    def of(cls, table: VlanTable) -> MemberLists:
        return cls(
            {row.vid: row.egress.octets for row in table.rows},
            {row.vid: row.untagged.octets for row in table.rows},
            max((len(o) for row in table.rows for o in (row.egress.octets, row.untagged.octets)), default=0),
        )

    def sized(self, octets: bytes) -> bytes:
        return octets + bytes(self.size - len(octets)) if len(octets) < self.size else octets

    def move(
        self, tag: int, group: Sequence[PortChange], bridge: Mapping[str, int]
    ) -> list[tuple[str, int, bytes]]:
        """(column, vid, list) to write so that ``group``'s ports leave every VLAN they are a member of, then
        join VLAN ``tag``, untagged (column: ``egress`` or ``untagged``)."""
        moving = {bridge[c.port] for c in group}
        out: list[tuple[str, int, bytes]] = []
        for vid in sorted(set(self.egress) | set(self.untagged)):
            if vid == tag:
                continue
            for column, lists in (("egress", self.egress), ("untagged", self.untagged)):
                held = {bp for bp in moving if portlist.holds(lists.get(vid, b""), bp)}
                if held:
                    lists[vid] = self.sized(portlist.update(lists[vid], remove=held))
                    out.append((column, vid, lists[vid]))
        for column, lists in (("egress", self.egress), ("untagged", self.untagged)):
            lists[tag] = self.sized(portlist.update(lists.get(tag, b""), add=moving))
            out.append((column, tag, lists[tag]))
        return out
