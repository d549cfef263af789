"""The service as the faces see it (``Service``), with the part of it that runs on the user's side, and ``connect``.

Embedded (the default), the faces hold a :class:`~kavlan_core.service.KavlanService`; in remote mode (setting
``api`` or ``api_sites``) they hold a :class:`~kavlan_core.api.client.RemoteService` that speaks to the API
servers. Both derive from :class:`Service`, which declares once what each mode provides (abstract methods) and
implements once what runs where the user is, from the inventory and the settings, whichever mode holds the
switches: resolving names, checking VLAN ids, nodefiles, node lists of a job, SSH routes, commands on many nodes
and the staged move.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import names
from .errors import BadInput, NoDhcp, NotAllowed, NotFound, SwitchUnavailable, Unavailable
from .model import DEFAULT, GLOBAL_IDS, Grid, GridPart, GridRecord, Job, JobVlan, VlanKind, vlan_label
from .monitoring import FdbReport, IsolationReport, PortsReport
from .reports import DriftReport, Lease, Member, MoveReport, StagedReport, VlanInfo
from .reservations import nodefile_lines

if TYPE_CHECKING:
    from .access.ssh import RunResult, Target
    from .config import Settings
    from .events import EventBus
    from .grids import GridRequest
    from .inventory import Inventory, NicRef
    from .journal import IntentPort, StagedRecord
    from .reports import DeployReport, Plan


class Service(abc.ABC):
    """What every face calls, embedded or remote: same objects, same exceptions, same sentences."""

    settings: Settings
    inventory: Inventory
    user: str
    """Who acts: the configured user embedded, the certificate's CN (or the Basic user) remote."""
    site: str
    """This frontend's site."""
    events: EventBus
    clock: Callable[[], float]

    # --- what each mode provides ---------------------------------------------------------------------

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the state lives, for ``whoami``: ``database: URL`` or ``API server: URL``."""

    async def reap(self) -> list[Job]:
        """End the jobs whose walltime has passed; remote, the server does it at every request."""
        return []

    @abc.abstractmethod
    async def job(self, job_id: int) -> Job: ...

    @abc.abstractmethod
    async def jobs(self, *, user: str | None = None, running: bool | None = True) -> list[Job]: ...

    @abc.abstractmethod
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
    ) -> Job: ...

    @abc.abstractmethod
    async def delete_job(self, job_id: int, *, user: str | None = None) -> Job: ...

    @abc.abstractmethod
    async def grid_submit(
        self,
        parts: Sequence[GridRequest],
        *,
        user: str | None = None,
        types: Sequence[str] = (),
        walltime: int | None = None,
        name: str = "",
    ) -> Grid:
        """One job per site (``oargridsub``), all or nothing: a site that cannot serve leaves nothing reserved."""

    @abc.abstractmethod
    async def grid_record(self, grid_id: int) -> GridRecord:
        """A grid as its home keeps it: which job each site's server holds."""

    async def site_job(self, site: str, job_id: int) -> Job:
        """Job ``job_id`` as ``site``'s server knows it (embedded, one store holds every site's jobs)."""
        return await self.job(job_id)

    async def delete_site_job(self, site: str, job_id: int, *, user: str | None = None) -> Job:
        return await self.delete_job(job_id, user=user)

    @abc.abstractmethod
    async def vlans(self, site: str | None = None) -> list[VlanInfo]:
        """Every VLAN a site's nodes can be in, with holder, DHCP state and member count."""

    @abc.abstractmethod
    async def vlan_of(self, names_: Iterable[str]) -> list[tuple[str, int]]:
        """The VLAN of each named NIC, as the store records it (verified at each move)."""

    @abc.abstractmethod
    async def members(self, vlan: int, site: str | None = None) -> list[Member]:
        """NICs in a VLAN. For a global VLAN, from every site; for the others, of ``site``."""

    @abc.abstractmethod
    async def set_vlan(
        self, names_: Sequence[str], vlan: int, *, user: str | None = None, dry_run: bool = False
    ) -> MoveReport:
        """Move NICs into ``vlan``: rights, plan per switch, apply, read back, roll back on failure, record, report."""

    @abc.abstractmethod
    async def dhcp(self, vlan: int, enable: bool, *, user: str | None = None, site: str | None = None) -> str:
        """Start or stop the default DHCP server of a VLAN the user holds; a second start is harmless."""

    async def unavailable(self) -> dict[str, str]:
        """The nodes a job's end could not bring back, with the reason: no new job gets them."""
        raise Unavailable("the API server does not list unavailable nodes yet: ask its administrator")

    async def set_available(self, node: str, *, user: str | None = None) -> bool:
        """Clear a node marked unavailable (administrators); whether it was marked."""
        raise Unavailable("the API server does not clear unavailable nodes yet: ask its administrator")

    async def deploy(
        self, names_: Sequence[str], vlan: int, *, environment: str, key: str = "", user: str | None = None
    ) -> DeployReport:
        """Deploy ``environment`` on the nodes and leave them in ``vlan``, reachable under their in-VLAN names
        (core/deploy.py): what the site's deployment tool does, then keys, ports, DHCP, restart, wait; OK/KO per
        node."""
        raise Unavailable("this service does not deploy: ask the site's KaVLAN API server")

    @abc.abstractmethod
    async def dhcp_state(self, vlan: int, site: str | None = None) -> str:
        """``on``, ``off``, or ``failed`` for a real server that died while it should run."""

    @abc.abstractmethod
    async def leases(self, vlan: int, site: str | None = None) -> list[Lease]:
        """The leases of a VLAN's DHCP server (real servers only)."""

    @abc.abstractmethod
    async def drift(self, site: str | None = None) -> DriftReport:
        """Read every switch of a site; report ports whose real VLAN differs from the store's, and each switch
        that could not be read, with its reason."""

    @abc.abstractmethod
    async def port_loads(self, names_: Sequence[str], *, interval: float = 1.0) -> PortsReport:
        """Each named NIC's link, speed, traffic rates and errors, read from its switch (rates over ``interval``
        seconds the first time a port is read, since the last read after)."""

    @abc.abstractmethod
    async def fdb(self, vlan: int | None = None, site: str | None = None) -> FdbReport:
        """Every MAC the switches of ``site`` learned (in ``vlan`` only, when given), with its node."""

    @abc.abstractmethod
    async def isolation(self, site: str, vlans: Sequence[int] | None) -> IsolationReport:
        """The isolation check of ``vlans`` (None: the whole site) on the switches of ``site``."""

    async def check_isolation(
        self, *, vlan: int | None = None, job: int | None = None, site: str | None = None
    ) -> IsolationReport:
        """The isolation check of a VLAN, of a running job's VLANs, or (neither) of a whole site."""
        if vlan is not None and job is not None:
            raise BadInput("check either a VLAN or a job, not both")
        if job is not None:
            held = await self.job_vlans(job)
            site = held[0].site
            vlans = sorted(v.vlan for v in held if v.site == site)
            shown = ", ".join(map(vlan_label, vlans))
            scope = f"job {job} (VLAN {shown})"
        elif vlan is not None:
            self.check_vlan(vlan)
            site, vlans, scope = self._owner(site or self.site, vlan), [vlan], f"VLAN {vlan_label(vlan)}"
        else:
            site = site or self.site
            if site not in self.inventory.sites:
                raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
            return replace(await self.isolation(site, None), scope=f"site {site}")
        return replace(await self.isolation(site, vlans), scope=scope)

    @abc.abstractmethod
    async def repair(self, site: str | None = None, *, user: str | None = None) -> MoveReport:
        """Settle unfinished intents, then put every drifted port back where the store says (administrators), on
        the switches that can be read; the report lists the others."""

    def interrupt(self, reason: str) -> bool:
        """Ask the moves under way to stop at their next step (a signal's name as ``reason``); whether one is under
        way in this process (then its report comes back as usual). Remote, the server finishes what it began."""
        return False

    def dhcp_kind(self, site: str) -> str:
        """The kind of DHCP server a site runs: ``simulated`` or ``dnsmasq``."""
        return self.inventory.dhcp_servers.get(site, "simulated")

    def reachable_sites(self) -> list[str]:
        """The sites whose state this service can read, in the testbed's order: every site embedded; remote,
        those that a configured server serves."""
        return list(self.inventory.sites)

    # --- names and VLAN ids ----------------------------------------------------------------------------

    def resolve(self, names_: Iterable[str]) -> list[tuple[NicRef, str]]:
        """NICs named by the user, duplicates removed, order kept; raises BadInput naming every bad name."""
        seen: set[tuple[str, str]] = set()
        out: list[tuple[NicRef, str]] = []
        bad: list[str] = []
        for raw in names_:
            try:
                ref = self.inventory.resolve(raw)
            except (KeyError, names.BadHostname) as exc:
                bad.append(exc.args[0])
                continue
            if ref.key not in seen:
                seen.add(ref.key)
                out.append((ref, self.inventory.hostname(ref, DEFAULT)))
        if bad:
            raise BadInput(
                "; ".join(bad) if len(bad) < 4 else f"{bad[0]}; and {len(bad) - 1} more unknown names"
            )
        return out

    def check_vlan(self, vlan: int, site: str | None = None) -> None:
        if vlan == DEFAULT:
            return
        try:
            kind = VlanKind.of(vlan)
        except ValueError:
            raise BadInput(
                f"VLAN {vlan} is out of range (DEFAULT, local 1-3, routed 4-9, global 10-21)"
            ) from None
        if kind is VlanKind.GLOBAL and vlan not in self.inventory.global_owner:
            owned = ", ".join(f"{v} ({s})" for v, s in sorted(self.inventory.global_owner.items()))
            raise BadInput(f"global VLAN {vlan} belongs to no site of this testbed (global VLANs: {owned})")

    def _owner(self, site: str, vlan: int) -> str:
        return self.inventory.global_owner[vlan] if vlan in GLOBAL_IDS else site

    # --- jobs ------------------------------------------------------------------------------------------

    async def grid(self, grid_id: int) -> Grid:
        """A grid reservation with each site's job, read where that site's jobs are."""
        record = await self.grid_record(grid_id)
        jobs = await asyncio.gather(*(self.site_job(ref.site, ref.job) for ref in record.jobs))
        parts = tuple(GridPart(ref.site, job) for ref, job in zip(record.jobs, jobs, strict=True))
        return Grid(record.id, record.user, record.created, record.walltime, parts)

    async def grid_delete(self, grid_id: int, *, user: str | None = None) -> Grid:
        """``oargriddel``: every running job of the grid ends (together: each on its site, at once)."""
        user = user or self.user
        grid = await self.grid(grid_id)
        if grid.user != user and user not in self.settings.admins:
            raise NotAllowed(f"grid reservation {grid_id} belongs to {grid.user}, not to {user}")
        running = [p for p in grid.parts if p.job.running]
        if not running:
            raise NotFound(f"grid reservation {grid_id} has already ended")
        await asyncio.gather(*(self.delete_site_job(p.site, p.job.id, user=user) for p in running))
        return await self.grid(grid_id)

    async def running_job(self, job_id: int) -> Job:
        job = await self.job(job_id)
        if not job.running:
            raise NotFound(f"job {job_id} has ended ({job.state.value})")
        return job

    async def job_vlans(self, job_id: int) -> list[JobVlan]:
        job = await self.running_job(job_id)
        if not job.vlans:
            raise NotFound(f"job {job_id} has no VLAN (reserve one with {{\"type='kavlan'\"}}/vlan=1)")
        return list(job.vlans)

    async def nodefile(self, job_id: int) -> Path:
        """OAR's nodefile for a job: each node's FQDN once per core, in the data dir."""
        job = await self.job(job_id)
        path = self.settings.data_path / "nodefiles" / f"oar.{job_id}.nodefile"
        path.parent.mkdir(parents=True, exist_ok=True)
        nodes = [self.inventory.nodes[n] for n in job.nodes]
        lines = nodefile_lines(nodes, self.inventory.node_fqdn)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines))
        tmp.replace(path)
        return path

    async def nodelist(self, vlan: int, *, job_id: int | None = None, site: str | None = None) -> list[str]:
        """In-VLAN FQDNs: of a job's nodes when a job is given (as the original's ``kavlan -l -j``; a grid's part
        stands for its grid), else of all members."""
        self.check_vlan(vlan)
        if job_id is not None:
            nodes = await self.job_nodes(job_id)
            if nodes:
                refs = self.resolve(nodes)
                return [self.inventory.hostname(ref, vlan) for ref, _ in refs]
        return [m.name for m in await self.members(vlan, site)]

    async def job_nodes(self, job_id: int) -> list[str]:
        """The nodes a running job stands for: its own, or, for a site's part of a grid reservation, every running
        part's, site after site (what ``kavlan -l/-g/-s -j`` act on, as ``oargridstat -l`` lists them)."""
        job = await self.running_job(job_id)
        if job.grid is None:
            return list(job.nodes)
        try:
            grid = await self.grid(job.grid)
        except NotFound:  # a grid whose record this frontend cannot read: the job alone
            return list(job.nodes)
        if job.id not in {p.job.id for p in grid.parts}:
            return list(job.nodes)
        return [n for p in grid.parts if p.job.running for n in p.job.nodes]

    async def plan(self, names_: Sequence[str], vlan: int, *, user: str | None = None) -> Plan:
        """What a move would change, per switch, after the same checks as the move itself (dry run)."""
        report = await self.set_vlan(names_, vlan, user=user, dry_run=True)
        if report.plan is None:  # a switch could not be read: there is no plan to show
            first = report.failed[0]
            ports = [r.port for r in report.failed if r.switch == first.switch]
            raise SwitchUnavailable(first.message, switch=first.switch, ports=ports)
        return report.plan

    def is_real(self, name: str) -> bool:
        """Whether a named NIC's node is a real host, whose network a move can break and a job's end brings back:
        its site says its nodes are reachable (``reachable_nodes``) and its switch is not simulated."""
        ((ref, _plain),) = self.resolve([name])
        if ref.node.site not in self.inventory.reachable:
            return False
        return self.inventory.switches[ref.nic.switch].driver != "simulated"

    async def check_dhcp(self, names_: Sequence[str], vlan: int) -> None:
        """Refuse a move that would strand real nodes: into a VLAN (not DEFAULT) whose DHCP server is not on, their
        network restarts and gets no address, and nobody can reach them. Simulated nodes have no network to lose.
        The user who runs their own DHCP server there, or gave the nodes static addresses, skips this check."""
        if vlan == DEFAULT:
            return
        self.check_vlan(vlan)
        by_site: dict[str, list[str]] = {}
        for ref, plain in self.resolve(names_):
            if self.is_real(plain):
                by_site.setdefault(ref.node.site, []).append(plain.split(".")[0])
        for site, nodes in by_site.items():
            state = await self.dhcp_state(vlan, site)
            if state == "on":
                continue
            shown = ", ".join(nodes[:5]) + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")
            raise NoDhcp(
                f"VLAN {vlan_label(vlan)}'s DHCP server is {'down (it failed)' if state == 'failed' else 'off'}: "
                f"{shown} would restart their network there, get no address and be reachable by nobody; start "
                "the VLAN's DHCP server first, or, if you run your own DHCP server in it or your nodes have "
                "static addresses, say so",
                about="dhcp",
            )

    # --- access: SSH to nodes, through the gateway of a local VLAN ---------------------------------

    def _ssh_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.settings.ssh_known_hosts:
            opts["known_hosts"] = [p.strip() for p in self.settings.ssh_known_hosts.split(",") if p.strip()]
        if self.settings.ssh_identity:
            opts["client_keys"] = [self.settings.ssh_identity]
        return opts

    def _refuse_simulated(self, ref: NicRef, plain: str) -> None:
        if self.inventory.switches[ref.nic.switch].driver == "simulated":
            # never dial a simulated node's address: it is nobody's, and may be routed off this machine
            raise BadInput(
                f"{plain} is a simulated node (its switch {ref.nic.switch} is simulated): there is no host to reach over SSH"
            )

    def ssh_target(self, name: str, vlan: int) -> Target:
        """How to reach a node's NIC in ``vlan``; no I/O (the caller knows where the NIC is: ``vlan_of``)."""
        from .access.ssh import Gateway, route

        ((ref, plain),) = self.resolve([name])
        self._refuse_simulated(ref, plain)
        v = self.inventory.vlan(ref.node.site, vlan)
        address = self.inventory.nic_address(ref, vlan) or self.inventory.address(ref.node, vlan)
        host = self.inventory.hostname(ref, vlan, fqdn=False)
        gateways = {}
        if v.kind is VlanKind.LOCAL:
            spec = self.inventory.gateway(v.site, vlan)
            gateways[vlan] = Gateway(
                v.gateway,
                spec.port if spec else 22,
                spec.user if spec else self.settings.ssh_user,
                spec.address if spec else None,
            )
        return route(
            host, v.kind, vlan, gateways=gateways, username=self.settings.ssh_user, address=str(address)
        )

    async def run_targets(
        self, targets: Sequence[Target], command: str, *, per_host_timeout: float = 60.0
    ) -> list[RunResult]:
        from .access.ssh import run_many

        return await run_many(
            targets,
            command,
            concurrency=self.settings.ssh_concurrency,
            per_host_timeout=per_host_timeout,
            **self._ssh_options(),
        )

    async def run(
        self, names_: Sequence[str], command: str, *, per_host_timeout: float = 60.0
    ) -> list[RunResult]:
        """Run a command on many nodes at once, each reached where it is (duplicates removed, as taktuk)."""
        placed = await self.vlan_of(names_)  # one read for all: remote, one request per site
        return await self.run_targets(
            [self.ssh_target(name, vlan) for name, vlan in placed], command, per_host_timeout=per_host_timeout
        )

    async def ssh(self, name: str, command: str | None = None) -> int:
        """An interactive session on the user's terminal; returns the remote exit status."""
        from .access.ssh import interactive

        ((ref, plain),) = self.resolve([name])
        self._refuse_simulated(ref, plain)  # before any read
        ((_, vlan),) = await self.vlan_of([plain])
        return await interactive(self.ssh_target(plain, vlan), command=command, **self._ssh_options())

    def ssh_config(self, style: str = "proxyjump") -> str:
        """The OpenSSH configuration the tutorial writes by hand, for this site's local VLANs."""
        from .access.ssh import Gateway
        from .access.sshconfig import render_ssh_config

        site = self.inventory.sites[self.site]
        gateways: dict[int, Gateway | None] = {}
        for vid in (1, 2, 3):
            spec = self.inventory.gateway(self.site, vid)
            gateways[vid] = Gateway(f"kavlan-{vid}", spec.port, spec.user, spec.address) if spec else None
        return render_ssh_config(gateways, site_domain=f"{site.name}.{site.domain}", style=style)

    async def open_staged(
        self, ports: Sequence[IntentPort], vlan: int, user: str, undo_at: float
    ) -> StagedRecord | None:
        """Journal a staged move between its switch and its verdict, so that after a crash its ports not confirmed
        are put back before the undo restart; None where this side keeps no journal (remote mode: the staged move
        runs on the client, the server journals its port moves only)."""
        return None

    async def move_with_restart(
        self,
        names_: Sequence[str],
        vlan: int,
        *,
        user: str | None = None,
        delay: int | None = None,
        command: str | None = None,
        verify_timeout: float | None = None,
        dhcp_check: bool = True,
    ) -> StagedReport:
        """The tutorial's at-safeguarded move as one operation, confirmed or undone per node: preflight, schedule
        (the restart and its undo), switch, verify, confirm; a node that does not come back has its port put back
        and is checked where its undo restart brings it. The SSH part runs here, where the user's keys are; the
        switching goes through ``set_vlan``."""
        from .access.safeguard import staged_move

        await self.reap()
        return await staged_move(
            self,
            names_,
            vlan,
            user=user or self.user,
            delay=self.settings.restart_delay if delay is None else delay,
            command=command or self.settings.restart_command,
            verify_timeout=self.settings.verify_timeout if verify_timeout is None else verify_timeout,
            dhcp_check=dhcp_check,
        )


# --- choosing the mode --------------------------------------------------------------------------------


def is_remote(settings: Settings) -> bool:
    return bool(settings.api or settings.api_sites)


async def connect(settings: Settings) -> Service:
    """The service the faces use: embedded when no API server is configured (the default), else the remote client,
    opened in the caller's event loop (it asks the servers what they serve, the testbed and who the user is)."""
    if not is_remote(settings):
        from .service import KavlanService

        return KavlanService(settings)
    from .api.client import RemoteService  # aiohttp is imported only in remote mode

    return await RemoteService.open(settings)
