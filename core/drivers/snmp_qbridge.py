"""The snmp_qbridge driver: access VLANs of a standards switch through Q-BRIDGE-MIB (RFC 4363) over SNMP 2c or 3."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto import errind, rfc1905
from pysnmp.smi import builder, view

from ..model import Switch
from . import portlist
from .base import PortChange, PortState, SwitchDriver, SwitchError, SwitchTimeout

Oid = tuple[int, ...]

IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
DOT1D_BASE_PORT_IFINDEX: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
VLAN_STATIC_NAME: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 1)
VLAN_STATIC_EGRESS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
VLAN_STATIC_UNTAGGED: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
VLAN_STATIC_ROW_STATUS: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 5)
PVID: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)

_OBJECT_NAMES = {
    IF_NAME: "ifName",
    DOT1D_BASE_PORT_IFINDEX: "dot1dBasePortIfIndex",
    VLAN_STATIC_NAME: "dot1qVlanStaticName",
    VLAN_STATIC_EGRESS: "dot1qVlanStaticEgressPorts",
    VLAN_STATIC_UNTAGGED: "dot1qVlanStaticUntaggedPorts",
    VLAN_STATIC_ROW_STATUS: "dot1qVlanStaticRowStatus",
    PVID: "dot1qPvid",
}

ACTIVE, CREATE_AND_GO = 1, 4
MAX_VID = 4094
NAME_MAX = 32

# error statuses that mean "these credentials may not write here"
_ACCESS_ERRORS = {"noAccess", "notWritable", "authorizationError", "readOnly", "noSuchName"}

_AUTH_PROTOCOLS = {
    "md5": "usmHMACMD5AuthProtocol",
    "sha": "usmHMACSHAAuthProtocol",
    "sha1": "usmHMACSHAAuthProtocol",
    "sha224": "usmHMAC128SHA224AuthProtocol",
    "sha256": "usmHMAC192SHA256AuthProtocol",
    "sha384": "usmHMAC256SHA384AuthProtocol",
    "sha512": "usmHMAC384SHA512AuthProtocol",
}
_PRIV_PROTOCOLS = {
    "des": "usmDESPrivProtocol",
    "3des": "usm3DESEDEPrivProtocol",
    "aes": "usmAesCfb128Protocol",
    "aes128": "usmAesCfb128Protocol",
    "aes192": "usmAesCfb192Protocol",
    "aes256": "usmAesCfb256Protocol",
}


def object_name(oid: Oid) -> str:
    """``dot1qPvid.12`` rather than a dotted OID, in messages for people."""
    for prefix, name in _OBJECT_NAMES.items():
        if oid[: len(prefix)] == prefix:
            return ".".join([name, *(str(x) for x in oid[len(prefix) :])])
    return ".".join(str(x) for x in oid)


def parse_address(address: str, default_port: int = 161) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    text = address.strip()
    if not text:
        raise ValueError("the switch has no address")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default_port


@dataclass(frozen=True, slots=True)
class _Port:
    name: str
    if_index: int
    bridge_port: int | None


class SnmpQBridgeDriver(SwitchDriver):
    """Ports are named by ifName; VLAN membership is written in the static VLAN table, then the PVIDs.

    Options (the inventory's ``[site.switch.options]``): ``timeout`` (seconds per request, default 2),
    ``retries`` (default 1), ``max_in_flight`` (requests at once, default 32), ``varbinds_per_pdu``
    (default 20), ``max_repetitions`` (GETBULK, default 32), ``detect_trunks`` (default true: read the
    static VLAN table with every read to report tagged members as trunks).
    """

    def __init__(self, switch: Switch, credentials: Mapping[str, Any] | None = None, context: Any = None) -> None:
        super().__init__(switch, credentials, context)
        opts = switch.options
        self.timeout = float(opts.get("timeout", 2.0))
        self.retries = int(opts.get("retries", 1))
        self.max_in_flight = max(1, int(opts.get("max_in_flight", 32)))
        self.varbinds_per_pdu = max(1, int(opts.get("varbinds_per_pdu", 20)))
        self.max_repetitions = max(1, int(opts.get("max_repetitions", 32)))
        self.detect_trunks = bool(opts.get("detect_trunks", True))
        self._ports: dict[str, _Port] | None = None
        self._has_pvid: bool | None = None
        self._session: _Session | None = None

    # --- errors and the SNMP session -----------------------------------------------------------------

    def _error(self, reason: str, ports: Iterable[str] = ()) -> SwitchError:
        return SwitchError(self.switch.name, reason, ports=list(ports))

    async def _open(self) -> _Session:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and session.loop is loop:
            return session
        if session is not None:  # an engine is bound to the loop it first ran in
            session.close()
            self._session = None
        try:
            host, port = parse_address(self.switch.address)
        except ValueError as exc:
            raise self._error(f"bad SNMP address {self.switch.address!r}: {exc}") from None
        read_auth, write_auth = _auth_data(self.credentials, self._error)
        self._session = _Session(self, loop, host, port, read_auth, write_auth)
        await self._session.connect()
        return self._session

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
                name = bytes(value.asOctets()).decode("utf-8", errors="replace")
                if name and name not in ports:  # the first interface of a name wins, as on the switch's CLI
                    ports[name] = _Port(name, suffix[0], by_if_index.get(suffix[0]))
            if not ports:
                raise self._error(f"the switch at {self.switch.address} lists no interfaces (ifName is empty)")
            self._ports = ports
        unknown = [n for n in wanted if n not in self._ports]
        if unknown:
            raise self._error(f"no interface named {_names(unknown)} (ifName)", unknown)
        not_bridged = [n for n in wanted if self._ports[n].bridge_port is None]
        if not_bridged:
            raise self._error(f"{_names(not_bridged)} is not a bridge port (no dot1dBasePortIfIndex)", not_bridged)
        return {n: self._ports[n] for n in wanted}

    # --- reads -------------------------------------------------------------------------------------------

    async def _vlan_lists(self, session: _Session) -> dict[int, tuple[bytes, bytes]]:
        """Every static VLAN's (egress, untagged) PortLists, by VLAN id."""
        columns = await session.walk([VLAN_STATIC_EGRESS, VLAN_STATIC_UNTAGGED])
        egress = {s[0]: bytes(v.asOctets()) for s, v in columns[VLAN_STATIC_EGRESS] if len(s) == 1 and v is not None}
        untagged = {s[0]: bytes(v.asOctets()) for s, v in columns[VLAN_STATIC_UNTAGGED] if len(s) == 1 and v is not None}
        return {vid: (egress.get(vid, b""), untagged.get(vid, b"")) for vid in sorted(set(egress) | set(untagged))}

    async def _pvids(self, session: _Session, bridge_ports: Sequence[int]) -> dict[int, int | None]:
        if self._has_pvid is False:
            return dict.fromkeys(bridge_ports)
        values = await session.get([(*PVID, bp) for bp in bridge_ports])
        pvids = {bp: None if values[(*PVID, bp)] is None else int(values[(*PVID, bp)]) for bp in bridge_ports}
        if any(v is not None for v in pvids.values()):
            self._has_pvid = True
        elif self._has_pvid is None:
            self._has_pvid = False  # a switch without dot1qPvid: tags come from the untagged PortLists
        return pvids

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        if not ports:
            return {}
        mapping = await self._port_map(ports)
        session = await self._open()
        bridge_ports = sorted({p.bridge_port for p in mapping.values() if p.bridge_port is not None})
        pvids, lists = await _settle(
            [
                self._pvids(session, bridge_ports),
                self._vlan_lists(session) if self.detect_trunks or self._has_pvid is not True else _none(),
            ]
        )
        if lists is None and any(v is None for v in pvids.values()):
            lists = await self._vlan_lists(session)  # some ports have no PVID after all
        members = _memberships(lists or {})
        out: dict[str, PortState] = {}
        for name in ports:
            bp = mapping[name].bridge_port
            assert bp is not None
            untagged_in, tagged_in = members.get(bp, (set(), set()))
            if tagged_in:
                out[name] = PortState(None, trunk=True)
                continue
            tag = pvids.get(bp)
            if tag is None:
                if len(untagged_in) == 1:
                    tag = next(iter(untagged_in))
                elif not untagged_in:
                    raise self._error(f"port {name} has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown", [name])
                else:
                    vids = ", ".join(str(v) for v in sorted(untagged_in))
                    raise self._error(f"port {name} has no dot1qPvid and is untagged in several VLANs ({vids})", [name])
            out[name] = PortState(tag)
        return out

    # --- writes ------------------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[PortChange]) -> None:
        if not changes:
            return
        for change in changes:
            if not 1 <= change.new_tag <= MAX_VID:
                raise self._error(f"VLAN tag {change.new_tag} of port {change.port} is out of range (1-{MAX_VID})", [change.port])
        mapping = await self._port_map([c.port for c in changes])
        session = await self._open()
        bridge: dict[str, int] = {}
        for change in changes:
            bp = mapping[change.port].bridge_port
            assert bp is not None  # _port_map refuses ports that are not bridge ports
            bridge[change.port] = bp
        if self._has_pvid is None:  # learn whether the switch has dot1qPvid, in the same round trip
            lists, _ = await _settle([self._vlan_lists(session), self._pvids(session, sorted(set(bridge.values())))])
        else:
            lists = await self._vlan_lists(session)
        # the switch's lists, updated as each PDU is sent: two new VLANs may share an old one
        egress = {vid: e for vid, (e, _) in lists.items()}
        untagged = {vid: u for vid, (_, u) in lists.items()}
        # write PortLists at the longest length the switch uses (some refuse others with wrongLength)
        size = max((len(octets) for pair in lists.values() for octets in pair), default=0)

        def sized(octets: bytes) -> bytes:
            return octets + bytes(size - len(octets)) if len(octets) < size else octets
        by_tag: dict[int, list[PortChange]] = {}
        for change in changes:
            by_tag.setdefault(change.new_tag, []).append(change)
        missing = [tag for tag in by_tag if tag not in egress]
        if missing:
            ports = [c.port for tag in missing for c in by_tag[tag]]
            raise self._error(f"VLAN {', '.join(map(str, missing))} does not exist on the switch", ports)

        for tag, group in by_tag.items():
            moving = {bridge[c.port] for c in group}
            pdu: list[tuple[Oid, Any]] = []
            # every VLAN that holds a moving port untagged, and the VLAN the caller believes it left
            old_vids = {vid for vid, u in untagged.items() if vid != tag and portlist.decode(u) & moving}
            old_vids |= {c.old_tag for c in group if c.old_tag != tag and c.old_tag in egress}
            for vid in sorted(old_vids):
                leaving = {bp for bp in moving if bp in portlist.decode(untagged[vid])}
                leaving |= {bridge[c.port] for c in group if c.old_tag == vid}
                new_egress = sized(portlist.update(egress[vid], remove=leaving))
                new_untagged = sized(portlist.update(untagged[vid], remove=leaving))
                if not portlist.same(new_egress, egress[vid]):
                    pdu.append(((*VLAN_STATIC_EGRESS, vid), new_egress))
                    egress[vid] = new_egress
                if not portlist.same(new_untagged, untagged[vid]):
                    pdu.append(((*VLAN_STATIC_UNTAGGED, vid), new_untagged))
                    untagged[vid] = new_untagged
            egress[tag] = sized(portlist.update(egress[tag], add=moving))
            untagged[tag] = sized(portlist.update(untagged[tag], add=moving))
            pdu.append(((*VLAN_STATIC_EGRESS, tag), egress[tag]))
            pdu.append(((*VLAN_STATIC_UNTAGGED, tag), untagged[tag]))
            await session.set(pdu, f"moving port(s) to VLAN {tag}", [c.port for c in group])

        if self._has_pvid:
            pvid_varbinds = [((*PVID, bridge[c.port]), c.new_tag) for c in changes]
            chunks = [pvid_varbinds[i : i + self.varbinds_per_pdu] for i in range(0, len(pvid_varbinds), self.varbinds_per_pdu)]
            ports_of = {(*PVID, bridge[c.port]): c.port for c in changes}
            await _settle(session.set(chunk, "setting dot1qPvid", [ports_of[oid] for oid, _ in chunk], gauge=True) for chunk in chunks)

    async def ensure_vlan(self, tag: int, name: str) -> None:
        if not 1 <= tag <= MAX_VID:
            raise self._error(f"VLAN tag {tag} is out of range (1-{MAX_VID})")
        session = await self._open()
        status = (await session.get([(*VLAN_STATIC_ROW_STATUS, tag)]))[(*VLAN_STATIC_ROW_STATUS, tag)]
        if status is not None:
            if int(status) != ACTIVE:
                await session.set([((*VLAN_STATIC_ROW_STATUS, tag), ACTIVE)], f"activating VLAN {tag}", [])
            return
        label = name.encode("utf-8")[:NAME_MAX]
        await session.set(
            [((*VLAN_STATIC_NAME, tag), label), ((*VLAN_STATIC_ROW_STATUS, tag), CREATE_AND_GO)],
            f"creating VLAN {tag}",
            [],
        )

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


async def _none() -> None:
    return None


async def _settle(coros: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run all to completion (each bounded by its own timeout), then raise the first failure, with every failed port."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        return results
    first = failures[0]
    if isinstance(first, SwitchError):
        ports = [p for f in failures if isinstance(f, SwitchError) for p in f.ports]
        first.ports = tuple(dict.fromkeys(ports))
    raise first


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5])
    return shown if len(names) <= 5 else f"{shown} (and {len(names) - 5} more)"


def _memberships(lists: Mapping[int, tuple[bytes, bytes]]) -> dict[int, tuple[set[int], set[int]]]:
    """Per bridge port: the VLANs it is untagged in, and those it is a tagged member of."""
    out: dict[int, tuple[set[int], set[int]]] = {}
    for vid, (egress, untagged) in lists.items():
        untagged_ports = portlist.decode(untagged)
        for bp in untagged_ports:
            out.setdefault(bp, (set(), set()))[0].add(vid)
        for bp in portlist.decode(egress) - untagged_ports:
            out.setdefault(bp, (set(), set()))[1].add(vid)
    return out


def _auth_data(credentials: Mapping[str, Any], error: Any) -> tuple[Any, Any]:
    """The (read, write) pysnmp auth objects of the credentials: v2c communities or a v3 user."""
    version = str(credentials.get("version", "2c")).lower().removeprefix("v")
    if version == "2c":
        community = credentials.get("community")
        if not community:
            raise error("no SNMP community in the switch's credentials (credentials: version = \"2c\", community = ...)")
        write = credentials.get("write_community") or community
        return hlapi.CommunityData(str(community), mpModel=1), hlapi.CommunityData(str(write), mpModel=1)
    if version == "3":
        user = credentials.get("user")
        if not user:
            raise error("no SNMPv3 user in the switch's credentials")
        kwargs: dict[str, Any] = {}
        auth_key, priv_key = credentials.get("auth_key"), credentials.get("priv_key")
        if auth_key:
            proto = str(credentials.get("auth_protocol", "sha")).lower().replace("-", "")
            if proto not in _AUTH_PROTOCOLS:
                raise error(f"unknown SNMPv3 auth_protocol {proto!r} (known: {', '.join(sorted(_AUTH_PROTOCOLS))})")
            kwargs.update(authKey=str(auth_key), authProtocol=getattr(hlapi, _AUTH_PROTOCOLS[proto]))
        if priv_key:
            if not auth_key:
                raise error("an SNMPv3 priv_key needs an auth_key too")
            proto = str(credentials.get("priv_protocol", "aes")).lower().replace("-", "")
            if proto not in _PRIV_PROTOCOLS:
                raise error(f"unknown SNMPv3 priv_protocol {proto!r} (known: {', '.join(sorted(_PRIV_PROTOCOLS))})")
            kwargs.update(privKey=str(priv_key), privProtocol=getattr(hlapi, _PRIV_PROTOCOLS[proto]))
        auth = hlapi.UsmUserData(str(user), **kwargs)
        return auth, auth
    raise error(f"SNMP version {credentials.get('version')!r} is not supported here (use \"2c\" or \"3\")")


class _Session:
    """One pysnmp engine and target for one switch in one event loop, with at most ``max_in_flight`` requests."""

    def __init__(self, driver: SnmpQBridgeDriver, loop: asyncio.AbstractEventLoop, host: str, port: int,
                 read_auth: Any, write_auth: Any) -> None:
        self.hlapi = hlapi
        self.driver = driver
        self.loop = loop
        self.host, self.port = host, port
        self.where = driver.switch.address
        self.read_auth, self.write_auth = read_auth, write_auth
        self.engine = hlapi.SnmpEngine()
        # hlapi resolves every varbind through the MIB view in the engine's cache (only hlapi reads it); its
        # first use costs 0.4 s to over 1 s of CPU (pysmi builds a parser), so the engines of a process share one
        with contextlib.suppress(AttributeError, TypeError):
            self.engine.cache["mibViewController"] = _shared_mib_view()
        self.target: Any = None
        self.gate = asyncio.Semaphore(driver.max_in_flight)

    async def connect(self) -> None:
        cls = self.hlapi.Udp6TransportTarget if ":" in self.host else self.hlapi.UdpTransportTarget
        try:
            self.target = await cls.create((self.host, self.port), timeout=self.driver.timeout, retries=self.driver.retries)
        except Exception as exc:  # name resolution, mostly
            raise self.driver._error(f"cannot reach {self.where}: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.engine.close_dispatcher()

    def _varbind(self, oid: Oid, value: Any = None, *, gauge: bool = False) -> Any:
        h = self.hlapi
        if value is None:
            return h.ObjectType(h.ObjectIdentity(oid))
        if isinstance(value, bytes):
            return h.ObjectType(h.ObjectIdentity(oid), h.OctetString(value))
        if gauge:
            return h.ObjectType(h.ObjectIdentity(oid), h.Gauge32(value))
        return h.ObjectType(h.ObjectIdentity(oid), h.Integer32(value))

    def _check(self, result: tuple[Any, Any, Any, Sequence[Any]], doing: str, oids: Sequence[Oid], ports: Sequence[str],
               *, writing: bool) -> Sequence[Any]:
        indication, status, index, varbinds = result
        if indication:
            if isinstance(indication, errind.RequestTimedOut):
                raise SwitchTimeout(self.driver.switch.name, f"no answer from {self.where} (timed out)", ports=list(ports))
            hint = " (check the SNMPv3 user and keys)" if "digest" in str(indication).lower() or "user" in str(indication).lower() else ""
            raise self.driver._error(f"SNMP error from {self.where} while {doing}: {indication}{hint}", ports)
        if status and int(status) != 0:
            status_name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            position = int(index) - 1 if index else -1
            what = f" on {object_name(oids[position])}" if 0 <= position < len(oids) else ""
            hint = ""
            if status_name in _ACCESS_ERRORS and writing:
                hint = " (read-only community or user? writes use write_community, or a v3 user with write access)"
            raise self.driver._error(f"the switch refused {doing}: {status_name}{what}{hint}", ports)
        return varbinds

    async def _request(self, command: Any, auth: Any, *args: Any) -> tuple[Any, Any, Any, Sequence[Any]]:
        async with self.gate:
            try:
                return await command(self.engine, auth, self.target, self.hlapi.ContextData(), *args, lookupMib=False)  # type: ignore[no-any-return]
            except PySnmpError as exc:
                raise self.driver._error(f"SNMP error talking to {self.where}: {exc}") from None

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """Each OID's value, None when the switch has no such object; batched into PDUs, sent concurrently."""
        size = self.driver.varbinds_per_pdu
        chunks = [list(oids[i : i + size]) for i in range(0, len(oids), size)]

        async def one(chunk: list[Oid]) -> dict[Oid, Any]:
            result = await self._request(self.hlapi.get_cmd, self.read_auth, *(self._varbind(o) for o in chunk))
            varbinds = self._check(result, f"reading {object_name(chunk[0])}", chunk, [], writing=False)
            if len(varbinds) != len(chunk):
                raise self.driver._error(f"answered {len(varbinds)} values for {len(chunk)} requested")
            return {oid: _present(value) for oid, (_, value) in zip(chunk, varbinds, strict=True)}

        out: dict[Oid, Any] = {}
        for part in await _settle(one(c) for c in chunks):
            out.update(part)
        return out

    async def walk(self, columns: Sequence[Oid], max_rounds: int = 1000) -> dict[Oid, list[tuple[Oid, Any]]]:
        """The rows of table columns walked side by side with GETBULK: per column, (index suffix, value)."""
        rows: dict[Oid, list[tuple[Oid, Any]]] = {c: [] for c in columns}
        cursor: dict[Oid, Oid] = {c: c for c in columns}
        reps = self.driver.max_repetitions
        for _ in range(max_rounds):
            active = [c for c in columns if c in cursor]
            if not active:
                return rows
            result = await self._request(
                self.hlapi.bulk_cmd, self.read_auth, 0, reps, *(self._varbind(cursor[c]) for c in active)
            )
            varbinds = self._check(result, f"reading {object_name(active[0])}", active, [], writing=False)
            if not varbinds:
                return rows
            for i, (name, value) in enumerate(varbinds):
                column = active[i % len(active)]
                if column not in cursor:
                    continue
                oid = tuple(name)
                if oid[: len(column)] != column or _present(value) is None:
                    del cursor[column]  # walked past the column's end
                    continue
                if oid <= cursor[column]:
                    raise self.driver._error(f"answered a non-increasing OID {object_name(oid)} while walking {object_name(column)}")
                rows[column].append((oid[len(column) :], value))
                cursor[column] = oid
        raise self.driver._error(f"walking {', '.join(object_name(c) for c in columns)} took more than {max_rounds} requests")

    async def set(self, varbinds: Sequence[tuple[Oid, Any]], doing: str, ports: Sequence[str], *, gauge: bool = False) -> None:
        """One SET PDU; every returned varbind is checked (some agents refuse with noSuchInstance, no error status)."""
        oids = [oid for oid, _ in varbinds]
        result = await self._request(self.hlapi.set_cmd, self.write_auth, *(self._varbind(o, v, gauge=gauge) for o, v in varbinds))
        answered = self._check(result, doing, oids, ports, writing=True)
        for oid, (_, value) in zip(oids, answered, strict=False):
            if _present(value) is None:
                raise self.driver._error(f"the switch refused {doing}: no such object {object_name(oid)}", ports)


@functools.cache
def _shared_mib_view() -> Any:
    return view.MibViewController(builder.MibBuilder())


def _present(value: Any) -> Any:
    """The value, or None for noSuchObject, noSuchInstance and endOfMibView."""
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
        return None
    return value
