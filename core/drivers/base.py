"""The SwitchDriver contract every switch protocol implements, what the core hands a driver (DriverContext), and the
registry of drivers by name."""

from __future__ import annotations

import abc
import contextlib
import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..model import Switch


class SwitchError(RuntimeError):
    """A switch refused, failed or did not answer; the message is the switch's own reason."""

    def __init__(self, switch: str, reason: str, *, ports: Sequence[str] = ()) -> None:
        super().__init__(f"switch {switch}: {reason}")
        self.switch = switch
        self.reason = reason
        self.ports = tuple(ports)


class SwitchTimeout(SwitchError):
    """No answer in time: worth retrying."""


@dataclass(frozen=True, slots=True)
class PortState:
    """What a driver read about one port: an access port of ``tag``, a trunk, or a port it refuses."""

    tag: int | None
    """The access VLAN tag, None when the port has none (or is a trunk, or is refused)."""
    trunk: bool = False
    refused: str | None = None
    """Why the driver cannot tell this port's VLAN and will not move it, as the rest of a sentence that begins
    with "port NAME" ("has no dot1qPvid and is untagged in no VLAN: ..."); None when ``tag`` and ``trunk`` say.
    One odd port is refused alone: the other ports of the same read keep their answers."""


@dataclass(frozen=True, slots=True)
class PortCounters:
    """What a driver read of one port's link and traffic: each field None where the switch does not say."""

    up: bool | None = None
    """The link (IF-MIB ifOperStatus up, a Linux link's operstate UP)."""
    speed_mbps: int | None = None
    """ifHighSpeed, in Mb/s."""
    in_octets: int | None = None
    """ifHCInOctets: 64-bit, wraps at 2**64."""
    out_octets: int | None = None
    in_errors: int | None = None
    refused: str | None = None
    """Why nothing of this port can be read, as the rest of a sentence that begins with "port NAME"."""


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """One MAC address a switch learned: in which VLAN (by tag) and behind which port."""

    mac: str
    """Lower case, colon separated."""
    tag: int | None
    """The VLAN tag; None where the switch's forwarding database serves several VLANs (shared learning)."""
    port: str
    """The port's name (ifName); empty when the switch learned it on no interface (itself, its CPU)."""


@dataclass(frozen=True, slots=True)
class FdbTable:
    """A switch's forwarding table, or why it cannot be read (``missing``: the switch has no FDB objects, the
    driver reads none): a check must say so, never take an empty table for a clean one."""

    entries: tuple[FdbEntry, ...] = ()
    missing: str | None = None


def mac_text(octets: bytes | Sequence[int]) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in bytes(octets))


@dataclass(frozen=True, slots=True)
class PortChange:
    port: str
    old_tag: int
    new_tag: int


class PortMemory(Protocol):
    """Where a switch that has no hardware keeps the access VLAN tag of its ports (the simulated driver's).

    The core implements it over its store, so that separate processes see one simulated testbed; a driver sees
    only these two calls, never the store."""

    def read(self, switch: str, ports: Sequence[str]) -> dict[str, int]:
        """The tag of each port that has one recorded (a port never written is absent)."""
        ...

    def write(self, switch: str, tags: Mapping[str, int]) -> None:
        """Record the new tag of each port."""
        ...


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What the core tells a driver beyond its switch and credentials."""

    default_tag: int = 1
    """The tag of the site's DEFAULT VLAN: the access VLAN of a port nobody has moved yet."""
    ports: PortMemory | None = None
    """Where a simulated switch keeps its ports (None: the driver keeps them in memory, for this process only)."""
    cabled: Mapping[str, str] = field(default_factory=dict)
    """port -> the MAC address of the NIC cabled to it: what a simulated switch "learns" from its nodes' traffic
    (a driver of real hardware learns nothing from it)."""


OPTION_KINDS = {
    "number": "a number",
    "bool": "true or false",
    "text": "a string",
    "names": "a list of strings",
    "tags": "a list of integers",
}
"""The kinds of a driver's options (``SwitchDriver.OPTIONS``), as a sentence names them."""


def _option_fits(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    if kind == "names":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def check_options(switch: Switch, kinds: Mapping[str, str]) -> None:
    """The testbed's options for ``switch`` checked like input: one given with the wrong type is the switch's
    error, one sentence (``latency_ms = "fast"``), not a traceback at its first use."""
    for key, kind in kinds.items():
        if key in switch.options and not _option_fits(kind, switch.options[key]):
            raise SwitchError(
                switch.name, f"option {key} must be {OPTION_KINDS[kind]}, not {switch.options[key]!r}"
            )


class SwitchDriver(abc.ABC):
    """One switch. Drivers batch: many ports per round trip, one session or PDU per batch where the protocol allows."""

    OPTIONS: ClassVar[Mapping[str, str]] = {}
    """The options a driver reads, by kind (``OPTION_KINDS``): checked when it is made."""

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        check_options(switch, self.OPTIONS)
        self.switch = switch
        self.credentials = dict(credentials or {})
        self.context = context if context is not None else DriverContext()
        self.in_batch = False
        self.sent = 0
        """Requests sent to the switch so far (PDUs, commands): the monitoring budget charges reads with them."""

    def requests_sent(self) -> int:
        return self.sent

    @abc.abstractmethod
    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        """The state of each port. A port the driver cannot tell is refused in its own state (``refused``);
        ``SwitchError`` is for a switch that cannot be read at all (no answer, refused credentials)."""

    @abc.abstractmethod
    async def apply(self, changes: Sequence[PortChange]) -> None:
        """Apply a batch of port changes to this switch (verification is the caller's, by read-back)."""

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        """Link, speed and traffic counters of each port, in one batch (never under the move lock: a monitoring
        read must not hold up a move). A driver that reads none refuses every port with its reason."""
        why = f"cannot be monitored: the {type(self).__name__} driver reads no link or traffic counters"
        return {p: PortCounters(refused=why) for p in ports}

    async def read_fdb(self) -> FdbTable:
        """Every MAC address the switch learned, by VLAN and port, or why it cannot say."""
        return FdbTable(missing=f"the {type(self).__name__} driver reads no forwarding table")

    async def ensure_vlan(self, tag: int, name: str) -> None:  # noqa: B027 - optional for switches that need no creation
        """Make sure the VLAN exists on the switch."""

    def describe(self, changes: Sequence[PortChange]) -> list[str]:
        """What ``apply`` would send, for a dry run: the exact commands for CLI drivers, nothing for the others."""
        return []

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """The caller holds this switch's lock from the first read to the last write of a move: within it, a
        driver may reuse what it read instead of reading it again (never across a write it made)."""
        self.in_batch = True
        try:
            yield
        finally:
            self.in_batch = False
            self.end_batch()

    def end_batch(self) -> None:  # noqa: B027
        """Forget what was kept for the batch."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""


_BUILTIN = {
    "simulated": "kavlan_core.drivers.simulated:SimulatedDriver",
    "linux_bridge": "kavlan_core.drivers.linux_bridge:LinuxBridgeDriver",
    "snmp_qbridge": "kavlan_core.drivers.snmp_qbridge:SnmpQBridgeDriver",
    "snmp_cisco": "kavlan_core.drivers.snmp_cisco:SnmpCiscoDriver",
    "ssh_cli": "kavlan_core.drivers.ssh_cli:SshCliDriver",
}


def driver_class(name: str) -> type[SwitchDriver]:
    """The driver registered under ``name`` in the ``kavlan_core.drivers`` entry-point group."""
    # built-in drivers first: scanning every installed distribution costs start-up time
    target = _BUILTIN.get(name)
    if target is not None:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    from importlib.metadata import entry_points  # costly to import too, and only a plug-in needs it

    for ep in entry_points(group="kavlan_core.drivers"):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    raise LookupError(f"no switch driver named {name!r} (installed: {', '.join(sorted(_BUILTIN))})")
