"""What live monitoring reports (each node's link and traffic, the switches' forwarding tables, the isolation
check) and how it is worked out from the drivers' reads: wrap-safe rates between two counter samples, and which
learned MAC addresses are where they must not be. Pure functions: :mod:`kavlan_core.monitor` does the reading."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .drivers.base import FdbEntry, FdbTable, PortCounters
from .inventory import NicRef
from .model import vlan_label
from .reports import UnreadableSwitch

WRAP = 2**64


def rate(before: int | None, after: int | None, seconds: float) -> float | None:
    """Octets per second between two readings of a 64-bit counter, across a wrap; None where either is unknown,
    no time passed, or the counter went back by more than half its range (the switch restarted: not a wrap)."""
    if before is None or after is None or seconds <= 0:
        return None
    delta = (after - before) % WRAP
    if delta > WRAP // 2:
        return None
    return delta / seconds


@dataclass(frozen=True, slots=True)
class PortLoad:
    """One NIC's port: its link, speed, traffic (octets per second, as its switch counts them: ``in`` is what
    the node sends) and input errors; ``reason`` says why the port could not be read."""

    node: str
    nic: str
    switch: str
    port: str
    up: bool | None = None
    speed_mbps: int | None = None
    in_rate: float | None = None
    out_rate: float | None = None
    in_errors: int | None = None
    reason: str = ""


@dataclass(slots=True)
class PortsReport:
    loads: list[PortLoad] = field(default_factory=list)
    unreadable: list[UnreadableSwitch] = field(default_factory=list)
    seconds: float = 0.0
    """The time between the two samples the rates are taken over."""


def port_load(ref: NicRef, before: PortCounters | None, after: PortCounters, seconds: float) -> PortLoad:
    """A NIC's load from two samples of its port (``before`` None: no rates yet)."""
    where = (ref.node.name, ref.nic.name, ref.nic.switch, ref.nic.port)
    if after.refused is not None:
        return PortLoad(*where, reason=f"port {ref.nic.port} {after.refused}")
    return PortLoad(
        *where,
        up=after.up,
        speed_mbps=after.speed_mbps,
        in_rate=rate(before.in_octets, after.in_octets, seconds) if before else None,
        out_rate=rate(before.out_octets, after.out_octets, seconds) if before else None,
        in_errors=after.in_errors,
    )


@dataclass(frozen=True, slots=True)
class FdbRow:
    """One learned MAC: where (switch, port, VLAN) and whose (node and NIC; empty for a MAC nobody has)."""

    mac: str
    vlan: int | None
    """The site's VLAN id; None where the switch says no VLAN or a tag that is no VLAN of the site."""
    tag: int | None
    switch: str
    port: str
    node: str = ""
    nic: str = ""


@dataclass(slots=True)
class FdbReport:
    rows: list[FdbRow] = field(default_factory=list)
    unreadable: list[UnreadableSwitch] = field(default_factory=list)
    """Switches whose table could not be read, with the reason: what they learned is not here."""


@dataclass(frozen=True, slots=True)
class Leak:
    """A MAC where isolation says it must not be.

    ``kind``: ``misplaced`` (a node's MAC learned in a VLAN its port is not in), ``unknown`` (a MAC nobody has
    behind a node's port), ``foreign`` (another NIC's MAC behind a node's port), ``two-vlans`` (a MAC nobody
    has, learned in two VLANs)."""

    kind: str
    mac: str
    vlan: int | None
    switch: str
    port: str
    detail: str
    """The whole finding as one sentence."""
    node: str = ""
    nic: str = ""


@dataclass(slots=True)
class IsolationReport:
    scope: str
    """What was checked: ``VLAN 4``, ``job 1000 (VLAN 4)``, ``site sophia``."""
    vlans: list[int] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    unreadable: list[UnreadableSwitch] = field(default_factory=list)
    """Switches whose table or ports could not be read: the check cannot vouch for them."""
    macs: int = 0
    """MAC addresses the switches learned in the scope."""
    no_vlan: int = 0
    """Entries the switches learned in no VLAN they can tell (shared learning, BRIDGE-MIB only): not checked."""
    stale: int = 0
    """A node's MAC still remembered on an uplink in the VLAN its NIC left less than the switches' ageing time
    ago (``fdb_ageing``): learned before the move, forgotten soon, not a leak."""

    @property
    def clean(self) -> bool:
        """No leak, and every switch read."""
        return not self.leaks and not self.unreadable


@dataclass(frozen=True, slots=True)
class Testbed:
    """What the check knows of a site: the NIC of each MAC and of each port, the tag each node port holds now
    (read from its switch), and how tags name VLANs."""

    by_mac: Mapping[str, NicRef]
    by_port: Mapping[tuple[str, str], NicRef]
    port_tags: Mapping[tuple[str, str], int | None]
    vlan_of_tag: Mapping[int, int]
    left_tags: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """The tag of the VLAN each NIC (node, NIC) left by a move less than the switches' ageing time ago."""


def is_stale(bed: Testbed, switch: str, entry: FdbEntry, owner: NicRef) -> bool:
    """A node's MAC in the VLAN its NIC just left, on a port that is no node's (a trunk, an uplink): what the
    switch learned before the move and keeps until it ages out. Behind a node's port it is a leak still."""
    return bed.left_tags.get(owner.key) == entry.tag and (switch, entry.port) not in bed.by_port


def _who(ref: NicRef) -> str:
    return f"{ref.node.name}/{ref.nic.name}"


def _vlan_text(bed: Testbed, tag: int | None) -> str:
    vlan = bed.vlan_of_tag.get(tag) if tag is not None else None
    return f"VLAN {vlan_label(vlan)}" if vlan is not None else f"tag {tag}"


def _entry_leaks(bed: Testbed, switch: str, entry: FdbEntry) -> list[Leak]:
    """What one learned entry says is wrong."""
    out = []
    vlan = bed.vlan_of_tag.get(entry.tag) if entry.tag is not None else None
    where = f"on {switch} port {entry.port or '(none)'}"
    owner = bed.by_mac.get(entry.mac)
    if owner is not None and entry.tag is not None:
        tag = bed.port_tags.get((owner.nic.switch, owner.nic.port))
        if tag is not None and tag != entry.tag and not is_stale(bed, switch, entry, owner):
            detail = (
                f"{_who(owner)} ({entry.mac}) is seen in {_vlan_text(bed, entry.tag)} {where}, but its port "
                f"{owner.nic.switch}/{owner.nic.port} is in {_vlan_text(bed, tag)}"
            )
            out.append(
                Leak(
                    "misplaced", entry.mac, vlan, switch, entry.port, detail, owner.node.name, owner.nic.name
                )
            )
    behind = bed.by_port.get((switch, entry.port))
    if behind is not None and (owner is None or owner.key != behind.key):
        kind = "unknown" if owner is None else "foreign"
        whose = "a MAC no node of the testbed has" if owner is None else f"the MAC of {_who(owner)}"
        detail = f"{entry.mac} ({whose}) is behind {_who(behind)}'s port {switch}/{entry.port}, in {_vlan_text(bed, entry.tag)}"
        out.append(Leak(kind, entry.mac, vlan, switch, entry.port, detail, behind.node.name, behind.nic.name))
    return out


def _two_vlans(bed: Testbed, seen: Mapping[str, set[tuple[int, str, str]]]) -> list[Leak]:
    """MACs nobody has, learned in more than one VLAN (a node's MAC in a wrong VLAN is ``misplaced``)."""
    out = []
    for mac, where in sorted(seen.items()):
        tags = sorted({t for t, _, _ in where})
        if len(tags) < 2 or mac in bed.by_mac:
            continue
        tag, switch, port = min(where)
        vlans = " and ".join(_vlan_text(bed, t) for t in tags)
        detail = f"{mac} (a MAC no node of the testbed has) is learned in {vlans}: one host in two VLANs"
        out.append(Leak("two-vlans", mac, bed.vlan_of_tag.get(tag), switch, port, detail))
    return out


@dataclass(frozen=True, slots=True)
class Findings:
    """What the tables show in a scope: the leaks, the MACs learned, the entries in no VLAN, the stale ones."""

    leaks: list[Leak]
    macs: int
    no_vlan: int
    stale: int


def isolation_leaks(bed: Testbed, tables: Mapping[str, FdbTable], scope: Iterable[int] | None) -> Findings:
    """Every leak the tables show that touches a tag of ``scope`` (None: any), the MACs learned in the scope,
    the entries in no VLAN, and the stale entries of a NIC that just moved (not leaks)."""
    tags = None if scope is None else set(scope)
    seen: dict[str, set[tuple[int, str, str]]] = {}
    leaks: list[Leak] = []
    no_vlan = stale = 0
    for switch, table in sorted(tables.items()):
        for entry in table.entries:
            if entry.tag is None:
                no_vlan += 1
                continue
            owner = bed.by_mac.get(entry.mac)
            if owner is not None and is_stale(bed, switch, entry, owner):
                stale += tags is None or entry.tag in tags
                continue  # neither a leak nor a MAC of the VLAN: what the switch has not forgotten yet
            seen.setdefault(entry.mac, set()).add((entry.tag, switch, entry.port))
            leaks += _entry_leaks(bed, switch, entry)
    leaks += _two_vlans(bed, seen)

    def touches(leak: Leak) -> bool:
        if tags is None:
            return True
        related = {t for t, _, _ in seen.get(leak.mac, set())}
        if leak.node:
            owner = bed.by_mac.get(leak.mac)
            for ref in filter(None, (owner, bed.by_port.get((leak.switch, leak.port)))):
                related.add(bed.port_tags.get((ref.nic.switch, ref.nic.port)) or -1)
        return bool(related & tags)

    in_scope = sorted(set(filter(touches, leaks)), key=lambda k: (k.switch, k.port, k.mac, k.kind))
    macs = {m for m, where in seen.items() if tags is None or {t for t, _, _ in where} & tags}
    return Findings(in_scope, len(macs), no_vlan, stale)
