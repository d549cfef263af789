"""The snmp_qbridge driver: access VLANs of a standards switch through Q-BRIDGE-MIB (RFC 4363) over SNMP 2c or 3."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..model import Switch
from . import portlist
from .base import DriverContext, PortChange, PortState
from .snmp_session import (
    MAX_VID,
    Gauge,
    Oid,
    SnmpDriver,
    SnmpSession,
    name_objects,
    names_of,
    none,
    object_name,
    parse_address,
    present,
    problems_sentence,
    settle,
    text_of,
)

__all__ = ["SnmpQBridgeDriver", "object_name", "parse_address"]

IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
DOT1D_BASE_PORT_IFINDEX: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
VLAN_CURRENT_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 4)
VLAN_CURRENT_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 5)
VLAN_STATIC_NAME: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 1)
VLAN_STATIC_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
VLAN_STATIC_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
VLAN_STATIC_ROW_STATUS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 5)
PVID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)

name_objects(
    {
        DOT1D_BASE_PORT_IFINDEX: "dot1dBasePortIfIndex",
        VLAN_CURRENT_EGRESS: "dot1qVlanCurrentEgressPorts",
        VLAN_CURRENT_UNTAGGED: "dot1qVlanCurrentUntaggedPorts",
        VLAN_STATIC_NAME: "dot1qVlanStaticName",
        VLAN_STATIC_EGRESS: "dot1qVlanStaticEgressPorts",
        VLAN_STATIC_UNTAGGED: "dot1qVlanStaticUntaggedPorts",
        VLAN_STATIC_ROW_STATUS: "dot1qVlanStaticRowStatus",
        PVID: "dot1qPvid",
    }
)

ACTIVE, CREATE_AND_GO = 1, 4
NAME_MAX = 32

Source = Literal["static", "current", "none"]
Format = Literal["bitmap", "text"]

# Junos answers dot1qVlanStaticEgressPorts with "3,4434,4443": bridge-port numbers as text, not a bitmap
_TEXT_LIST = re.compile(rb"[0-9]+(,[0-9]+)*")


@dataclass(frozen=True, slots=True)
class _Port:
    name: str
    if_index: int
    bridge_port: int | None


@dataclass(slots=True)
class _VlanTable:
    """Every VLAN's member ports, from the static table when the switch has one, else from the current table."""

    source: Source
    format: Format = "bitmap"
    raw: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    """vid -> (egress, untagged) as the switch sent them."""
    untagged_in: dict[int, set[int]] = field(default_factory=dict)
    """bridge port -> the VLANs it is an untagged member of."""
    tagged_in: dict[int, set[int]] = field(default_factory=dict)
    """bridge port -> the VLANs it is a tagged member of."""


@dataclass(frozen=True, slots=True)
class _Pdu:
    """One SET PDU of a batch: its varbinds, the ports it moves, and what it does (for the switch's refusal)."""

    varbinds: list[tuple[Oid, Any]]
    ports: list[str]
    doing: str


@dataclass(slots=True)
class _MemberLists:
    """The switch's member lists per VLAN, updated as each PDU is built: two target VLANs may share an old one."""

    egress: dict[int, bytes]
    untagged: dict[int, bytes]
    size: int
    """Lists are written at the longest length the switch uses (some refuse others with wrongLength)."""

    @classmethod
    def of(cls, table: _VlanTable) -> _MemberLists:
        return cls(
            {vid: e for vid, (e, _) in table.raw.items()},
            {vid: u for vid, (_, u) in table.raw.items()},
            max((len(octets) for pair in table.raw.values() for octets in pair), default=0),
        )

    def sized(self, octets: bytes) -> bytes:
        return octets + bytes(self.size - len(octets)) if len(octets) < self.size else octets

    def move(self, tag: int, group: Sequence[PortChange], bridge: Mapping[str, int]) -> list[tuple[Oid, Any]]:
        """The varbinds that take ``group``'s ports out of every VLAN they are untagged in (and out of the VLAN
        the caller believes they left), then into VLAN ``tag``, untagged."""
        moving = {bridge[c.port] for c in group}
        varbinds: list[tuple[Oid, Any]] = []
        old_vids = {vid for vid, u in self.untagged.items() if vid != tag and portlist.decode(u) & moving}
        old_vids |= {c.old_tag for c in group if c.old_tag != tag and c.old_tag in self.egress}
        for vid in sorted(old_vids):
            leaving = {bp for bp in moving if bp in portlist.decode(self.untagged[vid])}
            leaving |= {bridge[c.port] for c in group if c.old_tag == vid}
            varbinds += self._update(VLAN_STATIC_EGRESS, self.egress, vid, remove=leaving)
            varbinds += self._update(VLAN_STATIC_UNTAGGED, self.untagged, vid, remove=leaving)
        self.egress[tag] = self.sized(portlist.update(self.egress[tag], add=moving))
        self.untagged[tag] = self.sized(portlist.update(self.untagged[tag], add=moving))
        varbinds.append(((*VLAN_STATIC_EGRESS, tag), self.egress[tag]))
        varbinds.append(((*VLAN_STATIC_UNTAGGED, tag), self.untagged[tag]))
        return varbinds

    def _update(
        self, column: Oid, lists: dict[int, bytes], vid: int, *, remove: set[int]
    ) -> list[tuple[Oid, Any]]:
        """The varbind that takes ``remove`` out of VLAN ``vid``'s list, if that changes it."""
        new = self.sized(portlist.update(lists[vid], remove=remove))
        if portlist.same(new, lists[vid]):
            return []
        lists[vid] = new
        return [((*column, vid), new)]


class SnmpQBridgeDriver(SnmpDriver):
    """Ports are named by ifName; VLAN membership is written in the static VLAN table, then the PVIDs.

    Reads take membership from dot1qVlanStaticTable, or from the read-only dot1qVlanCurrentTable on switches
    that only have that one (ProCurve KA, TP-Link, Dell OS10). A port that is a tagged member of any VLAN is a
    trunk; an untagged member of exactly one VLAN is an access port of it, and its dot1qPvid must agree. Where
    the switch does not say enough to know a port's VLAN (no membership table at all, as on ArubaOS-CX; a port
    in no VLAN and without PVID) the driver raises instead of guessing.

    Options, besides the session's (see ``SnmpDriver``): ``detect_trunks`` (default true: read the VLAN table
    with every read, to report tagged members as trunks; false trusts dot1qPvid once the switch is known to
    have a VLAN table), ``portlist_format`` (``auto``, ``bitmap`` or ``text``: how the switch writes member
    lists; auto tells Junos-style text lists from bitmaps).
    """

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        opts = switch.options
        self.detect_trunks = bool(opts.get("detect_trunks", True))
        self.portlist_format = str(opts.get("portlist_format", "auto")).lower()
        self._ports: dict[str, _Port] | None = None
        self._bridge_ports: frozenset[int] = frozenset()
        self._has_pvid: bool | None = None
        self._source: Source | None = None
        self._batch_table: _VlanTable | None = None
        self._written = False
        """Whether this batch wrote to the switch: a read before any write is the plan's, one after is a read-back."""
        self._table_rows: int | None = None
        """How many VLANs the table had at the last walk: the next walk asks for that many (plus one) at once."""

    # --- the port map ---------------------------------------------------------------------------------

    async def _port_map(self, names: Iterable[str]) -> dict[str, _Port]:
        """ifName -> ifIndex -> bridge port for ``names``, read once per switch (again if a name is new)."""
        wanted = list(dict.fromkeys(names))
        if self._ports is None or any(n not in self._ports for n in wanted):
            session = await self._open()
            columns = await session.walk([IF_NAME, DOT1D_BASE_PORT_IFINDEX])
            by_if_index: dict[int, int] = {}
            for suffix, value in columns[DOT1D_BASE_PORT_IFINDEX]:
                if len(suffix) == 1 and value is not None:
                    by_if_index[int(value)] = suffix[0]
            ports: dict[str, _Port] = {}
            for suffix, value in columns[IF_NAME]:
                if len(suffix) != 1 or value is None:
                    continue
                name = text_of(value)
                if name and name not in ports:  # the first interface of a name wins, as on the switch's CLI
                    ports[name] = _Port(name, suffix[0], by_if_index.get(suffix[0]))
            if not ports:
                raise self._error(
                    f"the switch at {self.switch.address} lists no interfaces (ifName is empty)"
                )
            self._ports = ports
            self._bridge_ports = frozenset(by_if_index.values())
        unknown = [n for n in wanted if n not in self._ports]
        if unknown:
            raise self._error(f"no interface named {names_of(unknown)} (ifName)", unknown)
        not_bridged = [n for n in wanted if self._ports[n].bridge_port is None]
        if not_bridged:
            raise self._error(
                f"{names_of(not_bridged)} is not a bridge port (no dot1dBasePortIfIndex)", not_bridged
            )
        return {n: self._ports[n] for n in wanted}

    # --- reads -------------------------------------------------------------------------------------------

    def end_batch(self) -> None:
        self._batch_table = None
        self._written = False

    async def _vlan_table(self, session: SnmpSession) -> _VlanTable:
        """Every VLAN's members: the static table if the switch has one, else the current table; read once per
        batch (a move holds the switch's lock from its read to its write), and again after every write."""
        if self.in_batch and self._batch_table is not None:
            return self._batch_table
        table = await self._read_vlan_table(session)
        self._batch_table = table if self.in_batch else None
        return table

    async def _read_vlan_table(self, session: SnmpSession) -> _VlanTable:
        if self._source in (None, "static"):
            columns = await session.walk(
                [VLAN_STATIC_EGRESS, VLAN_STATIC_UNTAGGED], rows_hint=self._table_rows
            )
            egress = _by_vid(columns[VLAN_STATIC_EGRESS], index_length=1)
            untagged = _by_vid(columns[VLAN_STATIC_UNTAGGED], index_length=1)
            if egress or untagged or self._source == "static":
                self._source = "static"
                self._table_rows = len(set(egress) | set(untagged))
                return self._table("static", egress, untagged)
        if self._source in (None, "current"):
            # indexed by (dot1qVlanTimeMark, vid); _by_vid keeps the lowest time mark, the one covering all changes
            columns = await session.walk(
                [VLAN_CURRENT_EGRESS, VLAN_CURRENT_UNTAGGED], rows_hint=self._table_rows
            )
            egress = _by_vid(columns[VLAN_CURRENT_EGRESS], index_length=2)
            untagged = _by_vid(columns[VLAN_CURRENT_UNTAGGED], index_length=2)
            if egress or untagged or self._source == "current":
                self._source = "current"
                self._table_rows = len(columns[VLAN_CURRENT_EGRESS])
                return self._table("current", egress, untagged)
        self._source = "none"
        return _VlanTable("none")

    def _table(self, source: Source, egress: dict[int, bytes], untagged: dict[int, bytes]) -> _VlanTable:
        raw = {
            vid: (egress.get(vid, b""), untagged.get(vid, b"")) for vid in sorted(set(egress) | set(untagged))
        }
        try:
            fmt = member_list_format(raw, self._bridge_ports, option=self.portlist_format, source=source)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        table = _VlanTable(source, fmt, raw)
        decode = _decode_text if fmt == "text" else portlist.decode
        for vid, (egress_list, untagged_list) in raw.items():
            try:
                untagged_ports, egress_ports = decode(untagged_list), decode(egress_list)
            except ValueError as exc:  # portlist_format = "text" on a switch that sends bitmaps
                raise self._error(f"VLAN {vid}: {exc}") from None
            for bp in untagged_ports:
                table.untagged_in.setdefault(bp, set()).add(vid)
            for bp in egress_ports - untagged_ports:
                table.tagged_in.setdefault(bp, set()).add(vid)
        return table

    async def _pvids(self, session: SnmpSession, bridge_ports: Sequence[int]) -> dict[int, int | None]:
        if self._has_pvid is False:
            return dict.fromkeys(bridge_ports)
        values = await session.get([(*PVID, bp) for bp in bridge_ports])
        pvids = {bp: None if values[(*PVID, bp)] is None else int(values[(*PVID, bp)]) for bp in bridge_ports}
        if any(v is not None for v in pvids.values()):
            self._has_pvid = True
        elif self._has_pvid is None:
            self._has_pvid = False  # a switch without dot1qPvid: tags come from the untagged PortLists
        return pvids

    def _no_table_reason(self) -> str:
        return (
            "the switch has neither dot1qVlanStaticTable nor dot1qVlanCurrentTable, and dot1qPvid alone cannot tell "
            "an access port from a trunk (a trunk's native VLAN is its PVID too): its port VLANs are unknown over "
            "Q-BRIDGE (use a CLI driver)"
        )

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        if not ports:
            return {}
        mapping = await self._port_map(ports)
        session = await self._open()
        bridge_ports = sorted({p.bridge_port for p in mapping.values() if p.bridge_port is not None})
        pvids, table = await self._membership(session, bridge_ports)
        if table is not None and table.source == "none":
            raise self._error(self._no_table_reason(), ports)
        out: dict[str, PortState] = {}
        problems: dict[str, str] = {}
        for name in ports:
            bp = mapping[name].bridge_port
            assert bp is not None
            state = port_state(table, bp, pvids.get(bp))
            if isinstance(state, str):
                problems[name] = state
            else:
                out[name] = state
        if problems:
            raise self._error(problems_sentence(problems), list(problems))
        return out

    async def _membership(
        self, session: SnmpSession, bridge_ports: Sequence[int]
    ) -> tuple[dict[int, int | None], _VlanTable | None]:
        """The PVIDs of ``bridge_ports`` and the VLAN table, each read only when it is needed to tell the ports'
        VLANs (the table is None when the PVIDs alone are trusted)."""
        # the table is skipped only when told to, and only once the switch is known to have one
        need_table = self.detect_trunks or self._source in (None, "none") or self._has_pvid is not True
        # a move's planning read (in its batch, before any write) trusts the static membership table; the PVIDs
        # are checked by the read-back of what it writes, and by every read outside a move (drift)
        plan_read = (
            self.in_batch and not self._written and self._has_pvid is True and self._source == "static"
        )
        table: _VlanTable | None
        if plan_read:
            table = await self._vlan_table(session)
            if all(len(table.untagged_in.get(bp, ())) == 1 or table.tagged_in.get(bp) for bp in bridge_ports):
                pvids: dict[int, int | None] = dict.fromkeys(bridge_ports)
            else:  # some port's VLAN needs its PVID to be told (or to be refused with the exact reason)
                pvids = await self._pvids(session, bridge_ports)
        else:
            pvids, table = await settle(
                [
                    self._pvids(session, bridge_ports),
                    self._vlan_table(session) if need_table else none(),
                ]
            )
        if table is None and any(v is None for v in pvids.values()):
            table = await self._vlan_table(session)  # some ports have no PVID after all
        return pvids, table

    # --- writes ------------------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[PortChange]) -> None:
        if not changes:
            return
        self._check_tags(changes)
        mapping = await self._port_map([c.port for c in changes])
        session = await self._open()
        bridge: dict[str, int] = {}
        for change in changes:
            bp = mapping[change.port].bridge_port
            assert bp is not None  # _port_map refuses ports that are not bridge ports
            bridge[change.port] = bp
        table = await self._writable_table(session, changes, bridge)
        pdus = self._membership_pdus(table, changes, bridge)
        self._batch_table = None  # the switch is about to change: a read-back must read it again
        self._written = True
        await self._send(session, pdus, changes, bridge)

    async def _writable_table(
        self, session: SnmpSession, changes: Sequence[PortChange], bridge: Mapping[str, int]
    ) -> _VlanTable:
        """The VLAN table this batch writes into; refused (naming the ports) where the switch's lists cannot be
        written over Q-BRIDGE, or where a port to move is a trunk."""
        if self._has_pvid is None:  # learn whether the switch has dot1qPvid, in the same round trip
            table, _ = await settle(
                [self._vlan_table(session), self._pvids(session, sorted(set(bridge.values())))]
            )
        else:
            table = await self._vlan_table(session)
        moved = [c.port for c in changes]
        if table.source == "none":
            raise self._error(self._no_table_reason(), moved)
        if table.source == "current":
            raise self._error(
                "the switch has no dot1qVlanStaticTable (only the read-only dot1qVlanCurrentTable): "
                "its VLAN membership cannot be written over Q-BRIDGE",
                moved,
            )
        if table.format == "text":
            raise self._error(
                'the switch lists VLAN members as text ("3,4434,...", as Junos does), not as PortList bitmaps: '
                "this driver cannot write them (use the ssh_cli driver)",
                moved,
            )
        trunks = {
            c.port: sorted(table.tagged_in[bridge[c.port]])
            for c in changes
            if table.tagged_in.get(bridge[c.port])
        }
        if trunks:
            shown = "; ".join(
                f"{port} (VLAN {', '.join(map(str, vids))})" for port, vids in list(trunks.items())[:5]
            )
            raise self._error(
                f"refusing to move trunk ports, tagged members of other VLANs: {shown}", list(trunks)
            )
        return table

    def _membership_pdus(
        self, table: _VlanTable, changes: Sequence[PortChange], bridge: Mapping[str, int]
    ) -> list[_Pdu]:
        """One SET PDU per target VLAN: the ports leave the VLANs they are in, and join the target untagged.
        Refused (naming the ports) when a target VLAN does not exist on the switch."""
        by_tag: dict[int, list[PortChange]] = {}
        for change in changes:
            by_tag.setdefault(change.new_tag, []).append(change)
        missing = [tag for tag in by_tag if tag not in table.raw]
        if missing:
            ports = [c.port for tag in missing for c in by_tag[tag]]
            raise self._error(f"VLAN {', '.join(map(str, missing))} does not exist on the switch", ports)
        lists = _MemberLists.of(table)
        return [
            _Pdu(lists.move(tag, group, bridge), [c.port for c in group], f"moving port(s) to VLAN {tag}")
            for tag, group in by_tag.items()
        ]

    async def _send(
        self,
        session: SnmpSession,
        pdus: Sequence[_Pdu],
        changes: Sequence[PortChange],
        bridge: Mapping[str, int],
    ) -> None:
        """The membership PDUs in order, then the PVIDs (where the switch has them)."""
        pvids: list[tuple[Oid, Any]] = (
            [((*PVID, bridge[c.port]), Gauge(c.new_tag)) for c in changes] if self._has_pvid else []
        )
        ports_of = {(*PVID, bridge[c.port]): c.port for c in changes}
        if len(pdus) == 1 and len(pdus[0].varbinds) + len(pvids) <= self.varbinds_per_pdu:
            # the common case, one target VLAN: membership then PVIDs in one PDU, in that order
            (pdu,) = pdus
            await session.set([*pdu.varbinds, *pvids], pdu.doing, pdu.ports)
            return
        for pdu in pdus:
            await session.set(pdu.varbinds, pdu.doing, pdu.ports)
        chunks = [pvids[i : i + self.varbinds_per_pdu] for i in range(0, len(pvids), self.varbinds_per_pdu)]
        await settle(
            session.set(chunk, "setting dot1qPvid", [ports_of[oid] for oid, _ in chunk]) for chunk in chunks
        )

    async def ensure_vlan(self, tag: int, name: str) -> None:
        if not 1 <= tag <= MAX_VID:
            raise self._error(f"VLAN tag {tag} is out of range (1-{MAX_VID})")
        if self.in_batch and self._batch_table is not None and tag in self._batch_table.raw:
            return  # the table this batch read has it
        session = await self._open()
        # a VLAN exists if any column of its static row answers: not every switch has RowStatus (ProCurve, TP-Link)
        row = [(*VLAN_STATIC_ROW_STATUS, tag), (*VLAN_STATIC_NAME, tag), (*VLAN_STATIC_EGRESS, tag)]
        values = await session.get(row)
        status = values[row[0]]
        if status is not None:
            if int(status) != ACTIVE:
                self._batch_table, self._written = None, True
                await session.set([((*VLAN_STATIC_ROW_STATUS, tag), ACTIVE)], f"activating VLAN {tag}", [])
            return
        if any(values[oid] is not None for oid in row[1:]):
            return
        label = name.encode("utf-8")[:NAME_MAX]
        self._batch_table, self._written = None, True
        await session.set(
            [((*VLAN_STATIC_NAME, tag), label), ((*VLAN_STATIC_ROW_STATUS, tag), CREATE_AND_GO)],
            f"creating VLAN {tag}",
            [],
        )


def _by_vid(rows: Iterable[tuple[Oid, Any]], *, index_length: int) -> dict[int, bytes]:
    """vid -> PortList of a VLAN table column; with a time mark in the index, the lowest mark's row wins."""
    out: dict[int, tuple[int, bytes]] = {}
    for suffix, value in rows:
        if len(suffix) != index_length or present(value) is None:
            continue
        mark, vid = (0, suffix[0]) if index_length == 1 else (suffix[0], suffix[1])
        if vid not in out or mark < out[vid][0]:
            out[vid] = (mark, bytes(value.asOctets()))
    return {vid: octets for vid, (_, octets) in out.items()}


def member_list_format(
    raw: Mapping[int, tuple[bytes, bytes]], bridge_ports: frozenset[int], *, option: str, source: Source
) -> Format:
    """How the switch writes the member lists ``raw`` of its VLAN table: bitmaps (RFC 4363) or text lists of
    bridge ports (Junos). By the ``portlist_format`` option, or with ``auto`` by which reading fits the switch's
    ``bridge_ports``; raises ValueError when the option is unknown, or when both readings fit."""
    if option in ("bitmap", "text"):
        return "text" if option == "text" else "bitmap"
    if option != "auto":
        raise ValueError(f"the switch option portlist_format = {option!r} is not auto, bitmap or text")
    values = [octets for pair in raw.values() for octets in pair if octets]
    if not values or not all(_TEXT_LIST.fullmatch(v) for v in values):
        return "bitmap"  # some list has a byte that text never has: bitmaps
    as_text = set().union(*(_decode_text(v) for v in values))
    as_bits = set().union(*(portlist.decode(v) for v in values))
    text_fits, bits_fit = as_text <= bridge_ports, as_bits <= bridge_ports
    if text_fits and not bits_fit:
        return "text"
    if bits_fit and not text_fits:
        return "bitmap"
    table = "dot1qVlanStaticTable" if source == "static" else "dot1qVlanCurrentTable"
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


def port_state(table: _VlanTable | None, bridge_port: int, pvid: int | None) -> PortState | str:
    """A port's state from the VLAN table (None: trust the PVID alone) and its PVID, or why it cannot be told.
    A tagged member of any VLAN is a trunk; an untagged member of exactly one VLAN is an access port of it, and
    its PVID (when the switch has one) must agree."""
    if table is None:  # detect_trunks is off: the PVID is the answer
        assert pvid is not None
        if 1 <= pvid <= MAX_VID:
            return PortState(pvid)
        return f"has dot1qPvid {pvid}, which is not a VLAN"
    untagged_in = table.untagged_in.get(bridge_port, set())
    if table.tagged_in.get(bridge_port):
        return PortState(None, trunk=True)
    if len(untagged_in) == 1:
        (vid,) = untagged_in
        if pvid is not None and pvid != vid:
            return f"is an untagged member of VLAN {vid} but has dot1qPvid {pvid}"
        return PortState(vid)
    if untagged_in:
        vids = ", ".join(str(v) for v in sorted(untagged_in))
        return f"is an untagged member of several VLANs ({vids})"
    if pvid is None:
        return "has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown"
    return f"has dot1qPvid {pvid} but is a member of no VLAN: its VLAN is unknown"
