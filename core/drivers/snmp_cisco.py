"""The snmp_cisco driver: access VLANs of Cisco IOS switches through CISCO-VLAN-MEMBERSHIP-MIB and CISCO-VTP-MIB."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..model import Switch
from .base import DriverContext, FdbTable, PortChange, PortState
from .snmp_interfaces import Interfaces, read_interfaces
from .snmp_session import (
    MAX_VID,
    SYS_UP_TIME,
    Oid,
    SnmpDriver,
    SwitchRestarted,
    name_objects,
    names_of,
    present,
    problems_sentence,
    settle,
)

VM_VLAN: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 68, 1, 2, 2, 1, 2)
"""vmVlan.<ifIndex>: the access VLAN of a static-access port (INTEGER)."""
VTP_VLAN_STATE: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 3, 1, 1, 2)
"""vtpVlanState.<managementDomainIndex>.<vid>."""
TRUNK_DYNAMIC_STATUS: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 6, 1, 1, 13)
"""vlanTrunkPortDynamicStatus.<ifIndex>: trunking(1), notTrunking(2)."""
TRUNK_ENCAPSULATION_OPER: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 46, 1, 6, 1, 1, 16)
"""vlanTrunkPortEncapsulationOperType.<ifIndex>: isl(1) dot10(2) lane(3) dot1Q(4) negotiating(5) notApplicable(6)."""

name_objects(
    {
        VM_VLAN: "vmVlan",
        VTP_VLAN_STATE: "vtpVlanState",
        TRUNK_DYNAMIC_STATUS: "vlanTrunkPortDynamicStatus",
        TRUNK_ENCAPSULATION_OPER: "vlanTrunkPortEncapsulationOperType",
    }
)

TRUNKING, NOT_TRUNKING = 1, 2
TRUNK_ENCAPSULATIONS = {1: "isl", 2: "dot10", 3: "lane", 4: "dot1Q"}
NEGOTIATING, NOT_APPLICABLE = 5, 6
OPERATIONAL = 1
VLAN_STATES = {1: "operational", 2: "suspended", 3: "mtuTooBigForDevice", 4: "mtuTooBigForTrunk"}
RESERVED_VLANS = range(1002, 1006)
"""fddi-default, token-ring-default, fddinet-default, trnet-default: on every Cisco switch, never for ports."""


class SnmpCiscoDriver(SnmpDriver):
    """Ports are named by ifName (ifDescr names work too, e.g. ``GigabitEthernet0/1`` for ``Gi0/1``).

    A port's VLAN is its vmVlan, indexed by ifIndex (not by bridge port: Cisco's BRIDGE-MIB shows one VLAN per
    community context). Its trunk state is read with it, from vlanTrunkPortTable: a trunking port is reported as
    a trunk and never written. A port-channel, a name several interfaces hold, a port without vmVlan or trunk
    state is refused alone, with the reason. VLANs must exist and be operational in the VTP table, and not be one
    of the reserved 1002-1005: this driver does not create them (``ensure_vlan`` says so clearly). After a write,
    vmVlan and the trunk state are read again: a port that does not read back as an access port of its new VLAN
    is a failure.

    Options, besides the session's (see ``SnmpDriver``): ``vtp_domain`` (managementDomainIndex, default 1),
    ``detect_trunks`` (default true; false trusts vmVlan on switches without vlanTrunkPortTable).
    """

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        opts = switch.options
        self.vtp_domain = int(opts.get("vtp_domain", 1))
        self.detect_trunks = bool(opts.get("detect_trunks", True))
        self._interfaces: Interfaces | None = None

    def _forget_interfaces(self) -> None:
        super()._forget_interfaces()
        self._interfaces = None

    # --- the port map ---------------------------------------------------------------------------------

    async def _port_map(self, names: Iterable[str]) -> tuple[dict[str, int], dict[str, str]]:
        """Port name -> ifIndex, from ifName, with ifDescr names as aliases; and why the other names are refused
        (no such interface, a name several interfaces hold, a port-channel)."""
        wanted = list(dict.fromkeys(names))
        if self._interfaces is None or not self._interfaces.knows(wanted):
            session = await self._open()
            interfaces = await read_interfaces(session, bridged=False)
            if not interfaces.by_index:
                raise self._error(
                    f"the switch at {self.switch.address} lists no interfaces (ifName and ifDescr are empty)"
                )
            self._interfaces = interfaces
        found: dict[str, int] = {}
        refused: dict[str, str] = {}
        for name in wanted:
            interface = self._interfaces.port(name, bridged=False)
            if isinstance(interface, str):
                refused[name] = interface
            else:
                found[name] = interface.if_index
        return found, refused

    # --- monitoring ---------------------------------------------------------------------------------------

    async def read_fdb(self) -> FdbTable:
        """The default context's forwarding table where it has one; else each operational VLAN's, through
        community string indexing (``snmp_cisco_fdb``)."""
        table = await super().read_fdb()
        if table.missing is None:
            return table
        from .snmp_cisco_fdb import per_vlan_fdb

        walked = await (await self._open()).walk([VTP_VLAN_STATE])
        vids = sorted(
            s[1]
            for s, v in walked[VTP_VLAN_STATE]
            if len(s) == 2
            and s[0] == self.vtp_domain
            and s[1] not in RESERVED_VLANS
            and present(v) is not None
            and int(v) == OPERATIONAL
        )
        return await per_vlan_fdb(self, vids)

    # --- the state of ports -----------------------------------------------------------------------------

    def _oids(self, if_index: int) -> list[Oid]:
        return [
            (*VM_VLAN, if_index),
            (*TRUNK_DYNAMIC_STATUS, if_index),
            (*TRUNK_ENCAPSULATION_OPER, if_index),
        ]

    def _state(self, if_index: int, values: Mapping[Oid, Any]) -> PortState | str:
        vm_vlan, dynamic, encapsulation = (values[oid] for oid in self._oids(if_index))
        return port_state(vm_vlan, dynamic, encapsulation, detect_trunks=self.detect_trunks)

    async def _get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """The values of ``oids``, and sysUpTime with them: ``SwitchRestarted`` if it says the switch restarted."""
        session = await self._open()
        values = await session.get([*oids, SYS_UP_TIME])
        self._check_uptime(values[SYS_UP_TIME])
        return values

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        try:
            return await self._read_ports(ports)
        except SwitchRestarted:  # its interfaces may be numbered anew
            self._interfaces = None
            return await self._read_ports(ports)

    async def _read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        if not ports:
            return {}
        found, refused = await self._port_map(ports)
        out = {name: PortState(None, refused=why) for name, why in refused.items()}
        if found:
            values = await self._get(
                [oid for if_index in sorted(set(found.values())) for oid in self._oids(if_index)]
            )
            for name, if_index in found.items():
                state = self._state(if_index, values)
                out[name] = PortState(None, refused=state) if isinstance(state, str) else state
        return {name: out[name] for name in ports}

    # --- VLANs -------------------------------------------------------------------------------------------

    def _vlan_oid(self, tag: int) -> Oid:
        return (*VTP_VLAN_STATE, self.vtp_domain, tag)

    async def ensure_vlan(self, tag: int, name: str) -> None:
        if not 1 <= tag <= MAX_VID:
            raise self._error(f"VLAN tag {tag} is out of range (1-{MAX_VID})")
        if tag in RESERVED_VLANS:  # whatever the VTP table says of them
            raise self._error(vlan_problem(tag, OPERATIONAL, self.vtp_domain) or "")
        session = await self._open()
        state = (await session.get([self._vlan_oid(tag)]))[self._vlan_oid(tag)]
        problem = vlan_problem(tag, state, self.vtp_domain)
        if problem:
            raise self._error(problem)

    # --- writes ------------------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[PortChange]) -> None:
        try:
            await self._apply(changes)
        except SwitchRestarted as exc:
            if exc.ports:  # found after the write, by the read-back: a failure like any other
                raise
            self._interfaces = None  # found by the read before any write: the ports are looked up again
            await self._apply(changes)

    async def _apply(self, changes: Sequence[PortChange]) -> None:
        if not changes:
            return
        self._check_tags(changes)
        found, refused = await self._port_map([c.port for c in changes])
        if refused:
            raise self._error(problems_sentence(refused), list(refused))
        session = await self._open()
        tags = sorted({c.new_tag for c in changes})
        values = await self._get(
            [oid for if_index in sorted(set(found.values())) for oid in self._oids(if_index)]
            + [self._vlan_oid(t) for t in tags]
        )
        self._check_movable(changes, found, values)
        varbinds = [((*VM_VLAN, found[c.port]), c.new_tag) for c in changes]
        port_of = {(*VM_VLAN, found[c.port]): c.port for c in changes}
        size = self.varbinds_per_pdu
        chunks = [varbinds[i : i + size] for i in range(0, len(varbinds), size)]
        await settle(
            session.set(chunk, "setting vmVlan", [port_of[oid] for oid, _ in chunk]) for chunk in chunks
        )
        await self._read_back(changes, found)

    def _check_movable(
        self, changes: Sequence[PortChange], found: Mapping[str, int], values: Mapping[Oid, Any]
    ) -> None:
        """Refuse trunks first (a trunking port's vmVlan is not the VLAN it carries, and writing it changes
        nothing useful), then ports whose state cannot be told, then VLANs that cannot take ports."""
        states = {c.port: self._state(found[c.port], values) for c in changes}
        trunks = [port for port, state in states.items() if isinstance(state, PortState) and state.trunk]
        if trunks:
            raise self._error(
                f"refusing to change the access VLAN of trunking port(s) {names_of(trunks)} (vlanTrunkPortTable)",
                trunks,
            )
        problems = {port: state for port, state in states.items() if isinstance(state, str)}
        if problems:
            raise self._error(problems_sentence(problems), list(problems))
        for tag in sorted({c.new_tag for c in changes}):
            problem = vlan_problem(tag, values[self._vlan_oid(tag)], self.vtp_domain)
            if problem:
                raise self._error(problem, [c.port for c in changes if c.new_tag == tag])

    async def _read_back(self, changes: Sequence[PortChange], found: Mapping[str, int]) -> None:
        """vmVlan and the trunk state of the moved ports, read again: some switches acknowledge a write and keep
        the old value; a port that does not read as an access port of its new VLAN fails, with what it reads."""
        try:
            values = await self._get([oid for c in changes for oid in self._oids(found[c.port])])
        except SwitchRestarted as exc:  # the write may be lost, or have landed on a port numbered anew
            self._interfaces = None
            raise SwitchRestarted(self.switch.name, exc.reason, ports=[c.port for c in changes]) from None
        wrong: dict[str, str] = {}
        for change in changes:
            state = self._state(found[change.port], values)
            if isinstance(state, str):
                wrong[change.port] = state
            elif state.trunk:
                wrong[change.port] = "is trunking"
            elif state.tag != change.new_tag:
                wrong[change.port] = f"is in VLAN {state.tag}"
        if wrong:
            shown = "; ".join(f"{port} {why}" for port, why in list(wrong.items())[:5])
            raise self._error(
                f"the switch acknowledged setting vmVlan but did not keep it: {shown}", list(wrong)
            )


def port_state(
    vm_vlan: Any, dynamic: Any, encapsulation: Any, *, detect_trunks: bool = True
) -> PortState | str:
    """A port's state from its vmVlan, vlanTrunkPortDynamicStatus and vlanTrunkPortEncapsulationOperType (None
    where the switch has no such object), or why it cannot be told. Without ``detect_trunks``, a port with no
    trunk state is trusted to be the access port its vmVlan says."""
    dynamic = None if dynamic is None else int(dynamic)
    encapsulation = None if encapsulation is None else int(encapsulation)
    if dynamic == TRUNKING or encapsulation in TRUNK_ENCAPSULATIONS:
        return PortState(None, trunk=True)
    if detect_trunks and dynamic != NOT_TRUNKING and encapsulation != NOT_APPLICABLE:
        if encapsulation == NEGOTIATING:
            return "is negotiating a trunk (vlanTrunkPortEncapsulationOperType negotiating)"
        return "has no trunk state in vlanTrunkPortTable: an access port cannot be told from a trunk"
    if vm_vlan is None:
        return "has no vmVlan: it is not a static access port (a routed port, an EtherChannel member or a dynamic-VLAN port?)"
    vid = int(vm_vlan)
    if not 1 <= vid <= MAX_VID:
        return f"has vmVlan {vid}, which is not a VLAN"
    return PortState(vid)


def vlan_problem(tag: int, state: Any, vtp_domain: int) -> str | None:
    """Why VLAN ``tag`` (its vtpVlanState in ``vtp_domain``, None if it has none) cannot take ports, if it cannot."""
    if tag in RESERVED_VLANS:
        return (
            f"VLAN {tag} is one of the reserved VLANs 1002-1005 (FDDI and Token Ring defaults) on Cisco switches: "
            "it cannot take access ports"
        )
    if state is None:
        return (
            f"VLAN {tag} does not exist on the switch (no vtpVlanState.{vtp_domain}.{tag}): create it on the switch, "
            f"or on its VTP server (`vlan {tag}` in configuration mode); the snmp_cisco driver does not create VLANs"
        )
    if int(state) != OPERATIONAL:
        label = VLAN_STATES.get(int(state), str(int(state)))
        return f"VLAN {tag} is {label} on the switch (vtpVlanState {int(state)}), not operational"
    return None
