"""The snmp_qbridge driver: access VLANs of a standards switch through Q-BRIDGE-MIB (RFC 4363) over SNMP 2c or 3."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Switch
from .base import DriverContext, PortChange, PortState
from .qbridge_table import (
    NO_TABLE,
    MemberLists,
    Source,
    VlanTable,
    member_list_format,
    port_state,
    table_of,
    write_problem,
)
from .snmp_interfaces import Interface, Interfaces, read_interfaces
from .snmp_session import (
    BEFORE_SYS_UP_TIME,
    MAX_VID,
    Gauge,
    Oid,
    SnmpDriver,
    SnmpSession,
    SwitchRestarted,
    name_objects,
    object_name,
    parse_address,
    present,
    problems_sentence,
    settle,
)

__all__ = ["SnmpQBridgeDriver", "member_list_format", "object_name", "parse_address", "port_state"]

VLAN_CURRENT_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 4)
VLAN_CURRENT_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 5)
VLAN_STATIC_NAME: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 1)
VLAN_STATIC_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
VLAN_STATIC_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
VLAN_STATIC_ROW_STATUS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 5)
PVID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)

name_objects(
    {
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
COLUMNS = {
    "static": (VLAN_STATIC_EGRESS, VLAN_STATIC_UNTAGGED),
    "current": (VLAN_CURRENT_EGRESS, VLAN_CURRENT_UNTAGGED),
}
STATIC_COLUMN = {"egress": VLAN_STATIC_EGRESS, "untagged": VLAN_STATIC_UNTAGGED}


@dataclass(frozen=True, slots=True)
class _Pdu:
    """One SET PDU of a batch: its varbinds, the ports it moves, and what it does (for the switch's refusal)."""

    varbinds: list[tuple[Oid, Any]]
    ports: list[str]
    doing: str


@dataclass(frozen=True, slots=True)
class _Walked:
    """One walk of a VLAN table: its columns keyed by (time mark, vid), and the PVIDs read along."""

    egress: dict[tuple[int, int], bytes]
    untagged: dict[tuple[int, int], bytes]
    pvids: dict[int, int | None]
    uptime: Any = None
    """sysUpTime, read along with the first walk of a read."""


@dataclass(slots=True)
class _Batch:
    """What a move read under the switch's lock before writing: reused until its first write, never after."""

    table: VlanTable | None = None
    pvids: dict[int, int | None] = field(default_factory=dict)


class SnmpQBridgeDriver(SnmpDriver):
    """Ports are named by ifName (or ifDescr); VLAN membership is written in the static VLAN table, then the PVIDs.

    Every read takes membership from dot1qVlanStaticTable, or from the read-only dot1qVlanCurrentTable on
    switches that only have that one (ProCurve KA, TP-Link, Dell OS10), and each port's own dot1qPvid row. A
    port that is a tagged member of any VLAN is a trunk; an untagged member of exactly one VLAN is an access port
    of it, and its dot1qPvid (where it has a row) must agree. Anything else is refused for that port alone, with
    the reason; so are link aggregations and names that are not exactly one bridge port. Nothing about one port,
    or about one read, is kept as a fact about the switch: every read reads the table and the ports' PVIDs again
    (within a move, until its first write).

    Options, besides the session's (see ``SnmpDriver``): ``portlist_format`` (``auto``, ``bitmap`` or ``text``:
    how the switch writes member lists; auto tells Junos-style text lists from bitmaps).
    """

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        self.portlist_format = str(switch.options.get("portlist_format", "auto")).lower()
        self._interfaces: Interfaces | None = None
        self._batch = _Batch()
        self._table_rows: dict[Source, int] = {}
        """How many rows each table had at its last walk: the next walk asks for that many (plus one) at once."""
        self._static_seen: bool | None = None
        """Whether the last walk found a static table: where it did not, both tables are walked at once (a hint for
        the order of the walks, never a conclusion: every read decides from the tables it walked)."""

    def _forget_interfaces(self) -> None:
        super()._forget_interfaces()
        self._interfaces = None
        self._batch = _Batch()

    # --- interfaces ------------------------------------------------------------------------------------------

    async def _interfaces_for(self, names: Iterable[str]) -> Interfaces:
        """The switch's interfaces, read once (and again when a name is new to it)."""
        wanted = list(names)
        if self._interfaces is None or not self._interfaces.knows(wanted):
            session = await self._open()
            interfaces = await read_interfaces(session, bridged=True)
            if not interfaces.by_index:
                raise self._error(
                    f"the switch at {self.switch.address} lists no interfaces (ifName, ifDescr)"
                )
            self._interfaces = interfaces
        return self._interfaces

    @staticmethod
    def _resolve(interfaces: Interfaces, names: Iterable[str]) -> tuple[dict[str, Interface], dict[str, str]]:
        """The bridge port each name stands for, and why the other names stand for none (or for an aggregation)."""
        found: dict[str, Interface] = {}
        refused: dict[str, str] = {}
        for name in dict.fromkeys(names):
            interface = interfaces.port(name, bridged=True)
            if isinstance(interface, str):
                refused[name] = interface
            else:
                found[name] = interface
        return found, refused

    # --- reads -------------------------------------------------------------------------------------------------

    def end_batch(self) -> None:
        self._batch = _Batch()

    def _wrote(self) -> None:
        """The switch is about to change: nothing read before may answer a read after."""
        self._batch = _Batch()

    async def _membership(
        self, session: SnmpSession, bridge_ports: Sequence[int]
    ) -> tuple[dict[int, int | None], VlanTable]:
        """The dot1qPvid of each of ``bridge_ports`` (None: the port has no row) and the VLAN table. In a batch,
        what it read before its first write is reused (the move holds the switch's lock); anything else is read
        now, every time: the PVIDs ride on the table's first GETBULK (as GETNEXTs of the OID before each)."""
        known = self._batch.pvids if self.in_batch else {}
        missing = [bp for bp in bridge_ports if bp not in known]
        table = self._batch.table if self.in_batch else None
        if table is None:
            room = max(0, self.varbinds_per_pdu - len(COLUMNS["static"]) - 1)
            (table, fetched, uptime), rest = await settle(
                [self._read_vlan_table(session, missing[:room]), self._get_pvids(session, missing[room:])]
            )
            self._check_uptime(uptime)  # before anything of this read is kept
            fetched.update(rest)
        else:
            fetched = await self._get_pvids(session, missing)
        if self.in_batch:
            self._batch.table = table
            self._batch.pvids.update(fetched)
        return {bp: known[bp] if bp in known else fetched[bp] for bp in bridge_ports}, table

    async def _read_vlan_table(
        self, session: SnmpSession, pvid_ports: Sequence[int]
    ) -> tuple[VlanTable, dict[int, int | None], Any]:
        """The static table if it has rows, else the current table, else none: decided from this read's walks;
        and the PVIDs of ``pvid_ports`` and sysUpTime, read with the first walk."""
        if self._static_seen is False:
            static, current = await settle(
                [self._walk(session, "static", pvid_ports), self._walk(session, "current")]
            )
        else:
            static, current = await self._walk(session, "static", pvid_ports), None
        pvids, uptime = static.pvids, static.uptime
        self._static_seen = bool(static.egress or static.untagged)
        if self._static_seen:
            return self._table("static", static), pvids, uptime
        if current is None:
            current = await self._walk(session, "current")
        if current.egress or current.untagged:
            return self._table("current", current), pvids, uptime
        return VlanTable("none"), pvids, uptime

    async def _walk(self, session: SnmpSession, source: Source, pvid_ports: Sequence[int] = ()) -> _Walked:
        """A table's egress and untagged columns (and, riding along on the static table's, sysUpTime and the
        PVIDs of ``pvid_ports``)."""
        egress_column, untagged_column = COLUMNS[source]
        asked = {bp: (*PVID, bp - 1) if bp > 0 else PVID for bp in pvid_ports}
        scalars = [BEFORE_SYS_UP_TIME] if source == "static" else []
        walked = await session.walk(
            [egress_column, untagged_column],
            rows_hint=self._table_rows.get(source),
            successors=[*scalars, *asked.values()],
        )
        index = 1 if source == "static" else 2
        egress, untagged = (_keyed(walked[c], index) for c in (egress_column, untagged_column))
        self._table_rows[source] = len(set(egress) | set(untagged))
        pvids = {}
        for bp, oid in asked.items():
            ((answered, value),) = walked[oid]
            pvids[bp] = _number(value) if answered == (*PVID, bp) else None  # the next object is another's
        uptime = None
        if scalars:
            ((answered, value),) = walked[BEFORE_SYS_UP_TIME]
            uptime = value if answered == (*BEFORE_SYS_UP_TIME, 0) else None
        return _Walked(egress, untagged, pvids, uptime)

    def _table(self, source: Source, walked: _Walked) -> VlanTable:
        assert self._interfaces is not None
        return table_of(
            source, walked.egress, walked.untagged, self._interfaces.bridge_ports, option=self.portlist_format
        )

    async def _get_pvids(self, session: SnmpSession, bridge_ports: Sequence[int]) -> dict[int, int | None]:
        values = await session.get([(*PVID, bp) for bp in bridge_ports])
        return {bp: _number(values[(*PVID, bp)]) for bp in bridge_ports}

    def _restarted(self) -> None:
        """The switch restarted: nothing read of it before holds (its ports may be numbered anew)."""
        self._interfaces = None
        self._batch = _Batch()

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        try:
            return await self._read_ports(ports)
        except SwitchRestarted:
            self._restarted()
            return await self._read_ports(ports)

    async def _read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        if not ports:
            return {}
        interfaces = await self._interfaces_for(ports)
        found, refused = self._resolve(interfaces, ports)
        out = {name: PortState(None, refused=why) for name, why in refused.items()}
        if found:
            session = await self._open()
            bridge_ports = sorted({i.bridge_port for i in found.values() if i.bridge_port is not None})
            pvids, table = await self._membership(session, bridge_ports)
            for name, interface in found.items():
                assert interface.bridge_port is not None
                out[name] = port_state(table, interface.bridge_port, pvids[interface.bridge_port])
        return {name: out[name] for name in ports}

    # --- writes ------------------------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[PortChange]) -> None:
        try:
            await self._apply(changes)
        except SwitchRestarted:  # found by the read before any write
            self._restarted()
            await self._apply(changes)

    async def _apply(self, changes: Sequence[PortChange]) -> None:
        if not changes:
            return
        self._check_tags(changes)
        interfaces = await self._interfaces_for([c.port for c in changes])
        found, refused = self._resolve(interfaces, [c.port for c in changes])
        if refused:
            raise self._error(problems_sentence(refused), list(refused))
        bridge = {name: i.bridge_port for name, i in found.items() if i.bridge_port is not None}
        session = await self._open()
        pvids, table = await self._membership(session, sorted(set(bridge.values())))
        self._check_writable(table, changes, bridge)
        pdus = self._membership_pdus(table, changes, bridge)
        self._wrote()
        await self._send(session, pdus, changes, bridge, pvids)

    def _check_writable(
        self, table: VlanTable, changes: Sequence[PortChange], bridge: Mapping[str, int]
    ) -> None:
        """Refuse (naming the ports) where the switch's lists cannot be written over Q-BRIDGE, or where a port to
        move is a trunk or has bits that cannot be read."""
        moved = [c.port for c in changes]
        if table.source == "none":
            raise self._error(f"cannot move ports: {NO_TABLE}", moved)
        if table.source == "current":
            raise self._error(
                "the switch has no dot1qVlanStaticTable (only the read-only dot1qVlanCurrentTable): "
                "its VLAN membership cannot be written over Q-BRIDGE",
                moved,
            )
        if table.unreadable:
            raise self._error(table.unreadable, moved)
        if table.format == "text":
            raise self._error(
                'the switch lists VLAN members as text ("3,4434,...", as Junos does), not as PortList bitmaps: '
                "this driver cannot write them (use the ssh_cli driver)",
                moved,
            )
        problems = {c.port: write_problem(table, bridge[c.port]) for c in changes}
        trunks = {port: why for port, why in problems.items() if why and why.startswith("is a trunk")}
        if trunks:
            shown = "; ".join(
                f"{port} (VLAN {why.rpartition('VLAN ')[2]})" for port, why in list(trunks.items())[:5]
            )
            raise self._error(
                f"refusing to move trunk ports, tagged members of other VLANs: {shown}", list(trunks)
            )
        unreadable = {port: why for port, why in problems.items() if why}
        if unreadable:
            raise self._error(problems_sentence(unreadable), list(unreadable))

    def _membership_pdus(
        self, table: VlanTable, changes: Sequence[PortChange], bridge: Mapping[str, int]
    ) -> list[_Pdu]:
        """One SET PDU per target VLAN: the ports leave the VLANs they are in, and join the target untagged.
        Refused (naming the ports) when a target VLAN does not exist on the switch."""
        by_tag: dict[int, list[PortChange]] = {}
        for change in changes:
            by_tag.setdefault(change.new_tag, []).append(change)
        missing = [tag for tag in by_tag if tag not in table.vids]
        if missing:
            ports = [c.port for tag in missing for c in by_tag[tag]]
            raise self._error(f"VLAN {', '.join(map(str, missing))} does not exist on the switch", ports)
        lists = MemberLists.of(table)
        return [
            _Pdu(
                [
                    ((*STATIC_COLUMN[column], vid), octets)
                    for column, vid, octets in lists.move(tag, group, bridge)
                ],
                [c.port for c in group],
                f"moving port(s) to VLAN {tag}",
            )
            for tag, group in by_tag.items()
        ]

    async def _send(
        self,
        session: SnmpSession,
        pdus: Sequence[_Pdu],
        changes: Sequence[PortChange],
        bridge: Mapping[str, int],
        pvids: Mapping[int, int | None],
    ) -> None:
        """The membership PDUs in order, then the PVIDs of the ports that have a dot1qPvid row (each port's own
        row decides, never what another port had)."""
        pvid_varbinds: list[tuple[Oid, Any]] = [
            ((*PVID, bridge[c.port]), Gauge(c.new_tag))
            for c in changes
            if pvids.get(bridge[c.port]) is not None
        ]
        ports_of = {(*PVID, bridge[c.port]): c.port for c in changes}
        if len(pdus) == 1 and len(pdus[0].varbinds) + len(pvid_varbinds) <= self.varbinds_per_pdu:
            # the common case, one target VLAN: membership then PVIDs in one PDU, in that order
            (pdu,) = pdus
            await session.set([*pdu.varbinds, *pvid_varbinds], pdu.doing, pdu.ports)
            return
        for pdu in pdus:
            await session.set(pdu.varbinds, pdu.doing, pdu.ports)
        size = self.varbinds_per_pdu
        chunks = [pvid_varbinds[i : i + size] for i in range(0, len(pvid_varbinds), size)]
        await settle(
            session.set(chunk, "setting dot1qPvid", [ports_of[oid] for oid, _ in chunk]) for chunk in chunks
        )

    async def ensure_vlan(self, tag: int, name: str) -> None:
        if not 1 <= tag <= MAX_VID:
            raise self._error(f"VLAN tag {tag} is out of range (1-{MAX_VID})")
        if self.in_batch and self._batch.table is not None and tag in self._batch.table.vids:
            return  # the table this batch read has it
        session = await self._open()
        # a VLAN exists if any column of its static row answers: not every switch has RowStatus (ProCurve, TP-Link)
        row = [(*VLAN_STATIC_ROW_STATUS, tag), (*VLAN_STATIC_NAME, tag), (*VLAN_STATIC_EGRESS, tag)]
        values = await session.get(row)
        status = values[row[0]]
        if status is not None:
            if int(status) != ACTIVE:
                self._wrote()
                await session.set([((*VLAN_STATIC_ROW_STATUS, tag), ACTIVE)], f"activating VLAN {tag}", [])
            return
        if any(values[oid] is not None for oid in row[1:]):
            return
        label = name.encode("utf-8")[:NAME_MAX]
        self._wrote()
        await session.set(
            [((*VLAN_STATIC_NAME, tag), label), ((*VLAN_STATIC_ROW_STATUS, tag), CREATE_AND_GO)],
            f"creating VLAN {tag}",
            [],
        )


def _keyed(rows: Iterable[tuple[Oid, Any]], index_length: int) -> dict[tuple[int, int], bytes]:
    """(time mark, vid) -> PortList of a VLAN table column (time mark 0 for the static table)."""
    out: dict[tuple[int, int], bytes] = {}
    for suffix, value in rows:
        if len(suffix) != index_length or present(value) is None or not hasattr(value, "asOctets"):
            continue
        key = (0, suffix[0]) if index_length == 1 else (suffix[0], suffix[1])
        out[key] = bytes(value.asOctets())
    return out


def _number(value: Any) -> int | None:
    """An integer object's value; None for no such object; 0 for a value that is no number (never a VLAN)."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
