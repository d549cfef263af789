"""What the SNMP drivers read for monitoring, beyond VLAN membership: each port's link, speed and 64-bit traffic
counters (IF-MIB), and the forwarding table by VLAN (Q-BRIDGE dot1qTpFdbTable, else BRIDGE-MIB dot1dTpFdbTable),
with its ports named through the interfaces map the membership reads use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .base import FdbEntry, FdbTable, PortCounters, mac_text
from .snmp_interfaces import Interfaces
from .snmp_session import SYS_UP_TIME, Oid, SnmpSession, name_objects, present, settle

IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_IN_ERRORS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 14)
IF_HC_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
IF_HC_OUT_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)
IF_HIGH_SPEED: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15)
COUNTER_COLUMNS = (IF_OPER_STATUS, IF_HIGH_SPEED, IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS, IF_IN_ERRORS)

DOT1Q_TP_FDB_PORT: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2)
DOT1Q_TP_FDB_STATUS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 3)
DOT1Q_VLAN_FDB_ID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 3)
DOT1D_TP_FDB_PORT: Oid = (1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2)
DOT1D_TP_FDB_STATUS: Oid = (1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 3)

name_objects(
    {
        IF_OPER_STATUS: "ifOperStatus",
        IF_IN_ERRORS: "ifInErrors",
        IF_HC_IN_OCTETS: "ifHCInOctets",
        IF_HC_OUT_OCTETS: "ifHCOutOctets",
        IF_HIGH_SPEED: "ifHighSpeed",
        DOT1Q_TP_FDB_PORT: "dot1qTpFdbPort",
        DOT1Q_TP_FDB_STATUS: "dot1qTpFdbStatus",
        DOT1Q_VLAN_FDB_ID: "dot1qVlanFdbId",
        DOT1D_TP_FDB_PORT: "dot1dTpFdbPort",
        DOT1D_TP_FDB_STATUS: "dot1dTpFdbStatus",
    }
)

UP = 1
NOT_HOSTS = {2, 4}
"""dot1qTpFdbStatus invalid(2) and self(4): not a host the switch learned (other, learned, mgmt are)."""
NO_FDB = (
    "cannot read its forwarding table: it answers no row of dot1qTpFdbTable or dot1dTpFdbTable (it has no "
    "FDB objects, or learned no address)"
)


def _int(value: Any) -> int | None:
    if present(value) is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def counter_oids(if_index: int) -> list[Oid]:
    return [(*column, if_index) for column in COUNTER_COLUMNS]


def counters_of(values: Mapping[Oid, Any], if_index: int) -> PortCounters:
    """One port's counters from a GET's answer; refused when the switch answers none of the objects."""
    status, speed, octets_in, octets_out, errors = (_int(values.get(oid)) for oid in counter_oids(if_index))
    if status is None and speed is None and octets_in is None and octets_out is None:
        return PortCounters(
            refused="has no ifOperStatus, ifHighSpeed or ifHCInOctets/ifHCOutOctets on the switch"
        )
    return PortCounters(
        up=None if status is None else status == UP,
        speed_mbps=speed,
        in_octets=octets_in,
        out_octets=octets_out,
        in_errors=errors,
    )


async def read_counters(
    session: SnmpSession, interfaces: Interfaces, ports: Sequence[str]
) -> tuple[dict[str, PortCounters], Any]:
    """Each port's counters in one batched GET (the ports' five objects, sysUpTime riding along), and sysUpTime.
    A name that is no single interface is refused alone; an aggregation is read like any interface."""
    found: dict[str, int] = {}
    out: dict[str, PortCounters] = {}
    for name in dict.fromkeys(ports):
        interface = interfaces.find(name, bridged=False)
        if isinstance(interface, str):
            out[name] = PortCounters(refused=interface)
        else:
            found[name] = interface.if_index
    oids = [oid for if_index in sorted(set(found.values())) for oid in counter_oids(if_index)]
    values = await session.get([*oids, SYS_UP_TIME]) if oids else {}
    for name, if_index in found.items():
        out[name] = counters_of(values, if_index)
    return {name: out[name] for name in ports}, values.get(SYS_UP_TIME)


def _vids_by_fdb(rows: Iterable[tuple[Oid, Any]]) -> dict[int, set[int]]:
    """dot1qVlanFdbId (time mark, vid) -> fdb id, turned round: the VLANs each filtering database serves."""
    out: dict[int, set[int]] = {}
    for suffix, value in rows:
        fdb = _int(value)
        if len(suffix) == 2 and fdb is not None:
            out.setdefault(fdb, set()).add(suffix[1])
    return out


def _port_name(interfaces: Interfaces, bridge_port: int | None) -> str:
    if_index = interfaces.bridge.get(bridge_port or 0)
    interface = interfaces.by_index.get(if_index or 0)
    return interface.name if interface is not None else ""


def qbridge_entries(walked: Mapping[Oid, list[tuple[Oid, Any]]], interfaces: Interfaces) -> list[FdbEntry]:
    """dot1qTpFdbTable's rows (fdb id, MAC) as entries. A filtering database is a VLAN's where dot1qVlanFdbId maps
    exactly one VLAN to it; where the switch has no dot1qVlanFdbId, the fdb id is the VLAN id (independent
    learning, what these switches do); where it maps several VLANs to one (shared learning), the VLAN is None."""
    vids = _vids_by_fdb(walked.get(DOT1Q_VLAN_FDB_ID, []))
    status = {s: _int(v) for s, v in walked.get(DOT1Q_TP_FDB_STATUS, [])}
    entries = []
    for suffix, value in walked.get(DOT1Q_TP_FDB_PORT, []):
        if len(suffix) != 7 or status.get(suffix) in NOT_HOSTS:
            continue
        fdb, mac = suffix[0], mac_text(suffix[1:])
        served = vids.get(fdb, set()) if vids else {fdb}
        tag = next(iter(served)) if len(served) == 1 else None
        entries.append(FdbEntry(mac, tag, _port_name(interfaces, _int(value))))
    return entries


def bridge_entries(
    walked: Mapping[Oid, list[tuple[Oid, Any]]], interfaces: Interfaces, tag: int | None
) -> list[FdbEntry]:
    """dot1dTpFdbTable's rows (MAC) as entries of VLAN ``tag`` (a switch with only BRIDGE-MIB learns in one
    VLAN: the VLAN of the community's context, else unknown)."""
    status = {s: _int(v) for s, v in walked.get(DOT1D_TP_FDB_STATUS, [])}
    return [
        FdbEntry(mac_text(suffix), tag, _port_name(interfaces, _int(value)))
        for suffix, value in walked.get(DOT1D_TP_FDB_PORT, [])
        if len(suffix) == 6 and status.get(suffix) not in NOT_HOSTS
    ]


async def read_fdb(session: SnmpSession, interfaces: Interfaces, *, bridge_tag: int | None) -> FdbTable:
    """The Q-BRIDGE forwarding table and the VLANs' filtering databases (two walks at once); where it has no
    row, the BRIDGE-MIB one; where neither has a row, why the table cannot be read."""
    table, fdb_ids = await settle(
        [session.walk([DOT1Q_TP_FDB_PORT, DOT1Q_TP_FDB_STATUS]), session.walk([DOT1Q_VLAN_FDB_ID])]
    )
    if table[DOT1Q_TP_FDB_PORT]:
        return FdbTable(tuple(qbridge_entries({**table, **fdb_ids}, interfaces)))
    walked = await session.walk([DOT1D_TP_FDB_PORT, DOT1D_TP_FDB_STATUS])
    if walked[DOT1D_TP_FDB_PORT]:
        return FdbTable(tuple(bridge_entries(walked, interfaces, bridge_tag)))
    return FdbTable(missing=NO_FDB)
