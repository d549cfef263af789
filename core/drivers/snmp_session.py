"""The SNMP layer the SNMP switch drivers share: credentials, addresses, and a batched pysnmp 7 session."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto import errind, rfc1905
from pysnmp.smi import builder, view

from ..model import Switch
from .base import DriverContext, FdbTable, PortChange, PortCounters, SwitchDriver, SwitchError, SwitchTimeout

if TYPE_CHECKING:
    from .snmp_interfaces import Interfaces

Oid = tuple[int, ...]

MAX_VID = 4094
SYS_UP_TIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
BEFORE_SYS_UP_TIME: Oid = SYS_UP_TIME[:-1]
"""The OID whose GETNEXT answers sysUpTime.0: how sysUpTime rides on a walk's first GETBULK."""

_OBJECT_NAMES: dict[Oid, str] = {
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 2): "ifDescr",
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1): "ifName",
}

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


def name_objects(names: Mapping[Oid, str]) -> None:
    """Teach ``object_name`` the MIB objects a driver uses."""
    _OBJECT_NAMES.update(names)


def object_name(oid: Oid) -> str:
    """``dot1qPvid.12`` rather than a dotted OID, in messages for people."""
    best: Oid = ()
    for prefix in _OBJECT_NAMES:
        if len(prefix) > len(best) and oid[: len(prefix)] == prefix:
            best = prefix
    if best:
        return ".".join([_OBJECT_NAMES[best], *(str(x) for x in oid[len(best) :])])
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


def present(value: Any) -> Any:
    """The value, or None for noSuchObject, noSuchInstance and endOfMibView."""
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
        return None
    return value


def text_of(value: Any) -> str:
    """An OCTET STRING as text (``.asOctets()``: printable strings come back as strings)."""
    return bytes(value.asOctets()).decode("utf-8", errors="replace")


def names_of(names: Sequence[str]) -> str:
    """At most five port names, for a message."""
    shown = ", ".join(names[:5])
    return shown if len(names) <= 5 else f"{shown} (and {len(names) - 5} more)"


def problems_sentence(problems: Mapping[str, str]) -> str:
    """One sentence per port whose VLAN cannot be told (port name -> reason), at most five of them."""
    items = list(problems.items())
    text = "; ".join(f"port {port} {reason}" for port, reason in items[:5])
    return text if len(items) <= 5 else f"{text} (and {len(items) - 5} more ports)"


async def none() -> None:
    return None


async def settle(coros: Iterable[Awaitable[Any]]) -> list[Any]:
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


def auth_data(credentials: Mapping[str, Any], error: Any) -> tuple[Any, Any]:
    """The (read, write) pysnmp auth objects of the credentials: v2c communities or a v3 user."""
    version = str(credentials.get("version", "2c")).lower().removeprefix("v")
    if version == "2c":
        community = credentials.get("community")
        if not community:
            raise error(
                'no SNMP community in the switch\'s credentials (credentials: version = "2c", community = ...)'
            )
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
                raise error(
                    f"unknown SNMPv3 auth_protocol {proto!r} (known: {', '.join(sorted(_AUTH_PROTOCOLS))})"
                )
            kwargs.update(authKey=str(auth_key), authProtocol=getattr(hlapi, _AUTH_PROTOCOLS[proto]))
        if priv_key:
            if not auth_key:
                raise error("an SNMPv3 priv_key needs an auth_key too")
            proto = str(credentials.get("priv_protocol", "aes")).lower().replace("-", "")
            if proto not in _PRIV_PROTOCOLS:
                raise error(
                    f"unknown SNMPv3 priv_protocol {proto!r} (known: {', '.join(sorted(_PRIV_PROTOCOLS))})"
                )
            kwargs.update(privKey=str(priv_key), privProtocol=getattr(hlapi, _PRIV_PROTOCOLS[proto]))
        auth = hlapi.UsmUserData(str(user), **kwargs)
        return auth, auth
    raise error(f'SNMP version {credentials.get("version")!r} is not supported here (use "2c" or "3")')


class Gauge(int):
    """An unsigned value sent as Gauge32 (dot1qPvid), in a PDU that may mix it with other types."""


class SnmpDriver(SwitchDriver):
    """What every SNMP driver shares: its options, its errors and one session per event loop.

    Options (the inventory's ``[site.switch.options]``): ``timeout`` (seconds per request, default 2),
    ``retries`` (default 1), ``max_in_flight`` (requests at once, default 32), ``varbinds_per_pdu``
    (default 48: SNMP only guarantees 484-octet messages, lower it for old switches), ``max_repetitions``
    (GETBULK, default 32; later walks of a table ask for as many rows as it had, plus one), ``max_answer_octets``
    (default 48000: a GETBULK asks for no more rows than the values seen so far say fit in that many octets).

    Reads adapt to what the switch can answer: a GETBULK answer that does not fit one datagram (tooBig, or no
    answer at all from a switch that still answers a small request) is asked again one row at a time, then one
    column at a time; a GET too big for one datagram is split. The size that fit is remembered per table for the
    driver's lifetime (``read_sizes``): it is a size, never a fact about the switch's ports.
    """

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        opts = switch.options
        self.timeout = float(opts.get("timeout", 2.0))
        self.retries = int(opts.get("retries", 1))
        self.max_in_flight = max(1, int(opts.get("max_in_flight", 32)))
        self.varbinds_per_pdu = max(1, int(opts.get("varbinds_per_pdu", 48)))
        self.max_repetitions = max(1, int(opts.get("max_repetitions", 32)))
        self.max_answer_octets = max(484, int(opts.get("max_answer_octets", 48000)))
        self.read_sizes: dict[str, int] = {}
        """table (or GET kind) -> the rows per GETBULK (varbinds per GET) that fit the switch's answers."""
        self.too_big: dict[str, int] = {}
        """table -> the smallest GETBULK size whose answer did not arrive."""
        self.row_octets: dict[str, int] = {}
        """table -> the largest row it answered, in octets."""
        self._session: SnmpSession | None = None
        self._opening: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._uptime: tuple[float, int] | None = None
        self._monitor_interfaces: Interfaces | None = None
        """(this host's monotonic clock, the switch's sysUpTime) at the last read that saw it."""

    def _check_uptime(self, ticks: Any) -> None:
        """Raise ``SwitchRestarted`` where sysUpTime (read with a read, at no request of its own) says the switch
        restarted since the last read: what was read of its interfaces may be numbered anew (without ifIndex
        persistence, a switch renumbers them when a module comes or goes). It restarted if its uptime went back,
        or advanced less than this host's clock by more than a slow answer and clock drift explain. A switch that
        does not answer sysUpTime, or whose uptime stands still (a recording), tells nothing."""
        try:
            value = int(ticks)
        except (TypeError, ValueError):
            return
        now = monotonic()
        last, self._uptime = self._uptime, (now, value)
        if last is None or value == last[1]:
            return
        then, before = last
        slack = 2.0 + self.timeout * (self.retries + 1) + 0.001 * (now - then)
        if value < before or (now - then) - (value - before) / 100 > slack:
            self._forget_interfaces()  # whichever read found it: the next read of any kind maps ports anew
            raise SwitchRestarted(
                self.switch.name, "the switch restarted while it was being read (its sysUpTime went back)"
            )

    # --- monitoring (snmp_monitor) -----------------------------------------------------------------------

    async def _monitored(self, names: Iterable[str]) -> Interfaces:
        """The switch's interfaces with its bridge-port map, for monitoring reads (read once, and again when a
        name is new to it or the switch restarted)."""
        from .snmp_interfaces import read_interfaces

        wanted = list(names)
        cached = self._monitor_interfaces
        if cached is None or not cached.knows(wanted):
            cached = await read_interfaces(await self._open(), bridged=True)
            if not cached.by_index:
                raise self._error(
                    f"the switch at {self.switch.address} lists no interfaces (ifName, ifDescr)"
                )
            self._monitor_interfaces = cached
        return cached

    def _forget_interfaces(self) -> None:
        """The switch restarted: its interfaces may be numbered anew (drivers forget their own maps too)."""
        self._monitor_interfaces = None

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        """IF-MIB link, speed and 64-bit counters of each port, in one batched GET with sysUpTime (a restart
        found by it reads the interfaces again, once)."""
        from . import snmp_monitor

        for attempt in (1, 2):
            interfaces = await self._monitored(ports)
            counters, uptime = await snmp_monitor.read_counters(await self._open(), interfaces, ports)
            try:
                self._check_uptime(uptime)
            except SwitchRestarted:
                if attempt == 2:
                    raise
                continue
            return counters
        raise AssertionError("unreachable")

    async def read_fdb(self) -> FdbTable:
        """The forwarding table (see ``snmp_monitor.read_fdb``); BRIDGE-MIB rows say no VLAN (a switch's default
        context may be any VLAN's: Cisco keeps one per VLAN), so they are in no VLAN."""
        from . import snmp_monitor

        interfaces = await self._monitored([])
        return await snmp_monitor.read_fdb(await self._open(), interfaces, bridge_tag=None)

    def _error(self, reason: str, ports: Iterable[str] = ()) -> SwitchError:
        return SwitchError(self.switch.name, reason, ports=list(ports))

    def _check_tags(self, changes: Sequence[PortChange]) -> None:
        """Refuse a VLAN tag outside 1-4094 before anything is sent."""
        for change in changes:
            if not 1 <= change.new_tag <= MAX_VID:
                raise self._error(
                    f"VLAN tag {change.new_tag} of port {change.port} is out of range (1-{MAX_VID})",
                    [change.port],
                )

    async def _open(self) -> SnmpSession:
        """This loop's session, opened once: reads that start together (a poll beside a drift check) wait for
        the one being opened rather than use it before its target exists."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and session.loop is loop:
            return session
        if self._opening is None or self._opening[0] is not loop:
            self._opening = (loop, asyncio.Lock())
        async with self._opening[1]:
            session = self._session
            if session is not None and session.loop is loop:
                return session  # opened while this one waited
            if session is not None:  # an engine is bound to the loop it first ran in
                session.close()
                self._session = None
            try:
                host, port = parse_address(self.switch.address)
            except ValueError as exc:
                raise self._error(f"bad SNMP address {self.switch.address!r}: {exc}") from None
            read_auth, write_auth = auth_data(self.credentials, self._error)
            opened = SnmpSession(self, loop, host, port, read_auth, write_auth)
            try:
                await opened.connect()
            except BaseException:
                opened.close()
                raise
            self._session = opened
            return opened

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class SnmpSession:
    """One pysnmp engine and target for one switch in one event loop, with at most ``max_in_flight`` requests."""

    def __init__(
        self,
        driver: SnmpDriver,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        read_auth: Any,
        write_auth: Any,
    ) -> None:
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
            self.engine.cache["mibViewController"] = shared_mib_view()
        self.target: Any = None
        self.gate = asyncio.Semaphore(driver.max_in_flight)
        # hlapi resolves each varbind through the MIB view, which costs more CPU than the rest of a request; a
        # resolved object is kept resolved, so the OIDs a driver asks for again and again are built once
        self._reads: dict[Oid, Any] = {}
        self._names: dict[Oid, Any] = {}

    async def connect(self) -> None:
        cls = self.hlapi.Udp6TransportTarget if ":" in self.host else self.hlapi.UdpTransportTarget
        try:
            self.target = await cls.create(
                (self.host, self.port), timeout=self.driver.timeout, retries=self.driver.retries
            )
        except Exception as exc:  # name resolution, mostly
            raise self.driver._error(f"cannot reach {self.where}: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.engine.close_dispatcher()

    def _varbind(self, oid: Oid, value: Any = None, *, gauge: bool = False) -> Any:
        h = self.hlapi
        if value is None:
            found = self._reads.get(oid)
            if found is None:
                found = self._reads[oid] = h.ObjectType(h.ObjectIdentity(oid))
            return found
        name = self._names.get(oid)
        if name is None:
            name = self._names[oid] = h.ObjectIdentity(oid)
        return self._typed(name, value, gauge=gauge)

    def _typed(self, name: Any, value: Any, *, gauge: bool) -> Any:
        h = self.hlapi
        if isinstance(value, bytes):
            return h.ObjectType(name, h.OctetString(value))
        if gauge or isinstance(value, Gauge):
            return h.ObjectType(name, h.Gauge32(int(value)))
        return h.ObjectType(name, h.Integer32(value))

    def _check(
        self,
        result: tuple[Any, Any, Any, Sequence[Any]],
        doing: str,
        oids: Sequence[Oid],
        ports: Sequence[str],
        *,
        writing: bool,
    ) -> Sequence[Any]:
        indication, status, index, varbinds = result
        if indication:
            if isinstance(indication, errind.RequestTimedOut):
                raise SwitchTimeout(
                    self.driver.switch.name, f"no answer from {self.where} (timed out)", ports=list(ports)
                )
            hint = (
                " (check the SNMPv3 user and keys)"
                if "digest" in str(indication).lower() or "user" in str(indication).lower()
                else ""
            )
            raise self.driver._error(f"SNMP error from {self.where} while {doing}: {indication}{hint}", ports)
        if status and int(status) != 0:
            status_name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            position = int(index) - 1 if index else -1
            what = f" on {object_name(oids[position])}" if 0 <= position < len(oids) else ""
            hint = ""
            if status_name in _ACCESS_ERRORS and writing:
                hint = " (read-only community or user? writes use write_community, or a v3 user with write access)"
            error = AnswerTooBig if status_name == "tooBig" else SwitchError
            raise error(
                self.driver.switch.name, f"the switch refused {doing}: {status_name}{what}{hint}", ports=ports
            )
        return varbinds

    async def request(self, command: Any, auth: Any, *args: Any) -> tuple[Any, Any, Any, Sequence[Any]]:
        """One pysnmp command (``get_cmd``, ``next_cmd``, ``bulk_cmd``, ``set_cmd``) to the switch, at most
        ``max_in_flight`` at once: every PDU of the session goes through here (the tests count and answer PDUs
        here)."""
        async with self.gate:
            self.driver.sent += 1
            try:
                return await command(
                    self.engine, auth, self.target, self.hlapi.ContextData(), *args, lookupMib=False
                )  # type: ignore[no-any-return]
            except PySnmpError as exc:
                raise self.driver._error(f"SNMP error talking to {self.where}: {exc}") from None

    async def still_there(self, failure: SwitchError) -> None:
        """After a big request got no answer: whether the switch answers a small one (sysUpTime.0); if it does
        not either, the switch is gone and ``failure`` is the answer."""
        if not isinstance(failure, SwitchTimeout):
            return
        result = await self.request(self.hlapi.get_cmd, self.read_auth, self._varbind(SYS_UP_TIME))
        if result[0]:
            raise failure

    # --- GET -------------------------------------------------------------------------------------------------

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """Each OID's value, None when the switch has no such object; batched into PDUs sent concurrently, a PDU
        whose answer does not fit one datagram split in two (the size that fit is remembered)."""
        if not oids:
            return {}
        key = f"get {object_name(oids[0])}"
        size = min(self.driver.varbinds_per_pdu, self.driver.read_sizes.get(key, len(oids)))
        chunks = [list(oids[i : i + size]) for i in range(0, len(oids), size)]
        out: dict[Oid, Any] = {}
        for part in await settle(self._get_fitting(key, c) for c in chunks):
            out.update(part)
        return out

    async def _get_fitting(self, key: str, chunk: list[Oid]) -> dict[Oid, Any]:
        try:
            return await self._get_one(chunk)
        except (AnswerTooBig, SwitchTimeout) as exc:
            if len(chunk) == 1:
                raise
            await self.still_there(exc)
        half = (len(chunk) + 1) // 2
        self.driver.read_sizes[key] = min(half, self.driver.read_sizes.get(key, half))
        first, second = await settle(
            [self._get_fitting(key, chunk[:half]), self._get_fitting(key, chunk[half:])]
        )
        return {**first, **second}

    async def _get_one(self, chunk: list[Oid]) -> dict[Oid, Any]:
        result = await self.request(self.hlapi.get_cmd, self.read_auth, *(self._varbind(o) for o in chunk))
        varbinds = self._check(result, f"reading {object_name(chunk[0])}", chunk, [], writing=False)
        if len(varbinds) != len(chunk):
            raise self.driver._error(f"answered {len(varbinds)} values for {len(chunk)} requested")
        out: dict[Oid, Any] = {}
        for oid, (name, value) in zip(chunk, varbinds, strict=True):
            if tuple(name) != oid:
                raise self.driver._error(
                    f"answered {object_name(tuple(name))} when asked for {object_name(oid)}"
                )
            out[oid] = present(value)
        return out

    # --- walks -----------------------------------------------------------------------------------------------

    async def walk(
        self,
        columns: Sequence[Oid],
        max_rounds: int = 1000,
        *,
        rows_hint: int | None = None,
        successors: Sequence[Oid] = (),
    ) -> dict[Oid, list[tuple[Oid, Any]]]:
        """The rows of table columns walked side by side with GETBULK: per column, (index suffix, value).
        ``rows_hint`` (how many rows the table had last time) keeps a GETBULK from reading far past its end:
        an agent such as snmpd with pass_persist answers every repetition, one helper round trip each. The rows
        asked per GETBULK follow what fits (see ``SnmpDriver``); where even one row of every column does not fit,
        the columns are walked one by one.

        ``successors``: OIDs whose next object (GETNEXT) rides along as non-repeaters of the first GETBULK, so
        that a few scalar reads cost no request of their own; answered in the result under each asked OID, as a
        one-row list (its suffix is the whole OID answered, the value None past the end of the MIB)."""
        from .snmp_walk import TableWalk  # here: snmp_walk builds on this module

        walk = TableWalk(self, columns, rows_hint, successors)
        for _ in range(max_rounds):
            if walk.done:
                return {**walk.rows, **walk.successors}
            await walk.step()
        raise self.driver._error(
            f"walking {', '.join(object_name(c) for c in columns)} took more than {max_rounds} requests"
        )

    async def bulk(self, oids: Sequence[Oid], reps: int, non_repeaters: Sequence[Oid] = ()) -> Sequence[Any]:
        """One GETBULK of ``reps`` rows from ``oids``, after the GETNEXT of each of ``non_repeaters``; the
        varbinds answered (the non-repeaters' first)."""
        asked = [*non_repeaters, *oids]
        result = await self.request(
            self.hlapi.bulk_cmd, self.read_auth, len(non_repeaters), reps, *(self._varbind(o) for o in asked)
        )
        return self._check(result, f"reading {object_name(asked[0])}", asked, [], writing=False)

    async def set(
        self, varbinds: Sequence[tuple[Oid, Any]], doing: str, ports: Sequence[str], *, gauge: bool = False
    ) -> None:
        """One SET PDU. Every returned varbind is checked: some agents (snmpsim) refuse an object with a
        noSuchInstance varbind and no error status, and a short or altered answer is no acknowledgement."""
        oids = [oid for oid, _ in varbinds]
        result = await self.request(
            self.hlapi.set_cmd, self.write_auth, *(self._varbind(o, v, gauge=gauge) for o, v in varbinds)
        )
        answered = self._check(result, doing, oids, ports, writing=True)
        if len(answered) != len(varbinds):
            raise self.driver._error(
                f"the switch answered {len(answered)} values to {doing} ({len(varbinds)} sent)", ports
            )
        for (oid, sent), (name, value) in zip(varbinds, answered, strict=True):
            if tuple(name) != oid:
                raise self.driver._error(
                    f"the switch answered {object_name(tuple(name))} to {doing} on {object_name(oid)}", ports
                )
            if present(value) is None:
                raise self.driver._error(
                    f"the switch refused {doing}: no such object {object_name(oid)}", ports
                )
            if not _same_value(sent, value):
                raise self.driver._error(
                    f"the switch answered {object_name(oid)} = {value.prettyPrint()} to {doing} (sent {sent!r})",
                    ports,
                )


class SwitchRestarted(SwitchError):
    """The switch restarted since the driver last read it: read its interfaces again (once; a second restart in a
    row is an error like any other)."""


class AnswerTooBig(SwitchError):
    """The switch answered tooBig: the answer would not fit its largest message."""


def _same_value(sent: Any, value: Any) -> bool:
    try:
        if isinstance(sent, bytes):
            return bytes(value.asOctets()) == sent
        return int(value) == int(sent)
    except (TypeError, ValueError, AttributeError):
        return False


class _NoMibCompiler:
    """Stands where pysnmp would put pysmi's MIB compiler: building pysmi's parser costs a second or two of CPU on
    a process's first request, and numeric OIDs need no MIB compiled (the base MIBs ship with pysnmp)."""

    def compile(self, *names: str, **_options: Any) -> dict[str, str]:
        return dict.fromkeys(names, "missing")

    def __bool__(self) -> bool:
        return True


@functools.cache
def shared_mib_view() -> Any:
    """One MIB view for every pysnmp engine of the process, without pysmi's compiler (see ``_NoMibCompiler``)."""
    mib_builder = builder.MibBuilder()
    mib_builder._MibBuilder__mibCompiler = _NoMibCompiler()  # set_mib_compiler would add a MIB source dir too
    return view.MibViewController(mib_builder)
