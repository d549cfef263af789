"""The VLANs' default DHCP servers as the service sees them: simulated (the demo) or real dnsmasq where the testbed says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Misconfigured
from ..inventory import Inventory
from ..model import DEFAULT
from ..reports import Lease

if TYPE_CHECKING:  # dnsmasq's manager is imported when a site's real DHCP servers are first touched
    from ..store import Store
    from .dnsmasq import DnsmasqManager


class DhcpBackend:
    """Per site, ``simulated`` keeps the state in the store only; ``dnsmasq`` runs a real server per VLAN,
    in the namespace and on the interface that ``[site.dhcp.vlans]`` names. The store keeps who asked for what."""

    def __init__(self, inventory: Inventory, store: Store, state_dir: Path) -> None:
        self.inventory = inventory
        self.store = store
        self.state_dir = state_dir
        self._manager: DnsmasqManager | None = None

    def kind(self, site: str) -> str:
        return self.inventory.dhcp_servers.get(site, "simulated")

    @property
    def manager(self) -> DnsmasqManager:
        if self._manager is None:
            from .dnsmasq import DnsmasqManager

            self._manager = DnsmasqManager(self.state_dir)
        return self._manager

    def _placement(self, site: str, vlan: int) -> tuple[str | None, str]:
        place = self.inventory.dhcp_placement(site, vlan)
        if place is None:
            raise Misconfigured(
                f"the testbed description says where no DHCP server of VLAN {vlan} of {site} runs ([site.dhcp.vlans])"
            )
        return place.netns or None, place.interface

    async def start(self, site: str, vlan: int) -> str:
        if self.kind(site) != "dnsmasq":
            return "on"
        netns, interface = self._placement(site, vlan)
        return await asyncio.to_thread(
            self.manager.start, self.inventory, site, vlan, interface=interface, netns=netns
        )

    async def stop(self, site: str, vlan: int) -> str:
        if self.kind(site) != "dnsmasq":
            return "off"
        return await asyncio.to_thread(self.manager.stop, site, vlan)

    def state(self, site: str, vlan: int, recorded: str | None) -> str:
        """``on``, ``off`` or ``failed`` (a real server that the store says is on but that died)."""
        if vlan == DEFAULT:
            return "on"  # the site's own
        if self.kind(site) != "dnsmasq":
            return recorded or "off"
        return self.manager.state(site, vlan)

    def leases(self, site: str, vlan: int) -> list[Lease]:
        if self.kind(site) != "dnsmasq" or vlan == DEFAULT:
            return []
        return self.manager.leases(site, vlan)
