"""RemoteService: the service's interface over the KaVLAN REST API, for the faces in remote mode.

The faces hold it exactly as they hold an embedded ``KavlanService``: it loads the testbed description from the
server (so that names, hostnames and SSH routes are computed here as embedded), sends every read and change to
the API server of the site concerned, rebuilds the service's objects and exceptions with
:mod:`kavlan_core.api.wire`, and relays the servers' event streams into a local bus.

A node is always moved by its own site's server: a move naming nodes of several sites is split per site (each
part checked by a dry run first, so that a refusal changes nothing), and the reports are merged into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from multidict import MultiDict

from ... import inventory as inventory_mod
from ...config import Settings
from ...errors import BadInput, KavlanError, NotFound, Unavailable
from ...events import EventBus
from ...grids import GridRequest
from ...interface import Service
from ...model import DEFAULT, Grid, GridPart, GridRecord, Job, vlan_label
from ...monitoring import FdbReport, IsolationReport, PortsReport
from ...plan import Plan
from ...reports import DeployReport, DriftReport, Lease, Member, MoveReport, VlanInfo
from .. import wire
from . import shapes
from .boot import Boot, boot
from .stream import EventStreams
from .transport import ACT_FOR, Transport, check_urls

DEPLOY_WAIT = 4 * 3600.0
"""Seconds a face follows a deployment (a real kadeploy's bound is of this order)."""
DEPLOY_POLL = 1.0


class RemoteService(Service):
    """The service's interface over HTTP: what the faces hold in remote mode (``connect`` opens it)."""

    @classmethod
    async def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> RemoteService:
        """Ask the configured servers what they serve, the testbed description and who this user is."""
        if not (settings.api or settings.api_sites):
            raise BadInput("remote mode needs an API server: set api, or api_sites", about="api")
        check_urls(settings)
        transport = Transport(settings)
        try:
            return cls(settings, transport, await boot(transport, settings), clock=clock)
        except BaseException:
            await transport.close()
            raise

    def __init__(
        self, settings: Settings, transport: Transport, boot: Boot, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Use ``open``: this assembles what it learnt."""
        self.clock = clock
        self.transport = transport
        source = f"{boot.home}/sites/{boot.site}/kavlan/inventory"
        try:
            self.inventory = inventory_mod.parse(boot.inventory, source=source)
        except inventory_mod.InventoryError as exc:
            raise KavlanError(f"the testbed description served by {boot.home} is unusable: {exc}") from None
        self.user = str(boot.whoami.get("uid") or settings.user)
        self.served = boot.served
        """The sites each server serves, by URL."""
        site = settings.site or boot.site
        if site not in self.inventory.sites:
            raise BadInput(
                f"unknown site {site!r} in the configuration (sites: {', '.join(self.inventory.sites)})"
            )
        self.site = site
        # the faces check rights with settings.admins (Rights.of): the server says whether this user is one
        admins = tuple(a for a in settings.admins if a != self.user)
        if boot.whoami.get("admin"):
            admins += (self.user,)
        self.settings = replace(settings, user=self.user, admins=admins, inventory=source)
        self.streams = EventStreams(transport, self._servers())
        self.events: EventBus = self.streams.bus

    def _servers(self) -> dict[str, str]:
        """Each server reachable here once, by URL, under a site it serves (in the testbed's order)."""
        servers: dict[str, str] = {}
        for site in self.reachable_sites():
            servers.setdefault(self.transport.url(site), site)
        return servers

    def reachable_sites(self) -> list[str]:
        out = []
        for site in self.inventory.sites:
            with contextlib.suppress(BadInput):
                if site in self.served.get(self.transport.url(site), ()):
                    out.append(site)
        return out

    def describe(self) -> str:
        urls: dict[str, list[str]] = {}
        for site in self.inventory.sites:
            with contextlib.suppress(BadInput):
                urls.setdefault(self.transport.url(site), []).append(site)
        if len(urls) == 1:
            return f"API server: {next(iter(urls))}"
        return "API servers: " + ", ".join(f"{url} ({', '.join(sites)})" for url, sites in urls.items())

    async def close(self) -> None:
        await self.streams.close()
        await self.transport.close()

    async def _call(
        self,
        site: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        user: str | None = None,
        follow: bool = False,
    ) -> Any:
        """A request to ``site``'s server, as ``user`` (a trusted service acting for them) when it is not us."""
        headers = {ACT_FOR: user} if user and user != self.user else None
        base = self.transport.url(site)
        return await self.transport.call(
            base, method, path, body=body, params=params, headers=headers, follow=follow
        )

    async def _items(self, site: str, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        return await self.transport.items(self.transport.url(site), path, params)

    # --- jobs ----------------------------------------------------------------------------------------------

    def _job_sites(self) -> list[str]:
        """The sites whose servers list jobs (a server lists the jobs touching its sites), this one first."""
        out = []
        for site in [self.site, *self.inventory.sites]:
            with contextlib.suppress(BadInput):
                if site not in out and site in self.served.get(self.transport.url(site), ()):
                    out.append(site)
        return out or [self.site]

    @staticmethod
    def _job(item: Any) -> Job:
        data = item.get("job", item) if isinstance(item, Mapping) else item
        return wire.decode(Job, data)  # type: ignore[no-any-return]

    async def job(self, job_id: int) -> Job:
        return await self._job_call("GET", job_id)

    async def _job_call(self, method: str, job_id: int, user: str | None = None) -> Job:
        """A server knows the jobs touching its sites: ask this site's first, then the others'; the first
        refusal is the answer when none knows it (``job N does not exist``, as embedded)."""
        first: NotFound | None = None
        for site in self._job_sites():
            path = f"/sites/{site}/jobs/{job_id}"
            try:
                answer = await self._call(site, method, path, user=user)
                if method == "DELETE" and not answer:  # g5k-api's 202 has no body: the ended job is read
                    answer = await self._call(site, "GET", path, user=user)
                return self._job(answer)
            except NotFound as exc:
                first = first or exc
        assert first is not None
        raise first

    async def jobs(self, *, user: str | None = None, running: bool | None = True) -> list[Job]:
        params = {"state": "running" if running else "all", "limit": "500"}  # g5k-api's largest page
        if user is not None:
            params["user"] = user
        sites = self._job_sites()
        answers = await asyncio.gather(*(self._items(site, f"/sites/{site}/jobs", params) for site in sites))
        found: dict[int, Job] = {}
        for items in answers:
            for item in items:
                job = self._job(item)
                found.setdefault(job.id, job)
        jobs = [found[k] for k in sorted(found)]
        return [j for j in jobs if not j.running] if running is False else jobs

    async def submit(
        self,
        request: str,
        *,
        user: str | None = None,
        types: Sequence[str] = (),
        walltime: int | None = None,
        name: str = "",
        properties: str = "",
        site: str | None = None,
        grid: int | None = None,
    ) -> Job:
        site = site or self.site
        body: dict[str, Any] = {"resources": request, "types": list(types), "name": name}
        if walltime is not None:
            body["walltime"] = walltime
        if properties:
            body["properties"] = properties
        if grid is not None:
            body["grid"] = grid
        return self._job(await self._call(site, "POST", f"/sites/{site}/jobs", body=body, user=user))

    async def delete_job(self, job_id: int, *, user: str | None = None) -> Job:
        return await self._job_call("DELETE", job_id, user)

    async def site_job(self, site: str, job_id: int) -> Job:
        """Job ids are each server's own: a grid's part is read at its site's server."""
        return self._job(await self._call(site, "GET", f"/sites/{site}/jobs/{job_id}"))

    async def delete_site_job(self, site: str, job_id: int, *, user: str | None = None) -> Job:
        path = f"/sites/{site}/jobs/{job_id}"
        await self._call(site, "DELETE", path, user=user)
        return await self.site_job(site, job_id)

    # --- grid reservations: each part at its site's server, the record at this site's -----------------------

    async def grid_submit(
        self,
        parts: Sequence[GridRequest],
        *,
        user: str | None = None,
        types: Sequence[str] = (),
        walltime: int | None = None,
        name: str = "",
    ) -> Grid:
        """The grid's number from this site's server, then each part at its site's server, in turn; a part that
        fails deletes the parts reserved before it and the number: nothing stays reserved."""
        if not parts:
            raise BadInput("a grid reservation needs at least one site's part")
        wall = walltime or self.settings.default_walltime
        home = f"/sites/{self.site}/grids"
        opened = await self._call(self.site, "POST", home, body={"walltime": wall}, user=user)
        record = wire.decode(GridRecord, opened["grid"])
        made: list[GridPart] = []
        try:
            for p in parts:
                job = await self._grid_part(p, record.id, user, (*types, *p.types), wall, name or p.name)
                made.append(GridPart(p.site, job))
        except BaseException:
            await self._undo_grid(record.id, made, user)
            raise
        refs = [{"site": p.site, "uid": p.job.id} for p in made]
        await self._call(self.site, "POST", f"{home}/{record.id}/jobs", body=refs, user=user)
        return Grid(record.id, record.user, record.created, wall, tuple(made))

    async def _grid_part(
        self, part: GridRequest, grid: int, user: str | None, types: Sequence[str], wall: int, name: str
    ) -> Job:
        try:
            return await self.submit(
                part.request,
                user=user,
                types=types,
                walltime=wall,
                name=name,
                properties=part.properties,
                site=part.site,
                grid=grid,
            )
        except KavlanError as exc:
            exc.args = (f"{part.site} cannot serve its part, nothing was reserved: {exc}",)
            raise

    async def _undo_grid(self, grid: int, made: Sequence[GridPart], user: str | None) -> None:
        """What a failed grid reserved goes: its parts' jobs, then its number (each tried, whatever the others
        do)."""
        for part in made:
            with contextlib.suppress(KavlanError):
                await self.delete_site_job(part.site, part.job.id, user=user)
        with contextlib.suppress(KavlanError):
            await self._call(self.site, "DELETE", f"/sites/{self.site}/grids/{grid}", user=user)

    async def grid_record(self, grid_id: int) -> GridRecord:
        answer = await self._call(self.site, "GET", f"/sites/{self.site}/grids/{grid_id}")
        return wire.decode(GridRecord, answer["grid"])  # type: ignore[no-any-return]

    # --- VLANs and nodes ----------------------------------------------------------------------------------

    async def vlans(self, site: str | None = None) -> list[VlanInfo]:
        site = site or self.site
        if site not in self.inventory.sites:
            raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
        return [shapes.vlan_info(site, item) for item in await self._items(site, f"/sites/{site}/vlans")]

    def _by_site(self, names_: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
        """The named NICs (checked, duplicates removed) grouped by their node's site, and all in order."""
        by_site: dict[str, list[str]] = {}
        order = []
        for ref, name in self.resolve(names_):
            by_site.setdefault(ref.node.site, []).append(name)
            order.append(name)
        return by_site, order

    async def vlan_of(self, names_: Iterable[str]) -> list[tuple[str, int]]:
        by_site, order = self._by_site(names_)
        answers = await asyncio.gather(
            *(
                self._call(site, "POST", f"/sites/{site}/vlans/nodes", body=names)
                for site, names in by_site.items()
            )
        )
        found: dict[str, int] = {}
        for answer in answers:
            found.update(shapes.node_vlans(answer))
        return [(name, found.get(name, DEFAULT)) for name in order]

    async def members(self, vlan: int, site: str | None = None) -> list[Member]:
        self.check_vlan(vlan)
        site = site or self.site  # a global VLAN's members come from every site, whichever asks
        items = await self._items(site, f"/sites/{site}/vlans/{vlan_label(vlan)}/nodes")
        return [wire.decode(Member, {"name": i.get("uid"), **i}) for i in items]

    # --- moves ----------------------------------------------------------------------------------------------

    async def set_vlan(
        self, names_: Sequence[str], vlan: int, *, user: str | None = None, dry_run: bool = False
    ) -> MoveReport:
        """Each site's nodes go to their own site's server; with several sites, every part is checked (a dry run)
        before any moves, so that a refusal changes nothing; one report for all."""
        started = time.perf_counter()
        self.check_vlan(vlan)
        if not names_:
            raise BadInput("no node given", about="nodes")
        by_site, order = self._by_site(names_)
        if dry_run or len(by_site) > 1:
            checks = await asyncio.gather(
                *(self._move(site, names, vlan, user, dry_run=True) for site, names in by_site.items()),
                return_exceptions=True,
            )
            shapes.raise_refusals(checks, order)
            plans = [c for c in checks if isinstance(c, MoveReport)]
            if dry_run:
                return plans[0] if len(plans) == 1 else shapes.merge(vlan, plans, started, dry_run=True)
        await self.streams.ready()
        seen = self.streams.moves_seen.value
        answers = await asyncio.gather(
            *(self._move(site, names, vlan, user) for site, names in by_site.items()), return_exceptions=True
        )
        reports = [a for a in answers if isinstance(a, MoveReport)]
        await self.streams.moves_arrived(seen + sum(1 for r in reports if r.switches))
        if len(answers) == 1 or not reports:
            shapes.raise_refusals(answers, order)
            return reports[0] if len(answers) == 1 else shapes.merge(vlan, reports, started)
        return shapes.merge(vlan, reports + shapes.failed_parts(vlan, by_site, answers), started)

    async def _move(
        self, site: str, names: list[str], vlan: int, user: str | None, *, dry_run: bool = False
    ) -> MoveReport:
        path = f"/sites/{site}/vlans/{vlan_label(vlan)}/nodes"
        # the faces check the VLAN's DHCP themselves before a move (and honour --no-dhcp-check): not twice
        params = {"dry_run": "true"} if dry_run else {"report": "full", "dhcp_check": "false"}
        answer = await self._call(site, "POST", path, body=names, params=params, user=user, follow=True)
        if dry_run:
            return shapes.dry_run_report(vlan, wire.decode(Plan, answer, self.inventory))
        if isinstance(answer, Mapping) and "results" in answer:
            return wire.decode(MoveReport, answer, self.inventory)  # type: ignore[no-any-return]
        return shapes.per_node_report(vlan, answer)

    # --- deployments ------------------------------------------------------------------------------------------

    async def deploy(
        self, names_: Sequence[str], vlan: int, *, environment: str, key: str = "", user: str | None = None
    ) -> DeployReport:
        """The nodes' site's server deploys (its console, its keys): POST /deployments, polled until it ends."""
        self.check_vlan(vlan)
        by_site, _order = self._by_site(names_)
        if len(by_site) != 1:
            raise BadInput(
                "a deployment names nodes of one site: deploy each site's nodes apart", about="nodes"
            )
        ((site, names),) = by_site.items()
        body = {"environment": environment, "nodes": names, "key": key, "vlan": vlan_label(vlan)}
        answer = await self._call(site, "POST", f"/sites/{site}/deployments", body=body, user=user)
        path = f"/sites/{site}/deployments/{answer['uid']}"
        deadline = time.monotonic() + DEPLOY_WAIT
        while answer.get("status") in ("waiting", "processing") and time.monotonic() < deadline:
            await asyncio.sleep(DEPLOY_POLL)
            answer = await self._call(site, "GET", path)
        if answer.get("status") == "error":
            raise Unavailable(f"the deployment failed: {answer.get('error', '')}")
        if answer.get("status") != "terminated":
            raise Unavailable(f"the deployment has not ended after {DEPLOY_WAIT:.0f} s: see {path}")
        return wire.decode(DeployReport, answer["report"], self.inventory)  # type: ignore[no-any-return]

    # --- DHCP -------------------------------------------------------------------------------------------------

    async def dhcp(self, vlan: int, enable: bool, *, user: str | None = None, site: str | None = None) -> str:
        """The VLAN's owner site's server starts or stops its DHCP server."""
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        path = f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd"
        await self._call(site, "PUT", path, body={"action": "start" if enable else "stop"}, user=user)
        return await self.dhcp_state(vlan, site)

    async def dhcp_state(self, vlan: int, site: str | None = None) -> str:
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        answer = await self._call(site, "GET", f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd")
        return str(answer.get("state") if isinstance(answer, Mapping) else answer)

    async def leases(self, vlan: int, site: str | None = None) -> list[Lease]:
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        answer = await self._call(site, "GET", f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd/leases")
        return [wire.decode(Lease, item) for item in answer or []]

    # --- nodes a job's end could not bring back -----------------------------------------------------------

    async def unavailable(self) -> dict[str, str]:
        """Every served site's nodes marked unavailable, with the reason."""
        sites = [site for site in self.inventory.sites if any(site in s for s in self.served.values())]
        answers = await asyncio.gather(
            *(self._call(site, "GET", f"/sites/{site}/kavlan/unavailable") for site in sites)
        )
        marked: dict[str, str] = {}
        for answer in answers:
            for item in answer.get("items", []) if isinstance(answer, Mapping) else []:
                marked[str(item["node"])] = str(item["reason"])
        return dict(sorted(marked.items()))

    async def set_available(self, node: str, *, user: str | None = None) -> bool:
        """The node's own site's server clears it (administrators)."""
        ((ref, _plain),) = self.resolve([node])
        site = ref.node.site
        answer = await self._call(
            site, "DELETE", f"/sites/{site}/kavlan/unavailable/{ref.node.name}", user=user
        )
        return bool(answer.get("cleared")) if isinstance(answer, Mapping) else False

    # --- switches against the store -----------------------------------------------------------------------

    async def drift(self, site: str | None = None) -> DriftReport:
        site = site or self.site
        answer = await self._call(site, "GET", f"/sites/{site}/kavlan/drift")
        return wire.decode(DriftReport, answer or {})  # type: ignore[no-any-return]

    # --- monitoring ---------------------------------------------------------------------------------------

    async def port_loads(self, names_: Sequence[str], *, interval: float = 1.0) -> PortsReport:
        """Each site's nodes are read by their own site's server; one report for all."""
        if not names_:
            raise BadInput("no node given", about="nodes")
        by_site, order = self._by_site(names_)
        answers = await asyncio.gather(
            *(
                self._call(
                    site,
                    "GET",
                    f"/sites/{site}/kavlan/ports",
                    params=MultiDict([*(("node", n) for n in names), ("interval", str(interval))]),
                )
                for site, names in by_site.items()
            )
        )
        report = PortsReport()
        for answer in answers:
            part = wire.decode(PortsReport, answer or {})
            report.loads += part.loads
            report.unreadable += part.unreadable
            report.seconds = max(report.seconds, part.seconds)
        return report

    async def fdb(self, vlan: int | None = None, site: str | None = None) -> FdbReport:
        site = site or self.site
        if vlan is not None:
            self.check_vlan(vlan)
            site = self._owner(site, vlan)
        query = {"vlan": vlan_label(vlan)} if vlan is not None else None
        answer = await self._call(site, "GET", f"/sites/{site}/kavlan/fdb", params=query)
        return wire.decode(FdbReport, answer or {})  # type: ignore[no-any-return]

    async def isolation(self, site: str, vlans: Sequence[int] | None) -> IsolationReport:
        query = MultiDict(("vlan", vlan_label(v)) for v in vlans or ())
        answer = await self._call(site, "GET", f"/sites/{site}/kavlan/isolation", params=query)
        return wire.decode(IsolationReport, answer or {})  # type: ignore[no-any-return]

    async def repair(self, site: str | None = None, *, user: str | None = None) -> MoveReport:
        site = site or self.site
        answer = await self._call(site, "POST", f"/sites/{site}/kavlan/repair", user=user, follow=True)
        return wire.decode(MoveReport, answer, self.inventory)  # type: ignore[no-any-return]
