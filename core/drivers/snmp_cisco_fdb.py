"""Cisco's forwarding tables, one per VLAN: IOS answers BRIDGE-MIB (dot1dTpFdbTable and its own bridge-port map)
for VLAN N only to the community ``COMMUNITY@N`` (community string indexing). Read where the default context has
no forwarding table; a VLAN whose context does not answer makes the table unreadable, with the reason."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pysnmp.hlapi.v3arch import asyncio as hlapi

from .base import FdbEntry, FdbTable, SwitchError, mac_text
from .snmp_interfaces import DOT1D_BASE_PORT_IFINDEX, Interfaces
from .snmp_monitor import DOT1D_TP_FDB_PORT, DOT1D_TP_FDB_STATUS, NO_FDB, NOT_HOSTS
from .snmp_session import Oid, SnmpSession, present

if TYPE_CHECKING:
    from .snmp_cisco import SnmpCiscoDriver

COLUMNS = (DOT1D_TP_FDB_PORT, DOT1D_TP_FDB_STATUS)


def _int(value: Any) -> int | None:
    try:
        return int(value) if present(value) is not None else None
    except (TypeError, ValueError):
        return None


def vlan_entries(
    walked: dict[Oid, list[tuple[Oid, Any]]], interfaces: Interfaces, vid: int
) -> list[FdbEntry]:
    """One VLAN context's rows: its bridge ports are its own (dot1dBasePortIfIndex read in the same context)."""
    bridge = {s[0]: _int(v) for s, v in walked.get(DOT1D_BASE_PORT_IFINDEX, []) if len(s) == 1}
    status = {s: _int(v) for s, v in walked.get(DOT1D_TP_FDB_STATUS, [])}
    out = []
    for suffix, value in walked.get(DOT1D_TP_FDB_PORT, []):
        if len(suffix) != 6 or status.get(suffix) in NOT_HOSTS:
            continue
        interface = interfaces.by_index.get(bridge.get(_int(value) or 0) or 0)
        out.append(FdbEntry(mac_text(suffix), vid, interface.name if interface is not None else ""))
    return out


def _context(session: SnmpSession, community: str, vid: int) -> SnmpSession:
    """The session reading as ``community@vid``: the same engine, target and request gate."""
    view = copy.copy(session)
    view.read_auth = hlapi.CommunityData(f"{community}@{vid}", mpModel=1)
    return view


async def per_vlan_fdb(driver: SnmpCiscoDriver, vids: Sequence[int]) -> FdbTable:
    """Every VLAN's forwarding table through its community context; the first VLAN alone first, so that a switch
    without per-VLAN contexts costs one timeout, not one per VLAN."""
    if str(driver.credentials.get("version", "2c")).lower().removeprefix("v") != "2c":
        return FdbTable(
            missing=f"{NO_FDB}; its per-VLAN tables need SNMPv2c community indexing (community@VLAN): "
            "SNMPv3 contexts (vlan-N) are not read"
        )
    if not vids:
        return FdbTable(missing=f"{NO_FDB}; and its VTP table has no operational VLAN to read per VLAN")
    session = await driver._open()
    interfaces = await driver._monitored([])
    community = str(driver.credentials.get("community", ""))

    async def one(vid: int) -> list[FdbEntry] | str:
        try:
            walked = await _context(session, community, vid).walk([*COLUMNS, DOT1D_BASE_PORT_IFINDEX])
        except SwitchError as exc:
            return (
                f"{NO_FDB}; and VLAN {vid}'s table through community indexing (community@{vid}) cannot be "
                f"read: {exc.reason}"
            )
        return vlan_entries(walked, interfaces, vid)

    first = await one(vids[0])
    read = (
        [first, *(await asyncio.gather(*(one(v) for v in vids[1:])))]
        if not isinstance(first, str)
        else [first]
    )
    for found in read:
        if isinstance(found, str):
            return FdbTable(missing=found)
    return FdbTable(tuple(e for found in read if not isinstance(found, str) for e in found))
