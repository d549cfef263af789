"""The monitoring reads of a service: each NIC's port load (two counter samples, the last one kept for the next
call), a site's forwarding tables mapped to nodes, and the isolation check; the events they raise (a link that
went down or came up, a leak that appeared). Switches are read concurrently within ``switch_concurrency``, never
under a move's lock; what :mod:`kavlan_core.monitoring` works out from the reads is pure."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

from .budget import Budget
from .drivers.base import FdbTable, PortCounters, PortState, SwitchError
from .errors import SwitchUnavailable
from .events import EventBus, LeakFound, LinkChanged
from .inventory import Inventory, NicRef
from .monitoring import (
    FdbReport,
    FdbRow,
    IsolationReport,
    PortsReport,
    Testbed,
    isolation_leaks,
    port_load,
)
from .reports import UnreadableSwitch
from .switches import SwitchPool

Sample = tuple[float, PortCounters]


class Monitor:
    """A service's monitoring: its switch pool, the last counter sample of each port, the leaks last seen."""

    def __init__(
        self,
        pool: SwitchPool,
        inventory: Inventory,
        events: EventBus,
        moves: Callable[[], Mapping[tuple[str, str], int]] = dict,
    ) -> None:
        settings = pool.settings
        self.budget = Budget(settings.switch_request_rate * settings.monitor_share)
        """Each switch's share of requests for monitoring: every read below spends from it."""
        self.pool = pool
        self.inventory = inventory
        self.events = events
        self.moves = moves
        """The VLAN each NIC left by a move less than the switches' ageing time ago (the service reads it)."""
        self.samples: dict[tuple[str, str], Sample] = {}
        self.leaks: set[tuple[str, str, str, str]] = set()
        """(kind, mac, switch, port) of the leaks the last check found: a new one is published once."""

    @contextlib.asynccontextmanager
    async def _spend(self, switch: str) -> AsyncIterator[None]:
        """A monitoring read of ``switch``, within its budget (a switch whose driver cannot be made: unbudgeted,
        the read says why)."""
        try:
            driver = self.pool.driver(switch)
        except SwitchError:
            yield
            return
        async with self.budget.spend(switch, driver):
            yield

    # --- port loads --------------------------------------------------------------------------------------

    async def _sample(self, refs: Sequence[NicRef], report: PortsReport) -> dict[tuple[str, str], Sample]:
        """One sample of every port of ``refs`` (switches concurrently); a switch that fails goes to ``report``."""
        by_switch: dict[str, list[str]] = {}
        for ref in refs:
            by_switch.setdefault(ref.nic.switch, []).append(ref.nic.port)
        gate = self.pool.bound()
        out: dict[tuple[str, str], Sample] = {}

        async def one(switch: str, ports: list[str]) -> None:
            async with self._spend(switch), gate:  # waiting for the budget holds no concurrency slot
                try:
                    found = await self.pool.counters(switch, ports)
                except SwitchUnavailable as exc:
                    report.unreadable.append(UnreadableSwitch(switch, tuple(ports), str(exc)))
                    return
            now = time.monotonic()
            out.update({(switch, p): (now, c) for p, c in found.items()})

        await asyncio.gather(*(one(s, ps) for s, ps in sorted(by_switch.items())))
        return out

    async def port_loads(self, refs: Sequence[NicRef], *, interval: float = 1.0) -> PortsReport:
        """Each NIC's link, speed, rates and errors. The rates are taken since this monitor's last sample of the
        port; ports never sampled are sampled twice, ``interval`` seconds apart (0: no rates for them)."""
        report = PortsReport()
        fresh = [r for r in refs if (r.nic.switch, r.nic.port) not in self.samples]
        if fresh and interval > 0:
            self.samples.update(await self._sample(fresh, PortsReport()))
            await asyncio.sleep(interval)
        now = await self._sample(refs, report)
        spans = []
        for ref in refs:
            key = (ref.nic.switch, ref.nic.port)
            if key not in now:
                continue
            before = self.samples.get(key)
            at, counters = now[key]
            seconds = at - before[0] if before else 0.0
            spans.append(seconds)
            report.loads.append(port_load(ref, before[1] if before else None, counters, seconds))
            self._link_event(ref, before[1] if before else None, counters)
        self.samples.update(now)
        report.seconds = max(spans, default=0.0)
        report.unreadable.sort(key=lambda u: u.switch)
        return report

    def _link_event(self, ref: NicRef, before: PortCounters | None, after: PortCounters) -> None:
        if before is None or before.up is None or after.up is None or before.up == after.up:
            return
        self.events.publish(
            LinkChanged(
                switch=ref.nic.switch, port=ref.nic.port, node=ref.node.name, nic=ref.nic.name, up=after.up
            )
        )

    # --- forwarding tables ---------------------------------------------------------------------------------

    async def _tables(
        self, site: str, *, with_ports: bool
    ) -> tuple[dict[str, FdbTable], dict[tuple[str, str], int | None], list[UnreadableSwitch]]:
        """Every switch of ``site``: its forwarding table and (``with_ports``) the tag of each node port it has
        now; the switches that could not be read, or whose table cannot be, with the reason."""
        gate = self.pool.bound()
        tables: dict[str, FdbTable] = {}
        tags: dict[tuple[str, str], int | None] = {}
        unreadable: list[UnreadableSwitch] = []

        async def one(switch: str) -> None:
            ports = [r.nic.port for r in self.inventory.switch_ports(switch)]
            async with self._spend(switch), gate:
                try:
                    table = await self.pool.fdb(switch)
                    states = await self.pool.inspect(switch, ports) if with_ports and ports else {}
                except SwitchUnavailable as exc:
                    unreadable.append(UnreadableSwitch(switch, tuple(ports), str(exc)))
                    return
            if table.missing is not None:
                unreadable.append(UnreadableSwitch(switch, tuple(ports), f"switch {switch}: {table.missing}"))
            tables[switch] = table
            tags.update({(switch, p): _tag(s) for p, s in states.items()})

        await asyncio.gather(*(one(s) for s in self.inventory.sites[site].switches))
        unreadable.sort(key=lambda u: u.switch)
        return tables, tags, unreadable

    def _vlan_of_tag(self, site: str) -> dict[int, int]:
        out = {}
        for vid in self.inventory.vlan_ids(site):
            try:
                out[self.inventory.vlan(site, vid).tag] = vid
            except (KeyError, LookupError):
                continue  # a global VLAN this site's switches do not carry
        return out

    def _by_mac(self) -> dict[str, NicRef]:
        return {nic.mac.lower(): NicRef(n, nic) for n in self.inventory.nodes.values() for nic in n.nics}

    async def fdb(self, site: str, vlan: int | None) -> FdbReport:
        """What the site's switches learned (in ``vlan`` only, when given), each MAC with its node and NIC."""
        tables, _, unreadable = await self._tables(site, with_ports=False)
        vlan_of = self._vlan_of_tag(site)
        by_mac = self._by_mac()
        report = FdbReport(unreadable=unreadable)
        for switch, table in sorted(tables.items()):
            for e in table.entries:
                vid = vlan_of.get(e.tag) if e.tag is not None else None
                if vlan is not None and vid != vlan:
                    continue
                owner = by_mac.get(e.mac)
                report.rows.append(
                    FdbRow(
                        e.mac,
                        vid,
                        e.tag,
                        switch,
                        e.port,
                        owner.node.name if owner else "",
                        owner.nic.name if owner else "",
                    )
                )
        report.rows.sort(key=lambda r: (r.vlan if r.vlan is not None else -1, r.switch, r.port, r.mac))
        return report

    async def check(self, site: str, vlans: Iterable[int] | None, scope: str) -> IsolationReport:
        """The isolation check of ``vlans`` (None: the whole site), every switch of the site read."""
        tables, tags, unreadable = await self._tables(site, with_ports=True)
        vlan_of = self._vlan_of_tag(site)
        bed = Testbed(
            self._by_mac(),
            {(r.nic.switch, r.nic.port): r for s in tables for r in self.inventory.switch_ports(s)},
            tags,
            vlan_of,
            self._left_tags(site),
        )
        wanted = None if vlans is None else sorted(set(vlans))
        scope_tags = None if wanted is None else [t for t, v in vlan_of.items() if v in wanted]
        found = isolation_leaks(bed, tables, scope_tags)
        report = IsolationReport(
            scope, wanted or [], found.leaks, unreadable, found.macs, found.no_vlan, found.stale
        )
        self._leak_events(report)
        return report

    def _left_tags(self, site: str) -> dict[tuple[str, str], int]:
        """The tag of the VLAN each NIC of ``site`` just left, as its switches carry it."""
        out = {}
        for key, vlan in self.moves().items():
            node = self.inventory.nodes.get(key[0])
            if node is None or node.site != site:
                continue
            try:
                out[key] = self.inventory.vlan(site, vlan).tag
            except (LookupError, ValueError):
                continue  # a VLAN the inventory no longer has: nothing of it to excuse
        return out

    def _leak_events(self, report: IsolationReport) -> None:
        for leak in report.leaks:
            key = (leak.kind, leak.mac, leak.switch, leak.port)
            if key not in self.leaks:
                self.events.publish(
                    LeakFound(
                        kind=leak.kind,
                        mac=leak.mac,
                        vlan=leak.vlan,
                        switch=leak.switch,
                        port=leak.port,
                        node=leak.node,
                        detail=leak.detail,
                    )
                )
        self.leaks = {(k.kind, k.mac, k.switch, k.port) for k in report.leaks}


def _tag(state: PortState) -> int | None:
    return None if state.refused is not None or state.trunk else state.tag
