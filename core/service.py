"""KavlanService: the one execution core that the CLI, the REPL, the TUI and the API server call.

It owns the order of things: rights, then the switches (through :mod:`kavlan_core.switches`, planned by
:mod:`kavlan_core.plan`, moved by :mod:`kavlan_core.moves`), then the record in the store and the events. Jobs,
DHCP, drift and the reads of the store are its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import inventory as inventory_mod
from . import testpoints
from .authz import PRIVILEGES, Rights
from .booking import Booking, wanted
from .config import Settings
from .dhcp.backend import DhcpBackend
from .drivers.base import PortState
from .ending import Endings
from .errors import BadInput, NotAllowed, NotFound, SwitchUnavailable
from .events import (
    DhcpChanged,
    DriftFound,
    EventBus,
    JobSubmitted,
    MoveFinished,
    MoveStarted,
    NodeMoved,
)
from .grids import GridRequest
from .interface import Service
from .inventory import Inventory, NicRef
from .model import DEFAULT, GLOBAL_IDS, Grid, GridRecord, GridRef, Job, JobState, vlan_label
from .monitor import Monitor
from .monitoring import FdbReport, IsolationReport, PortsReport
from .moves import apply_plan, read_switches, roll_back
from .plan import Plan, Targets, by_switch, keep_only, not_begun, plan_move
from .recording import Recorder
from .recovery import Recovery
from .reports import (
    Drift,
    DriftReport,
    Lease,
    Member,
    MoveReport,
    Outcome,
    PortMove,
    UnreadableSwitch,
    VlanInfo,
)
from .store_quick import open_store
from .switches import Held, SwitchPool

if TYPE_CHECKING:  # SQLAlchemy is loaded when the store first needs it (store_quick)
    from .journal import IntentPort, StagedRecord
    from .reports import DeployReport
    from .store import Store


class KavlanService(Service):
    """Every face calls this; it checks rights, plans, drives switches, records, publishes events, reports.

    The switches are its pool's (``switches``: drivers, locks, retries); the store records only what the
    switches were read back holding. The user's side (names, nodefiles, SSH, the staged move) is implemented once
    in :class:`~kavlan_core.interface.Service`, shared with the remote client."""

    def __init__(
        self,
        settings: Settings,
        *,
        inventory: Inventory | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.inventory = inventory if inventory is not None else inventory_mod.load(settings.inventory)
        self.store = store if store is not None else open_store(settings.database_url)
        self.clock = clock
        self.events = EventBus(clock)
        self.user = settings.user
        self.site = settings.site or next(iter(self.inventory.sites))
        if self.site not in self.inventory.sites:
            raise BadInput(
                f"unknown site {self.site!r} in the configuration (sites: {', '.join(self.inventory.sites)})"
            )
        self.switches = SwitchPool(settings, self.inventory, self.store)
        self.monitor = Monitor(self.switches, self.inventory, self.events, moves=self._recent_moves)
        self.dhcp_servers = DhcpBackend(self.inventory, self.store, self.settings.data_path / "dhcp")
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        """Who writes this service's intents, as a later command names them."""
        self.recorder = Recorder(self)
        self.endings = Endings(self)
        self.booking = Booking(self)
        self.recovery = Recovery(self)
        self._moving = 0
        self._stop = ""

    def describe(self) -> str:
        return f"database: {self.store.url}"

    async def close(self) -> None:
        await self.switches.close()
        self.store.dispose()

    def interrupt(self, reason: str) -> bool:
        """Ask the moves of this service to stop at their next step (``reason``: ``SIGTERM``...): a move not begun
        changes nothing, one under way finishes or rolls back the switches it began, and every later move stops
        before its first switch (``reason`` "": moves go on as usual again). Whether a move is under way (the
        caller then waits for its report)."""
        self._stop = (self._stop or reason) if reason else ""
        return self._moving > 0

    async def watch(self, every: float, on_error: Callable[[Exception], None] | None = None) -> None:
        """Settle unfinished intents and end expired jobs now, then every ``every`` seconds (the API server runs
        this while it serves); a failure is handed to ``on_error`` and tried again at the next round."""
        while True:
            try:
                await self.reap()
            except Exception as exc:  # the database or a switch down: the next round tries again
                if on_error is not None:
                    on_error(exc)
            await asyncio.sleep(every)

    # --- helpers ---------------------------------------------------------------------------------------

    def _rights(self, user: str, running: Iterable[Job]) -> Rights:
        return Rights.of(user, running, self.settings.admins)

    def _tag_to_vlan(self, site: str, tag: int | None) -> int | None:
        return None if tag is None else self.inventory.vlan_of_tag(site, tag)

    def _vlan_on(self, switch: str, tag: int | None) -> int | None:
        """The VLAN a tag stands for on ``switch`` (tags are per site)."""
        return self._tag_to_vlan(self.inventory.switches[switch].site, tag)

    # --- reads -------------------------------------------------------------------

    async def reap(self) -> list[Job]:
        """Settle what stopped or dead processes left unfinished (moves, jobs' ends), then end the jobs whose
        walltime has passed, even if no process ran when they expired."""
        now = self.clock()
        with self.store.read() as tx:
            due = [j for j in tx.jobs(running=True) if j.deadline <= now]
            unfinished = tx.has_intents()
        if unfinished:
            await self.recovery.run()
        ended = []
        for job in due:
            done = await self.endings.end(job, JobState.TERMINATED, "walltime reached")
            if done is not None:
                ended.append(done)
        return ended

    async def job(self, job_id: int) -> Job:
        await self.reap()
        with self.store.read() as tx:
            job = tx.job(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    async def jobs(self, *, user: str | None = None, running: bool | None = True) -> list[Job]:
        await self.reap()
        with self.store.read() as tx:
            return tx.jobs(user=user, running=running)

    async def jobs_page(
        self,
        site: str,
        *,
        user: str | None,
        states: Collection[JobState] | None,
        offset: int,
        limit: int,
        name: str | None = None,
    ) -> tuple[int, list[Job]]:
        """The jobs touching ``site`` (its nodes or VLANs), newest first: how many, and ``limit`` of them from
        ``offset`` (the API's paged listing; only the page is read); ``name``: only the jobs of that name."""
        await self.reap()
        nodes = [n.name for n in self.inventory.site_nodes(site)]
        with self.store.read() as tx:
            return tx.jobs_page(
                site=site, nodes=nodes, user=user, states=states, offset=offset, limit=limit, name=name
            )

    async def vlans(self, site: str | None = None) -> list[VlanInfo]:
        """Every VLAN a site's nodes can be in, with holder, DHCP state and member count."""
        await self.reap()
        site = site or self.site
        if site not in self.inventory.sites:
            raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
        with self.store.read() as tx:
            held = tx.held_vlans()
            dhcp = tx.dhcp_states()
            running = {j.id: j for j in tx.jobs(running=True)}
            members = tx.nic_vlans()
        counts = self._member_counts(site, members)
        out = []
        for vid in self.inventory.vlan_ids(site):
            v = self.inventory.vlan(site, vid)
            job_id = held.get((v.site, vid))
            out.append(
                VlanInfo(
                    site=site,
                    id=vid,
                    kind=v.kind,
                    owner=v.site,
                    subnet=str(v.subnet),
                    tag=self.inventory.tag(site, vid),
                    job=job_id,
                    user=running[job_id].user if job_id in running else None,
                    dhcp=self._dhcp_state(v.site, vid, dhcp.get((v.site, vid), {}).get("state")),
                    members=counts.get(vid, 0),
                )
            )
        return out

    def _member_counts(self, site: str, members: dict[tuple[str, str], int]) -> dict[int, int]:
        """How many NICs each VLAN holds, as a site's nodes see it: the site's NICs, and every NIC of a global
        VLAN; DEFAULT holds the site's NICs that are in no VLAN."""
        counts: dict[int, int] = {}
        site_nodes = {n.name for n in self.inventory.site_nodes(site)}
        for (node, _nic), vid in members.items():
            if node in site_nodes or vid in GLOBAL_IDS:
                counts[vid] = counts.get(vid, 0) + 1
        n_site_nics = sum(len(self.inventory.nodes[n].nics) for n in site_nodes)
        in_vlans = sum(1 for (node, _nic) in members if node in site_nodes)
        counts[DEFAULT] = n_site_nics - in_vlans
        return counts

    async def vlan_of(self, names_: Iterable[str]) -> list[tuple[str, int]]:
        """The VLAN of each named NIC, as the store records it (verified at each move)."""
        await self.reap()
        refs = self.resolve(names_)
        with self.store.read() as tx:
            current = tx.nic_vlans(ref.key for ref, _ in refs)
        return [(name, current.get(ref.key, DEFAULT)) for ref, name in refs]

    async def members(self, vlan: int, site: str | None = None) -> list[Member]:
        """NICs in a VLAN. For a global VLAN, from every site; for the others, of ``site``."""
        await self.reap()
        self.check_vlan(vlan)
        site = site or self.site
        with self.store.read() as tx:
            current = tx.nic_vlans()
            busy = {n: j.id for j in tx.jobs(running=True) for n in j.nodes}
        return [
            self._member(NicRef(node, nic), vlan, busy.get(node.name))
            for node in self.inventory.nodes.values()
            if vlan in GLOBAL_IDS or node.site == site
            for nic in node.nics
            if current.get((node.name, nic.name), DEFAULT) == vlan
        ]

    def _member(self, ref: NicRef, vlan: int, job: int | None) -> Member:
        node, nic = ref.node, ref.nic
        return Member(
            name=self.inventory.hostname(ref, vlan),
            node=node.name,
            nic=nic.name,
            site=node.site,
            cluster=node.cluster,
            switch=nic.switch,
            port=nic.port,
            address=str(self.inventory.address(node, vlan)),
            job=job,
        )

    # --- jobs ----------------------------------------------------------------------

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
        user = user or self.user
        await self.reap()
        want = wanted(request, properties=properties, types=types, name=name, walltime=walltime)
        job = self.booking.submit(want, user=user, site=site or self.site, grid=grid)
        self.events.publish(JobSubmitted(job=job.id, user=user))
        return job

    async def grid_submit(
        self,
        parts: Sequence[GridRequest],
        *,
        user: str | None = None,
        types: Sequence[str] = (),
        walltime: int | None = None,
        name: str = "",
    ) -> Grid:
        user = user or self.user
        await self.reap()
        grid = self.booking.submit_grid(parts, user=user, types=types, walltime=walltime, name=name)
        for part in grid.parts:
            self.events.publish(JobSubmitted(job=part.job.id, user=user))
        return grid

    async def grid_record(self, grid_id: int) -> GridRecord:
        await self.reap()
        return self.booking.record(grid_id)

    async def open_grid(self, walltime: int, *, user: str | None = None) -> int:
        return self.booking.open_grid(user=user or self.user, walltime=walltime)

    async def add_grid_parts(
        self, grid_id: int, parts: Sequence[GridRef], *, user: str | None = None
    ) -> GridRecord:
        return self.booking.add_parts(grid_id, parts, user=user or self.user)

    async def drop_grid(self, grid_id: int, *, user: str | None = None) -> None:
        self.booking.drop(grid_id, user=user or self.user)

    async def delete_job(self, job_id: int, *, user: str | None = None) -> Job:
        user = user or self.user
        job = await self.job(job_id)
        if job.user != user and user not in self.settings.admins:
            raise NotAllowed(f"job {job_id} belongs to {job.user}, not to {user}")
        if not job.running:
            raise NotFound(f"job {job_id} has already ended ({job.state.value})")
        done = await self.endings.end(job, JobState.TERMINATED, f"deleted by {user}")
        return done or job

    async def deploy(
        self, names_: Sequence[str], vlan: int, *, environment: str, key: str = "", user: str | None = None
    ) -> DeployReport:
        from .deploy import deploy

        await self.reap()
        return await deploy(self, names_, vlan, user=user or self.user, environment=environment, key=key)

    async def open_staged(
        self, ports: Sequence[IntentPort], vlan: int, user: str, undo_at: float
    ) -> StagedRecord:
        from .staged_journal import open_record

        return await open_record(self, ports, vlan, user, undo_at)

    async def unavailable(self) -> dict[str, str]:
        with self.store.read() as tx:
            return {node: reason for node, (reason, _since, _job) in sorted(tx.unavailable().items())}

    async def set_available(self, node: str, *, user: str | None = None) -> bool:
        user = user or self.user
        if user not in self.settings.admins:
            raise NotAllowed(f"{PRIVILEGES}: only an administrator may make a node available again")
        ((ref, _plain),) = self.resolve([node])
        with self.store.write() as tx:
            cleared = tx.clear_unavailable(ref.node.name)
            if cleared:
                tx.audit(user, "node.available", node=ref.node.name)
        return cleared

    # --- moves -----------------------------------------------------------------------

    async def set_vlan(
        self, names_: Sequence[str], vlan: int, *, user: str | None = None, dry_run: bool = False
    ) -> MoveReport:
        """Move NICs into ``vlan``: rights, plan per switch, apply, read back, roll back on failure, record, report."""
        user = user or self.user
        await self.reap()
        self.check_vlan(vlan)
        if not names_:
            raise BadInput("no node given", about="nodes")
        with self.store.read() as tx:
            rights = self._rights(user, tx.jobs(user=user, running=True))
        return await self._finish_even_if_cancelled(
            self._move(names_, vlan, user=user, rights=rights, dry_run=dry_run)
        )

    @staticmethod
    async def _finish_even_if_cancelled(coro: Any) -> Any:
        """A move its caller gives up on (Ctrl-C, a cancelled worker) still verifies, rolls back and records."""
        task = asyncio.ensure_future(coro)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task
            raise

    async def _move(
        self,
        names_: Sequence[str],
        vlan: int,
        *,
        user: str,
        rights: Rights | None,
        dry_run: bool = False,
        keep: Callable[[PortMove], bool] | None = None,
    ) -> MoveReport:
        """A move, step by step: rights, lock, read, plan, then (``_carry_out``) journal, apply and read back, roll
        back, record, publish.

        The switches' locks are held from the first read to the record, so that what the move read is still true
        when it writes and the store records only what the switches hold; a dry run takes none and stops at the
        plan. ``rights`` None: the system acts (a job's end, a repair). ``keep``: which ports, as the switches hold
        them under the locks, the move still changes (a job's end: those still the job's)."""
        started = time.perf_counter()
        targets = self.resolve(names_)
        if rights is not None:
            self._check_rights(rights, targets, vlan)
        report = MoveReport(vlan=vlan, dry_run=dry_run)
        groups = by_switch(targets)
        self._moving += 1
        try:
            async with self.switches.hold([] if dry_run else groups) as held:
                reads = await read_switches(self.switches, groups)
                planned = keep_only(plan_move(vlan, targets, reads, self.inventory), keep)
                report.plan, report.results = self._described(planned.plan), planned.results
                if not planned.refused and not dry_run:
                    assert planned.plan is not None  # only a refusal comes without a plan
                    await self._carry_out(planned.plan, report, user, rights, held, started)
        finally:
            self._moving -= 1
        return self._timed(report, started)

    async def _carry_out(
        self, plan: Plan, report: MoveReport, user: str, rights: Rights | None, held: Held, started: float
    ) -> None:
        """The part of a move that touches switches: journal its intent (a fault of the database here stops it
        before any switch is touched), apply and read back, roll back if a switch failed, record, publish. A move
        asked to stop (``interrupt``) before its intent changes nothing."""
        if not plan.switches:  # every NIC is already there
            self._record_there(plan)
            return
        if self._stop:
            report.results += not_begun(
                plan, f"not moved: stopped by {self._stop} before any switch was touched"
            )
            return
        testpoints.reached("before-intent")
        intent = self.recorder.open(user, plan)
        testpoints.reached("after-intent")
        self._publish_start(user, plan)
        outcomes = await apply_plan(
            self.switches,
            plan,
            self.events.publish,
            done=self.recorder.journal(intent),
            stopped=self._stopped,
        )
        if any(o.error is not None for o in outcomes):
            await roll_back(self.switches, outcomes, self.events.publish)
        report.switches = [o.timing for o in outcomes]
        testpoints.reached("before-record")
        await self.recorder.record(intent, plan, outcomes, rights, held, report)
        self._publish_end(report, started)

    def _stopped(self) -> str:
        return f"stopped by {self._stop}" if self._stop else ""

    def _check_rights(self, rights: Rights, targets: Targets, vlan: int) -> None:
        """Refuse the whole move when the user may not move one of the NICs, or into this VLAN."""
        refusals: list[tuple[str, str]] = []
        for ref, name in targets:
            why = rights.may_move_node(ref.node.name)
            if why is None:
                why = rights.may_use_vlan(self._owner(ref.node.site, vlan), vlan)
            if why is not None:
                refusals.append((name, why))
        if refusals:
            detail = "; ".join(f"{n}: {w}" for n, w in refusals[:5])
            more = f" (and {len(refusals) - 5} more)" if len(refusals) > 5 else ""
            raise NotAllowed(f"{PRIVILEGES}: {detail}{more}", refusals)

    def _described(self, plan: Plan | None) -> Plan | None:
        """The plan with what each driver would send (a dry run shows it)."""
        for sp in plan.switches if plan is not None else ():
            sp.commands = self.switches.describe(sp.switch, sp.changes)
        return plan

    @staticmethod
    def _already_there(plan: Plan) -> dict[tuple[str, str], int]:
        return {ref.key: plan.vlan for ref, _ in plan.unchanged}

    def _publish_start(self, user: str, plan: Plan) -> None:
        nodes = tuple(m.name for sp in plan.switches for m in sp.moves)
        switches = tuple(sp.switch for sp in plan.switches)
        self.events.publish(MoveStarted(user=user, vlan=plan.vlan, nodes=nodes, switches=switches))

    def _publish_end(self, report: MoveReport, started: float) -> None:
        """Every NIC moved, then the move's end with its counts and its time."""
        for r in report.results:
            if r.status == Outcome.SUCCESS:
                old = r.old_vlan if r.old_vlan is not None else -1
                self.events.publish(NodeMoved(node=r.name, nic="", old=old, new=report.vlan))
        c = self._timed(report, started).counts()
        self.events.publish(
            MoveFinished(
                vlan=report.vlan,
                ok=c[Outcome.SUCCESS],
                failed=c[Outcome.FAILURE],
                unchanged=c[Outcome.UNCHANGED],
                seconds=report.seconds,
            )
        )

    @staticmethod
    def _timed(report: MoveReport, started: float) -> MoveReport:
        report.seconds = time.perf_counter() - started
        return report

    def _record_there(self, plan: Plan) -> None:
        """A move whose NICs all are in the VLAN already: the store records what the switches hold."""
        vlans = self._already_there(plan)
        if vlans:
            with self.store.write() as tx:
                tx.set_nic_vlans(vlans, self.clock())

    # --- DHCP ------------------------------------------------------------------------

    async def dhcp(self, vlan: int, enable: bool, *, user: str | None = None, site: str | None = None) -> str:
        """Start or stop the default DHCP server of a VLAN the user holds; a second start is harmless."""
        user = user or self.user
        await self.reap()
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        with self.store.read() as tx:
            rights = self._rights(user, tx.jobs(user=user, running=True))
        why = rights.may_manage_vlan(site, vlan)
        if why is not None:
            raise NotAllowed(f"{PRIVILEGES}: {why}")
        state = await (self.dhcp_servers.start(site, vlan) if enable else self.dhcp_servers.stop(site, vlan))
        with self.store.write() as tx:
            tx.set_dhcp(site, vlan, "on" if enable else "off", user, self.clock())
            tx.audit(user, "dhcp." + ("start" if enable else "stop"), site=site, vlan=vlan, state=state)
        self.events.publish(DhcpChanged(site=site, vlan=vlan, state=state))
        return state

    async def dhcp_state(self, vlan: int, site: str | None = None) -> str:
        """``on``, ``off``, or ``failed`` for a real server that died while it should run."""
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        with self.store.read() as tx:
            recorded = tx.dhcp_states().get((site, vlan), {}).get("state")
        return self._dhcp_state(site, vlan, recorded)

    def _dhcp_state(self, site: str, vlan: int, recorded: str | None) -> str:
        state = self.dhcp_servers.state(site, vlan, recorded)
        if state == "off" and recorded == "on" and self.dhcp_servers.kind(site) == "dnsmasq":
            return "failed"  # asked for, not running: it crashed or was killed
        return state

    async def leases(self, vlan: int, site: str | None = None) -> list[Lease]:
        """The leases of a VLAN's DHCP server (real servers only)."""
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        return await asyncio.to_thread(self.dhcp_servers.leases, site, vlan)

    # --- drift -------------------------------------------------------------------------

    async def drift(self, site: str | None = None) -> DriftReport:
        """Read every switch of a site; report ports whose real VLAN differs from the store's, and each switch that
        could not be read (with its reason: its ports were not checked), the others checked all the same."""
        site = site or self.site
        with self.store.read() as tx:
            recorded = tx.nic_vlans()
        sem = self.switches.bound()

        async def check(switch: str) -> list[Drift] | UnreadableSwitch:
            refs = self.inventory.switch_ports(switch)
            ports = [r.nic.port for r in refs]
            async with sem:
                try:
                    states = await self.switches.inspect(switch, ports)
                except SwitchUnavailable as exc:
                    return UnreadableSwitch(switch, tuple(exc.ports or ports), str(exc))
            return self._drifted(site, switch, refs, states, recorded)

        report = DriftReport()
        for found in await asyncio.gather(*(check(s) for s in self.inventory.sites[site].switches)):
            if isinstance(found, UnreadableSwitch):
                report.unreadable.append(found)
            else:
                report.drifts += found
        report.drifts.sort(key=lambda d: (d.switch, d.port))
        return report

    def _drifted(
        self,
        site: str,
        switch: str,
        refs: Sequence[NicRef],
        states: dict[str, PortState],
        recorded: dict[tuple[str, str], int],
    ) -> list[Drift]:
        """The ports of one switch not in the VLAN the store records, each published as it is found."""
        out = []
        for ref in refs:
            expected = recorded.get(ref.key, DEFAULT)
            tag = states.get(ref.nic.port, PortState(None)).tag
            actual = self._tag_to_vlan(site, tag)
            if actual != expected:
                out.append(Drift(switch, ref.nic.port, ref.node.name, ref.nic.name, expected, actual, tag))
                self.events.publish(
                    DriftFound(
                        switch=switch, port=ref.nic.port, node=ref.node.name, expected=expected, actual=actual
                    )
                )
        return out

    async def repair(self, site: str | None = None, *, user: str | None = None) -> MoveReport:
        """Settle every unfinished intent now, then put every drifted port back where the store says, on the
        switches that can be read (administrators); the others are listed with their reason. A port is never put
        back into a VLAN no running job holds: it goes to DEFAULT."""
        user = user or self.user
        if user not in self.settings.admins:
            raise NotAllowed(f"{PRIVILEGES}: only an administrator may repair drift")
        started = time.perf_counter()
        await self.recovery.run(force=True)
        found = await self.drift(site)
        report = MoveReport(vlan=-1, unreadable=list(found.unreadable))
        by_vlan = self._to_repair(site or self.site, found)
        for vid, nodes in by_vlan.items():
            sub = await self._finish_even_if_cancelled(self._move(nodes, vid, user=user, rights=None))
            report.results.extend(sub.results)
            report.switches.extend(sub.switches)
        report.seconds = time.perf_counter() - started
        return report

    def _to_repair(self, site: str, found: DriftReport) -> dict[int, list[str]]:
        """The NICs to move, by VLAN: each drifted port into the VLAN the store says, and each NIC the store
        records in a VLAN no running job holds (a state this version never leaves) into DEFAULT; never into the
        VLAN of an ended job. The switches that could not be read are left out."""
        down = {u.switch for u in found.unreadable}
        with self.store.read() as tx:
            held = tx.held_vlans()
            recorded = tx.nic_vlans()
        targets: dict[tuple[str, str], int] = {(d.node, d.nic): d.expected for d in found.drifts}
        drifted = set(targets)
        for (node_name, nic), vid in recorded.items():
            node = self.inventory.nodes.get(node_name)
            if node is not None and node.site == site and vid != DEFAULT:
                targets.setdefault((node_name, nic), vid)
        by_vlan: dict[int, list[str]] = {}
        for (node_name, nic_name), target in targets.items():
            node = self.inventory.nodes[node_name]
            ref = NicRef(node, node.nic(nic_name) or node.primary_nic)
            if ref.nic.switch in down:
                continue
            if target != DEFAULT and (self._owner(node.site, target), target) not in held:
                target = DEFAULT  # its job has ended: never back into its VLAN
            elif (node_name, nic_name) not in drifted:
                continue  # where the store says, and allowed: nothing to do
            by_vlan.setdefault(target, []).append(self.inventory.hostname(ref, DEFAULT))
        return by_vlan

    # --- monitoring ------------------------------------------------------------------------------------

    async def port_loads(self, names_: Sequence[str], *, interval: float = 1.0) -> PortsReport:
        if not names_:
            raise BadInput("no node given", about="nodes")
        return await self.monitor.port_loads([ref for ref, _ in self.resolve(names_)], interval=interval)

    def _recent_moves(self) -> dict[tuple[str, str], int]:
        """The VLAN each NIC left less than ``fdb_ageing`` seconds ago (the isolation check excuses it)."""
        with self.store.read() as tx:
            moves = tx.nic_moves(since=self.clock() - self.settings.fdb_ageing)
        return {key: left for key, (left, _) in moves.items()}

    async def fdb(self, vlan: int | None = None, site: str | None = None) -> FdbReport:
        site = site or self.site
        if vlan is not None:
            self.check_vlan(vlan)
            site = self._owner(site, vlan)
        if site not in self.inventory.sites:
            raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
        return await self.monitor.fdb(site, vlan)

    async def isolation(self, site: str, vlans: Sequence[int] | None) -> IsolationReport:
        if site not in self.inventory.sites:
            raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
        for vlan in vlans or ():
            self.check_vlan(vlan)
        scope = f"site {site}" if vlans is None else "VLAN " + ", ".join(map(vlan_label, vlans))
        return await self.monitor.check(site, vlans, scope)

    # --- users and holders -------------------------------------------------------------------------

    async def holders(self, site: str | None = None, *, user: str | None = None) -> dict[str, list[int]]:
        """Who holds VLANs usable at ``site`` (its own and the global ones) through running jobs: each user's
        VLAN ids, users and ids sorted; only ``user``'s when given."""
        site = site or self.site
        held: dict[str, set[int]] = {}
        for job in await self.jobs(user=user, running=True):
            for v in job.vlans:
                if v.site == site or v.vlan in self.inventory.global_owner:
                    held.setdefault(job.user, set()).add(v.vlan)
        return {u: sorted(vids) for u, vids in sorted(held.items())}

    async def vlan_holders(self, vlan: int, site: str | None = None) -> list[str]:
        """The users whose running jobs hold ``vlan`` (a global VLAN is its owner site's), sorted."""
        owner = self.inventory.global_owner.get(vlan, site or self.site)
        jobs = await self.jobs(running=True)
        return sorted({j.user for j in jobs for v in j.vlans if (v.site, v.vlan) == (owner, vlan)})

    async def may_use_vlan(self, user: str, vlan: int, site: str | None = None) -> bool:
        """Whether ``user`` may move nodes into ``vlan``: DEFAULT, an administrator, or one of its holders."""
        owner = self.inventory.global_owner.get(vlan, site or self.site)
        rights = Rights.of(user, await self.jobs(user=user, running=True), self.settings.admins)
        return rights.may_use_vlan(owner, vlan) is None
