"""What the vendor CLIs show for monitoring, as frozen data per dialect (the MAC address table; each port's link,
speed and counters), and the pure parsing of those answers into the drivers' monitoring types."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .base import FdbEntry, PortCounters
from .cli_dialects import port_key


@dataclass(frozen=True)
class CliMonitor:
    """One dialect's monitoring commands and how to read their answers (regexes, searched line by line)."""

    macs: tuple[str, ...]
    """The commands whose answers, together, hold the MAC table (and the VLAN names it prints, for Junos)."""
    mac_row: str
    """A row of the MAC table; groups ``vlan`` (a tag or a VLAN name), ``mac`` and ``port``."""
    counters: str
    """The command showing one port ({port}): its link, speed and counters."""
    link: str
    """Group ``state``: ``up`` (any case) when the link is up."""
    speed: str
    """Groups ``value`` and ``unit`` (Kbit, mbps, G...)."""
    in_octets: str
    out_octets: str
    in_errors: str
    """Each with group ``n``."""
    vlan_name: str | None = None
    """Groups ``name`` and ``tag``: how the answers name VLANs, where rows print names."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and f.name not in ("counters",):
                re.compile(value)  # a broken pattern fails at import, not at a switch


CISCO_IOS = CliMonitor(
    macs=("show mac address-table dynamic",),
    mac_row=r"^\s*(?P<vlan>\d+)\s+(?P<mac>[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4})\s+\S+\s+(?P<port>\S+)\s*$",
    counters="show interfaces {port}",
    link=r"^\S+ is (?:administratively )?(?P<state>up|down), line protocol is",
    speed=r"\bBW (?P<value>\d+) (?P<unit>Kbit)",
    in_octets=r"packets input, (?P<n>\d+) bytes",
    out_octets=r"packets output, (?P<n>\d+) bytes",
    in_errors=r"^\s*(?P<n>\d+) input errors",
)

JUNOS = CliMonitor(
    macs=("show ethernet-switching table", "show configuration vlans | display set"),
    mac_row=r"^\s*(?P<vlan>\S+)\s+(?P<mac>(?:[0-9a-f]{2}:){5}[0-9a-f]{2})\s+\S+\s+\S+\s+(?P<port>[a-z]+-\S+?)(?:\.\d+)?\s",
    counters="show interfaces {port} extensive",
    link=r"^Physical interface: \S+, \S+, Physical link is (?P<state>Up|Down)",
    speed=r"\bSpeed: (?P<value>\d+)(?P<unit>[mg]bps)",
    in_octets=r"^\s*Input\s+bytes\s*:\s*(?P<n>\d+)",
    out_octets=r"^\s*Output\s+bytes\s*:\s*(?P<n>\d+)",
    in_errors=r"^\s*Errors: (?P<n>\d+),",
    vlan_name=r"^set vlans (?P<name>\S+) vlan-id (?P<tag>\d+)$",
)

DELL_OS10 = CliMonitor(
    macs=("show mac address-table",),
    mac_row=r"^\s*(?P<vlan>\d+)\s+(?P<mac>(?:[0-9a-f]{2}:){5}[0-9a-f]{2})\s+\S+\s+(?P<port>\S+)\s*$",
    counters="show interface {port}",
    link=r"^\S+(?: \S+)? is (?P<state>up|down), line protocol is",
    speed=r"^LineSpeed (?P<value>\d+)(?P<unit>[MG])",
    in_octets=r"^Input statistics:\n\s+\d+ packets, (?P<n>\d+) octets",
    out_octets=r"^Output statistics:\n\s+\d+ packets, (?P<n>\d+) octets",
    in_errors=r"^\s*(?P<n>\d+) input errors",
)

MONITORS: dict[str, CliMonitor] = {"cisco_ios": CISCO_IOS, "junos": JUNOS, "dell_os10": DELL_OS10}

_MBPS = {"kbit": 1 / 1000, "mbps": 1, "m": 1, "gbps": 1000, "g": 1000}


def mac_of(printed: str) -> str:
    """``0025.9066.1a2b`` or ``00:25:90:66:1A:2B`` as ``00:25:90:66:1a:2b``."""
    digits = re.sub(r"[^0-9a-fA-F]", "", printed).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def inventory_port(printed: str, known: Mapping[tuple[str, str], str]) -> str:
    """The inventory's name of a port the switch printed short (``Gi1/0/1`` for ``GigabitEthernet1/0/1``); a port
    the inventory does not name (an uplink) keeps the switch's name."""
    return known.get(port_key(printed), printed)


def parse_macs(monitor: CliMonitor, text: str, known: Mapping[tuple[str, str], str]) -> list[FdbEntry]:
    """The MAC table's rows; a row whose VLAN name no answer maps to a tag is in no VLAN (None)."""
    names: dict[str, int] = {}
    if monitor.vlan_name:
        names = {m["name"]: int(m["tag"]) for m in re.finditer(monitor.vlan_name, text, re.M)}
    out = []
    for m in re.finditer(monitor.mac_row, text, re.M):
        vlan = m["vlan"]
        tag = int(vlan) if vlan.isdigit() else names.get(vlan)
        out.append(FdbEntry(mac_of(m["mac"]), tag, inventory_port(m["port"], known)))
    return out


def _number(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.M)
    return int(m["n"]) if m else None


def parse_counters(monitor: CliMonitor, text: str) -> PortCounters:
    """One port's link, speed (Mb/s) and counters from its answer; what the answer does not say is None."""
    link = re.search(monitor.link, text, re.M)
    speed = re.search(monitor.speed, text, re.M)
    mbps = int(int(speed["value"]) * _MBPS[speed["unit"].lower()]) if speed else None
    return PortCounters(
        up=link["state"].lower() == "up" if link else None,
        speed_mbps=mbps,
        in_octets=_number(monitor.in_octets, text),
        out_octets=_number(monitor.out_octets, text),
        in_errors=_number(monitor.in_errors, text),
    )
