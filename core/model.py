"""The testbed's nouns as frozen dataclasses: sites, clusters, nodes, NICs, switches, VLANs, jobs."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT = 0
"""The id under which the DEFAULT VLAN is handled internally; shown as ``DEFAULT``."""

LOCAL_IDS = range(1, 4)
ROUTED_IDS = range(4, 10)
GLOBAL_IDS = range(10, 22)


class VlanKind(enum.StrEnum):
    DEFAULT = "default"
    LOCAL = "kavlan-local"
    ROUTED = "kavlan"
    GLOBAL = "kavlan-global"

    @classmethod
    def of(cls, vlan_id: int) -> VlanKind:
        if vlan_id == DEFAULT:
            return cls.DEFAULT
        if vlan_id in LOCAL_IDS:
            return cls.LOCAL
        if vlan_id in ROUTED_IDS:
            return cls.ROUTED
        if vlan_id in GLOBAL_IDS:
            return cls.GLOBAL
        raise ValueError(f"VLAN {vlan_id} is out of range (DEFAULT, 1-21)")


def vlan_label(vlan_id: int) -> str:
    return "DEFAULT" if vlan_id == DEFAULT else str(vlan_id)


@dataclass(frozen=True, slots=True)
class Vlan:
    id: int
    kind: VlanKind
    site: str
    """The site that owns it: every VLAN but a global one is a site's own."""
    subnet: ipaddress.IPv4Network
    tag: int
    """The 802.1Q tag that the switches use for it."""

    @property
    def label(self) -> str:
        return vlan_label(self.id)

    @property
    def gateway(self) -> str:
        """``kavlan-N`` is the SSH gateway of a local VLAN."""
        return f"kavlan-{self.id}"


@dataclass(frozen=True, slots=True)
class Nic:
    name: str
    mac: str
    switch: str
    port: str
    primary: bool = True


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    site: str
    cluster: str
    cores: int
    nics: tuple[Nic, ...]
    host: int
    """Host number: the node's address in any VLAN subnet is the subnet's network address plus this."""

    @property
    def primary_nic(self) -> Nic:
        return self.nics[0]

    def nic(self, name: str | None) -> Nic | None:
        if name is None:
            return self.nics[0]
        for nic in self.nics:
            if nic.name == name:
                return nic
        return None


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    site: str
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Switch:
    name: str
    site: str
    driver: str
    address: str = ""
    credentials: str = ""
    """A reference into the credentials file, never a secret itself."""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    domain: str
    global_vlan: int
    default_subnet: ipaddress.IPv4Network
    default_tag: int
    clusters: tuple[str, ...]
    switches: tuple[str, ...]


class JobState(enum.StrEnum):
    RUNNING = "Running"
    TERMINATED = "Terminated"
    ERROR = "Error"


@dataclass(frozen=True, slots=True)
class JobVlan:
    site: str
    vlan: int


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    user: str
    state: JobState
    name: str
    types: tuple[str, ...]
    request: str
    submitted: float
    started: float
    walltime: int
    """Seconds."""
    ended: float | None
    nodes: tuple[str, ...]
    vlans: tuple[JobVlan, ...]
    grid: int | None = None
    """The grid reservation (``oargridsub``) this job is one site's part of, if any."""

    @property
    def deadline(self) -> float:
        return self.started + self.walltime

    def remaining(self, now: float) -> float:
        return max(0.0, self.deadline - now) if self.state is JobState.RUNNING else 0.0

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING


@dataclass(frozen=True, slots=True)
class GridPart:
    """One site's part of a grid reservation: the site and the job its server holds for it."""

    site: str
    job: Job


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid reservation (``oargridsub``): one job per site, reserved all or nothing, ending together."""

    id: int
    user: str
    created: float
    walltime: int
    parts: tuple[GridPart, ...]

    @property
    def running(self) -> bool:
        return any(p.job.running for p in self.parts)

    @property
    def vlans(self) -> tuple[JobVlan, ...]:
        return tuple(v for p in self.parts for v in p.job.vlans)


@dataclass(frozen=True, slots=True)
class GridRef:
    """A grid's part as its record names it: the job ``job`` of ``site``'s server."""

    site: str
    job: int


@dataclass(frozen=True, slots=True)
class GridRecord:
    """A grid as its home store keeps it: who made it, when, for how long, and which job each site holds."""

    id: int
    user: str
    created: float
    walltime: int
    jobs: tuple[GridRef, ...]
