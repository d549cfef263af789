"""KavlanService: the one execution core that the CLI, the REPL and the TUI call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from . import inventory as inventory_mod
from .authz import PRIVILEGES, Rights
from .config import Settings
from .dhcp.backend import DhcpBackend
from .drivers.base import PortChange, PortState, SwitchDriver, SwitchError, SwitchTimeout, driver_class
from .errors import BadInput, KavlanError, NotAllowed, NotFound, Unavailable
from .events import (
    DhcpChanged,
    DriftFound,
    EventBus,
    JobEnded,
    JobSubmitted,
    MoveFinished,
    MoveStarted,
    NodeMoved,
    SwitchFinished,
    SwitchStarted,
)
from .interface import Service
from .inventory import Inventory, NicRef
from .model import DEFAULT, GLOBAL_IDS, Job, JobState, vlan_label
from .plan import Plan, PortMove, SwitchPlan
from .reports import Drift, Lease, Member, MoveReport, NodeResult, Outcome, SwitchTiming, VlanInfo
from .reservations import AllocationError, RequestError, allocate, parse_request
from .store import Store


def _jitter(base: float, attempt: int) -> float:
    return base * (2**attempt) * random.uniform(0.5, 1.5)


class KavlanService(Service):
    """Every face calls this; it checks rights, plans, drives switches, records, publishes events, reports.

    The user's side (names, nodefiles, SSH, the staged move) is implemented once in
    :class:`~kavlan_core.interface.Service`, shared with the remote client."""

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
        self.store = store if store is not None else Store(settings.database_url)
        self.clock = clock
        self.events = EventBus(clock)
        self.user = settings.user
        self.site = settings.site or next(iter(self.inventory.sites))
        if self.site not in self.inventory.sites:
            raise BadInput(
                f"unknown site {self.site!r} in the configuration (sites: {', '.join(self.inventory.sites)})"
            )
        self._locks: dict[str, asyncio.Lock] = {}
        self._drivers: dict[str, SwitchDriver] = {}
        self._credentials: dict[str, Any] | None = None
        self.dhcp_servers = DhcpBackend(self.inventory, self.store, self.settings.data_path / "dhcp")

    def describe(self) -> str:
        return f"database: {self.store.url}"

    async def close(self) -> None:
        for drv in self._drivers.values():
            with contextlib.suppress(Exception):
                await drv.close()
        self._drivers.clear()
        self.store.dispose()

    # --- helpers ---------------------------------------------------------------

    def _rights(self, user: str, running: Iterable[Job]) -> Rights:
        return Rights.of(user, running, self.settings.admins)

    def _driver(self, switch: str) -> SwitchDriver:
        drv = self._drivers.get(switch)
        if drv is None:
            sw = self.inventory.switches[switch]
            cls = driver_class(sw.driver)
            creds = self._switch_credentials(sw.credentials)
            context = {
                "store": self.store,
                "default_tag": self.inventory.sites[sw.site].default_tag,
                "settings": self.settings,
            }
            drv = cls(sw, creds, context)
            self._drivers[switch] = drv
        return drv

    def _switch_credentials(self, ref: str) -> dict[str, Any]:
        if not ref:
            return {}
        if self._credentials is None:
            self._credentials = {}
            if self.settings.credentials:
                import tomllib

                try:
                    with open(os.path.expanduser(self.settings.credentials), "rb") as fh:
                        self._credentials = tomllib.load(fh)
                except (OSError, tomllib.TOMLDecodeError) as exc:
                    raise KavlanError(
                        f"cannot read the switch credentials file {self.settings.credentials}: {exc}"
                    ) from None
        return dict(self._credentials.get(ref, {}))

    @contextlib.asynccontextmanager
    async def _switch_lock(self, switch: str) -> AsyncIterator[None]:
        """Two moves on one switch never interleave: in this process (asyncio) and across processes (the store's
        named lock: an advisory lock on PostgreSQL, a flock file in the data dir with SQLite)."""
        lock = self._locks.setdefault(switch, asyncio.Lock())
        async with lock:
            flock_file = self.settings.data_path / "locks" / f"{switch}.lock"  # used with SQLite
            held = self.store.lock(f"switch:{switch}", file=flock_file)
            if not await held.acquire(timeout=300):
                raise Unavailable(
                    f"switch {switch} is busy: another move held it for 5 minutes; nothing was changed"
                )
            try:
                yield
            finally:
                held.release()

    async def _with_retries(self, switch: str, what: Callable[[], Any]) -> tuple[Any, int]:
        tries = 0
        while True:
            tries += 1
            try:
                return await what(), tries
            except SwitchTimeout:
                if tries > self.settings.switch_retries:
                    raise
                await asyncio.sleep(_jitter(self.settings.retry_backoff, tries - 1))

    def _tag_to_vlan(self, site: str, tag: int | None) -> int | None:
        return None if tag is None else self.inventory.vlan_of_tag(site, tag)

    # --- reads -------------------------------------------------------------------

    async def reap(self) -> list[Job]:
        """End the jobs whose walltime has passed, even if no process ran when they expired."""
        now = self.clock()
        with self.store.read() as tx:
            due = [j for j in tx.jobs(running=True) if j.deadline <= now]
        ended = []
        for job in due:
            done = await self._end_job(job, JobState.TERMINATED, "walltime reached")
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
        counts: dict[int, int] = {}
        site_nodes = {n.name for n in self.inventory.site_nodes(site)}
        for (node, _nic), vid in members.items():
            if node in site_nodes or vid in GLOBAL_IDS:
                counts[vid] = counts.get(vid, 0) + 1
        n_site_nics = sum(len(self.inventory.nodes[n].nics) for n in site_nodes)
        in_vlans = sum(1 for (node, _nic) in members if node in site_nodes)
        counts[DEFAULT] = n_site_nics - in_vlans
        out = []
        for vid in self.inventory.vlan_ids(site):
            v = self.inventory.vlan(site, vid)
            job_id = held.get((v.site, vid))
            state = self._dhcp_state(v.site, vid, dhcp.get((v.site, vid), {}).get("state"))
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
                    dhcp=state,
                    members=counts.get(vid, 0),
                )
            )
        return out

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
            busy: dict[str, int] = {}
            for j in tx.jobs(running=True):
                for n in j.nodes:
                    busy[n] = j.id
        out = []
        for node in self.inventory.nodes.values():
            if vlan not in GLOBAL_IDS and node.site != site:
                continue
            for nic in node.nics:
                if current.get((node.name, nic.name), DEFAULT) != vlan:
                    continue
                ref = NicRef(node, nic)
                out.append(
                    Member(
                        name=self.inventory.hostname(ref, vlan),
                        node=node.name,
                        nic=nic.name,
                        site=node.site,
                        cluster=node.cluster,
                        switch=nic.switch,
                        port=nic.port,
                        address=str(self.inventory.address(node, vlan)),
                        job=busy.get(node.name),
                    )
                )
        return out

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
    ) -> Job:
        user = user or self.user
        await self.reap()
        try:
            req = parse_request(request, properties)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
        if not req.groups:
            raise BadInput(f"the request {request!r} asks for no resource")
        wall = req.walltime or walltime or self.settings.default_walltime
        site = site or self.site
        now = self.clock()
        with self.store.write() as tx:
            try:
                alloc = allocate(self.inventory, req, site, tx.busy_nodes(), tx.held_vlans())
            except AllocationError as exc:
                raise Unavailable(str(exc)) from None
            job = Job(
                id=tx.next_job_id(),
                user=user,
                state=JobState.RUNNING,
                name=name,
                types=tuple(types),
                request=request,
                submitted=now,
                started=now,
                walltime=wall,
                ended=None,
                nodes=tuple(alloc.nodes),
                vlans=tuple(alloc.vlans),
            )
            tx.insert_job(job)
            tx.audit(
                user,
                "job.submit",
                job=job.id,
                nodes=list(job.nodes),
                vlans=[[v.site, v.vlan] for v in job.vlans],
            )
        self.events.publish(JobSubmitted(job=job.id, user=user))
        return job

    async def delete_job(self, job_id: int, *, user: str | None = None) -> Job:
        user = user or self.user
        job = await self.job(job_id)
        if job.user != user and user not in self.settings.admins:
            raise NotAllowed(f"job {job_id} belongs to {job.user}, not to {user}")
        if not job.running:
            raise NotFound(f"job {job_id} has already ended ({job.state.value})")
        done = await self._end_job(job, JobState.TERMINATED, f"deleted by {user}")
        return done or job

    async def _end_job(self, job: Job, state: JobState, reason: str) -> Job | None:
        """Claim the job's end (only one process does it), then put its nodes back and switch its DHCP off."""
        now = self.clock()
        with self.store.write() as tx:
            fresh = tx.job(job.id)
            if fresh is None or not fresh.running:
                return None
            tx.end_job(job.id, state, now)
            tx.audit("kavlan", "job.end", job=job.id, reason=reason)
            current = tx.nic_vlans()
            for v in job.vlans:
                tx.set_dhcp(v.site, v.vlan, "off", "kavlan", now, detail=f"job {job.id} ended")
        job_vlans = {(v.site, v.vlan) for v in job.vlans}
        back: list[str] = []
        for (node, nic), vid in current.items():
            n = self.inventory.nodes.get(node)
            if n is None or vid == DEFAULT:
                continue
            if node in job.nodes or (self._owner(n.site, vid), vid) in job_vlans:
                ref = NicRef(n, n.nic(nic) or n.primary_nic)
                back.append(self.inventory.hostname(ref, DEFAULT))
        if back:
            report = await self._finish_even_if_cancelled(
                self._move(back, DEFAULT, user="kavlan", rights=None)
            )
            if not report.ok:
                with self.store.write() as tx:
                    tx.audit(
                        "kavlan",
                        "job.end.failed",
                        job=job.id,
                        failed=[(r.name, r.message) for r in report.failed],
                    )
        for v in job.vlans:
            with contextlib.suppress(KavlanError):
                await self.dhcp_servers.stop(v.site, v.vlan)
            self.events.publish(DhcpChanged(site=v.site, vlan=v.vlan, state="off"))
        self.events.publish(JobEnded(job=job.id, user=job.user, reason=reason))
        with self.store.read() as tx:
            return tx.job(job.id)

    # --- moves -----------------------------------------------------------------------

    async def set_vlan(
        self, names_: Sequence[str], vlan: int, *, user: str | None = None, dry_run: bool = False
    ) -> MoveReport:
        """Move NICs into ``vlan``: rights, plan per switch, apply, read back, roll back on failure, record, report."""
        user = user or self.user
        await self.reap()
        self.check_vlan(vlan)
        if not names_:
            raise BadInput("no node given (use -m NODE, -f NODEFILE or -j JOBID)")
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
        self, names_: Sequence[str], vlan: int, *, user: str, rights: Rights | None, dry_run: bool = False
    ) -> MoveReport:
        """Hold the lock of every switch involved (in name order: no deadlock) from the first read to the last
        write, so that what a move read is still true when it writes; a dry run takes none."""
        if dry_run:
            return await self._move_locked(names_, vlan, user=user, rights=rights, dry_run=True)
        switches = sorted({ref.nic.switch for ref, _name in self.resolve(names_)})
        async with contextlib.AsyncExitStack() as held:
            for switch in switches:
                await held.enter_async_context(self._switch_lock(switch))
            for switch in switches:
                await held.enter_async_context(self._driver(switch).batch())
            return await self._move_locked(names_, vlan, user=user, rights=rights)

    async def _move_locked(
        self, names_: Sequence[str], vlan: int, *, user: str, rights: Rights | None, dry_run: bool = False
    ) -> MoveReport:
        started = time.perf_counter()
        refs = self.resolve(names_)
        if rights is not None:
            refusals: list[tuple[str, str]] = []
            for ref, name in refs:
                why = rights.may_move_node(ref.node.name)
                if why is None:
                    why = rights.may_use_vlan(self._owner(ref.node.site, vlan), vlan)
                if why is not None:
                    refusals.append((name, why))
            if refusals:
                detail = "; ".join(f"{n}: {w}" for n, w in refusals[:5])
                more = f" (and {len(refusals) - 5} more)" if len(refusals) > 5 else ""
                raise NotAllowed(f"{PRIVILEGES}: {detail}{more}", refusals)

        by_switch: dict[str, list[tuple[NicRef, str]]] = {}
        for ref, name in refs:
            by_switch.setdefault(ref.nic.switch, []).append((ref, name))

        sem = asyncio.Semaphore(self.settings.switch_concurrency)
        report = MoveReport(vlan=vlan, dry_run=dry_run)
        plan = Plan(vlan=vlan)

        # 1. read the truth of every port involved (one batched read per switch)
        async def read(switch: str) -> dict[str, PortState] | SwitchError:
            async with sem:
                try:
                    states, _ = await self._with_retries(
                        switch,
                        lambda: self._driver(switch).read_ports([r.nic.port for r, _ in by_switch[switch]]),
                    )
                    return states  # type: ignore[no-any-return]
                except SwitchError as exc:
                    return exc

        reads = dict(zip(by_switch, await asyncio.gather(*(read(s) for s in by_switch)), strict=True))
        unreadable = {s: r for s, r in reads.items() if isinstance(r, SwitchError)}
        if unreadable:
            for switch, read_error in unreadable.items():
                for ref, name in by_switch[switch]:
                    report.results.append(
                        NodeResult(
                            name,
                            Outcome.FAILURE,
                            f"cannot read switch {switch}: {read_error.reason}",
                            switch,
                            ref.nic.port,
                        )
                    )
            for switch in by_switch:
                if switch not in unreadable:
                    for ref, name in by_switch[switch]:
                        report.results.append(
                            NodeResult(
                                name,
                                Outcome.UNCHANGED,
                                "not moved: another switch of this move failed",
                                switch,
                                ref.nic.port,
                            )
                        )
            report.seconds = time.perf_counter() - started
            return report

        for switch, members in by_switch.items():
            sw = self.inventory.switches[switch]
            states = reads[switch]
            assert not isinstance(states, SwitchError)
            sp = SwitchPlan(switch=switch, driver=sw.driver)
            for ref, name in members:
                new_tag = self.inventory.tag(sw.site, vlan)
                state = states.get(ref.nic.port)
                old_tag = state.tag if state else None
                if state is not None and state.trunk:
                    report.results.append(
                        NodeResult(
                            name,
                            Outcome.FAILURE,
                            f"port {ref.nic.port} of {switch} is a trunk: refusing to touch it",
                            switch,
                            ref.nic.port,
                        )
                    )
                    continue
                if old_tag == new_tag:
                    plan.unchanged.append((ref, name))
                    continue
                old_vlan = self._tag_to_vlan(sw.site, old_tag)
                sp.moves.append(
                    PortMove(
                        ref,
                        name,
                        old_vlan,
                        vlan,
                        PortChange(ref.nic.port, old_tag if old_tag is not None else -1, new_tag),
                    )
                )
            if sp.moves:
                sp.commands = self._driver(switch).describe(sp.changes)
                plan.switches.append(sp)
        report.plan = plan
        if report.failed:
            # a trunk port is bad input from the inventory: change nothing
            for ref, name in refs:
                if not any(r.name == name for r in report.results):
                    report.results.append(
                        NodeResult(
                            name,
                            Outcome.UNCHANGED,
                            "not moved: another port of this move was refused",
                            ref.nic.switch,
                            ref.nic.port,
                        )
                    )
            report.seconds = time.perf_counter() - started
            return report
        for ref, name in plan.unchanged:
            report.results.append(
                NodeResult(
                    name,
                    Outcome.UNCHANGED,
                    f"already in VLAN {vlan_label(vlan)}",
                    ref.nic.switch,
                    ref.nic.port,
                    vlan,
                    vlan,
                )
            )
        if dry_run or not plan.switches:
            if not dry_run and plan.unchanged:
                self._record({ref.key: vlan for ref, _ in plan.unchanged})
            report.seconds = time.perf_counter() - started
            return report

        self.events.publish(
            MoveStarted(
                user=user,
                vlan=vlan,
                nodes=tuple(m.name for sp in plan.switches for m in sp.moves),
                switches=tuple(sp.switch for sp in plan.switches),
            )
        )

        # 2. apply, one batch per switch, switches concurrently, each under its lock; verify by read-back
        async def apply(
            sp: SwitchPlan,
        ) -> tuple[SwitchPlan, dict[str, PortState] | None, SwitchError | None, SwitchTiming]:
            t0 = time.perf_counter()
            drv = self._driver(sp.switch)
            self.events.publish(SwitchStarted(switch=sp.switch, ports=len(sp.moves)))
            tries = 0
            async with sem:
                error: SwitchError | None = None
                after: dict[str, PortState] | None = None
                try:
                    new_tag = sp.moves[0].change.new_tag
                    await drv.ensure_vlan(new_tag, f"kavlan-{vlan_label(vlan)}")
                    _, tries = await self._with_retries(sp.switch, lambda: drv.apply(sp.changes))
                except SwitchError as exc:
                    error = exc
                except Exception as exc:  # a driver bug must not leave other switches changed
                    error = SwitchError(sp.switch, f"driver error: {exc!r}")
                try:
                    after, _ = await self._with_retries(
                        sp.switch, lambda: drv.read_ports([m.change.port for m in sp.moves])
                    )
                except SwitchError as exc:
                    error = error or exc
            timing = SwitchTiming(
                sp.switch,
                len(sp.moves),
                time.perf_counter() - t0,
                error is None,
                error.reason if error else "",
                max(tries, 1),
            )
            return sp, after, error, timing

        results = await asyncio.gather(*(apply(sp) for sp in plan.switches))
        failed_any = False
        verified: dict[str, dict[str, PortState] | None] = {}
        errors: dict[str, SwitchError] = {}
        for sp, after, error, timing in results:
            verified[sp.switch] = after
            if error is None and after is not None:
                wrong = [
                    m.change.port
                    for m in sp.moves
                    if after.get(m.change.port, PortState(None)).tag != m.change.new_tag
                ]
                if wrong:
                    error = SwitchError(
                        sp.switch,
                        f"the switch acknowledged the write but port(s) {', '.join(wrong)} did not change (read-back)",
                        ports=wrong,
                    )
                    timing.ok, timing.error = False, error.reason
            if error is not None:
                errors[sp.switch] = error
                failed_any = True
            report.switches.append(timing)
            self.events.publish(
                SwitchFinished(switch=sp.switch, ok=timing.ok, seconds=timing.seconds, error=timing.error)
            )

        # 3. on any failure, put back every port this move changed
        if failed_any:
            await self._rollback(plan, verified, sem)

        # 4. record only what the switches hold, and report every node
        recorded: dict[tuple[str, str], int] = {ref.key: vlan for ref, _ in plan.unchanged}
        cause = "; ".join(f"switch {e.switch} failed: {e.reason}" for e in errors.values())
        for sp in plan.switches:
            after = verified.get(sp.switch)
            site = self.inventory.switches[sp.switch].site
            for m in sp.moves:
                actual_tag = after.get(m.change.port).tag if after and m.change.port in after else None  # type: ignore[union-attr]
                actual = self._tag_to_vlan(site, actual_tag)
                if actual is not None:
                    recorded[m.ref.key] = actual
                if not failed_any:
                    report.results.append(
                        NodeResult(m.name, Outcome.SUCCESS, "", sp.switch, m.change.port, m.old_vlan, vlan)
                    )
                    continue
                err = errors.get(sp.switch)
                where = "VLAN " + vlan_label(actual) if actual is not None else "an unknown VLAN"
                if actual is None:
                    status, msg = (
                        Outcome.FAILURE,
                        f"{(err.reason if err else cause)}; the port's VLAN could not be read back",
                    )
                elif actual == vlan:
                    status, msg = (
                        Outcome.FAILURE,
                        f"{(err.reason if err else cause)}; rollback failed, the port stays in {where}",
                    )
                elif err is not None and (not err.ports or m.change.port in err.ports):
                    status, msg = Outcome.FAILURE, f"{err.reason} (the port is in {where})"
                else:
                    status, msg = Outcome.UNCHANGED, f"rolled back because {cause}"
                report.results.append(
                    NodeResult(m.name, status, msg, sp.switch, m.change.port, m.old_vlan, actual)
                )
        self._record(recorded)
        with self.store.write() as tx:
            tx.audit(
                user,
                "vlan.set",
                vlan=vlan,
                result=report.counts(),
                failed=[[r.name, r.message] for r in report.failed][:50],
            )
        for r in report.results:
            if r.status == Outcome.SUCCESS:
                self.events.publish(
                    NodeMoved(node=r.name, nic="", old=r.old_vlan if r.old_vlan is not None else -1, new=vlan)
                )
        report.seconds = time.perf_counter() - started
        c = report.counts()
        self.events.publish(
            MoveFinished(
                vlan=vlan,
                ok=c[Outcome.SUCCESS],
                failed=c[Outcome.FAILURE],
                unchanged=c[Outcome.UNCHANGED],
                seconds=report.seconds,
            )
        )
        return report

    async def _rollback(
        self, plan: Plan, verified: dict[str, dict[str, PortState] | None], sem: asyncio.Semaphore
    ) -> None:
        async def undo(sp: SwitchPlan) -> None:
            after = verified.get(sp.switch)
            moved = [
                PortChange(m.change.port, m.change.new_tag, m.change.old_tag)
                for m in sp.moves
                if m.change.old_tag >= 0
                and (after is None or after.get(m.change.port, PortState(None)).tag != m.change.old_tag)
            ]
            if not moved:
                return
            drv = self._driver(sp.switch)
            t0 = time.perf_counter()
            self.events.publish(SwitchStarted(switch=sp.switch, ports=len(moved), action="rollback"))
            ok, err = True, ""
            async with sem:
                try:
                    await self._with_retries(sp.switch, lambda: drv.apply(moved))
                except SwitchError as exc:
                    ok, err = False, exc.reason
                try:
                    verified[sp.switch], _ = await self._with_retries(
                        sp.switch, lambda: drv.read_ports([m.change.port for m in sp.moves])
                    )
                except SwitchError as exc:
                    ok, err = False, err or exc.reason
                    verified[sp.switch] = None
            self.events.publish(
                SwitchFinished(
                    switch=sp.switch, ok=ok, seconds=time.perf_counter() - t0, action="rollback", error=err
                )
            )

        await asyncio.gather(*(undo(sp) for sp in plan.switches))

    def _record(self, vlans: dict[tuple[str, str], int]) -> None:
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

    async def drift(self, site: str | None = None) -> list[Drift]:
        """Read every switch of a site; report ports whose real VLAN differs from the store's."""
        site = site or self.site
        with self.store.read() as tx:
            recorded = tx.nic_vlans()
        sem = asyncio.Semaphore(self.settings.switch_concurrency)
        out: list[Drift] = []

        async def check(switch: str) -> None:
            refs = self.inventory.switch_ports(switch)
            async with sem:
                states, _ = await self._with_retries(
                    switch, lambda: self._driver(switch).read_ports([r.nic.port for r in refs])
                )
            for ref in refs:
                expected = recorded.get(ref.key, DEFAULT)
                tag = states.get(ref.nic.port, PortState(None)).tag
                actual = self._tag_to_vlan(site, tag)
                if actual != expected:
                    d = Drift(switch, ref.nic.port, ref.node.name, ref.nic.name, expected, actual, tag)
                    out.append(d)
                    self.events.publish(
                        DriftFound(
                            switch=switch,
                            port=ref.nic.port,
                            node=ref.node.name,
                            expected=expected,
                            actual=actual,
                        )
                    )

        await asyncio.gather(*(check(s) for s in self.inventory.sites[site].switches))
        return sorted(out, key=lambda d: (d.switch, d.port))

    async def repair(self, site: str | None = None, *, user: str | None = None) -> MoveReport:
        """Re-apply the store's state to every drifted port (administrators)."""
        user = user or self.user
        if user not in self.settings.admins:
            raise NotAllowed(f"{PRIVILEGES}: only an administrator may repair drift")
        started = time.perf_counter()
        drifts = await self.drift(site)
        report = MoveReport(vlan=-1)
        by_vlan: dict[int, list[str]] = {}
        for d in drifts:
            ref = NicRef(self.inventory.nodes[d.node], self.inventory.nodes[d.node].nic(d.nic))  # type: ignore[arg-type]
            by_vlan.setdefault(d.expected, []).append(self.inventory.hostname(ref, DEFAULT))
        for vid, nodes in by_vlan.items():
            sub = await self._finish_even_if_cancelled(self._move(nodes, vid, user=user, rights=None))
            report.results.extend(sub.results)
            report.switches.extend(sub.switches)
        report.seconds = time.perf_counter() - started
        return report

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
