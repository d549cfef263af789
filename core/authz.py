"""Who may do what: a user moves only nodes of their running jobs, only into a VLAN one of them holds, or DEFAULT."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import DEFAULT, Job

PRIVILEGES = "Not enough privileges on Kavlan resources"


@dataclass(frozen=True, slots=True)
class Rights:
    user: str
    admin: bool
    nodes: frozenset[str]
    """Nodes of the user's running jobs."""
    vlans: frozenset[tuple[str, int]]
    """(site, vlan) held by the user's running jobs."""

    @classmethod
    def of(cls, user: str, running_jobs: Iterable[Job], admins: Iterable[str]) -> Rights:
        nodes: set[str] = set()
        vlans: set[tuple[str, int]] = set()
        for job in running_jobs:
            if job.user == user and job.running:
                nodes.update(job.nodes)
                vlans.update((v.site, v.vlan) for v in job.vlans)
        return cls(user, user in set(admins), frozenset(nodes), frozenset(vlans))

    def may_move_node(self, node: str) -> str | None:
        """None if allowed, else the reason."""
        if self.admin or node in self.nodes:
            return None
        return f"{node} is not in a running job of {self.user}"

    def may_use_vlan(self, site: str, vlan: int) -> str | None:
        if vlan == DEFAULT or self.admin or (site, vlan) in self.vlans:
            return None
        return f"VLAN {vlan} of {site} is not held by a running job of {self.user}"

    def may_manage_vlan(self, site: str, vlan: int) -> str | None:
        """DHCP on/off: the VLAN's holder only; the DEFAULT VLAN belongs to the site."""
        if vlan == DEFAULT:
            return "the DEFAULT VLAN's DHCP server belongs to the site and cannot be switched by users"
        return self.may_use_vlan(site, vlan)
