"""A job's end: claimed once (the job ended and its end journaled in one transaction), every NIC of its nodes and
of its VLANs put back in DEFAULT, its VLANs' DHCP stopped. An end that could not finish (a switch down, the process
killed or stopped) stays journaled; a later command resumes it, and meanwhile its VLANs and nodes go to no new job.

The end and the moves that concern the job are serialized: a move records under the write lock only if the job
holding its VLAN still runs (else it puts its ports back, see ``KavlanService._record``), and the end decides what
to put back under the switches' locks, from what the switches hold then.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from . import testpoints
from .access import homing
from .access.safeguard import Restart, StagedMove
from .errors import KavlanError
from .events import DhcpChanged, IntentSettled, JobEnded, NodeUnavailable
from .inventory import NicRef
from .journal import APPLIED, END, MOVE, PLANNED, Intent, IntentPort
from .model import DEFAULT, Job, JobState
from .reports import MoveReport, PortMove

if TYPE_CHECKING:
    from .locks import NamedLock  # with SQLAlchemy: loaded by the store when a lock is taken
    from .service import KavlanService

RETRY_FIRST, RETRY_LAST = 5.0, 300.0
"""Seconds before an unfinished end (or move) that could not be settled is tried again: doubling, up to the last."""


def retry_delay(attempts: int) -> float:
    return min(RETRY_LAST, RETRY_FIRST * 2 ** min(attempts, 16))


class Endings:
    """The ends of a service's jobs: the first one, and the resumption of an unfinished one."""

    def __init__(self, service: KavlanService) -> None:
        self.service = service

    def _lock(self, job_id: int) -> NamedLock:
        """Held by the process ending a job, from the claim to the last NIC put back: a later command resumes only
        an end whose process is gone."""
        return self.service.store.lock(f"job-end:{job_id}", file=self._lock_file(job_id))

    def _lock_file(self, job_id: int) -> Path:
        return self.service.settings.data_path / "locks" / f"job-{job_id}.end.lock"

    def _forget_lock(self, job_id: int) -> None:
        """A finished end's lock file goes (SQLite): whoever opened it meanwhile takes a lock nobody else wants,
        and finds the end finished."""
        if self.service.store.is_sqlite:
            with contextlib.suppress(OSError):
                self._lock_file(job_id).unlink()

    async def end(self, job: Job, state: JobState, reason: str) -> Job | None:
        """End ``job`` (None when another process or task already does or did)."""
        lock = self._lock(job.id)
        if not await lock.acquire(timeout=0):
            return None
        finished = False
        try:
            intent = self._claim(job, state, reason)
            if intent is None:
                return None
            testpoints.reached("end-claimed")
            finished = await self._finish(job, intent, resumed=False)
        finally:
            lock.release()
        if finished:
            self._forget_lock(job.id)
        self.service.events.publish(JobEnded(job=job.id, user=job.user, reason=reason))
        with self.service.store.read() as tx:
            return tx.job(job.id)

    async def resume(self, intent: Intent) -> None:
        """Go on with an end its process left unfinished (unless that process still works on it)."""
        assert intent.kind == END and intent.job is not None
        lock = self._lock(intent.job)
        if not await lock.acquire(timeout=0):
            return  # its process lives
        finished = True
        try:
            with self.service.store.read() as tx:
                still = tx.intents(intent.id)
                job = tx.job(intent.job)
            if still and job is not None:
                finished = await self._finish(job, still[0], resumed=True)
            elif still:  # the job is gone from the store: nothing to put back
                with self.service.store.write() as tx:
                    tx.close_intent(intent.id)
        finally:
            lock.release()
        if finished:
            self._forget_lock(intent.job)

    def _claim(self, job: Job, state: JobState, reason: str) -> Intent | None:
        """End the job in the store and journal its end, in one transaction; None if it had already ended."""
        svc = self.service
        now = svc.clock()
        with svc.store.write() as tx:
            fresh = tx.job(job.id)
            if fresh is None or not fresh.running:
                return None
            tx.end_job(job.id, state, now)
            tx.audit("kavlan", "job.end", job=job.id, reason=reason)
            for v in job.vlans:
                tx.set_dhcp(v.site, v.vlan, "off", "kavlan", now, detail=f"job {job.id} ended")
            intent_id = tx.open_intent(END, "kavlan", DEFAULT, job.id, (), at=now, owner=svc.owner)
        return Intent(intent_id, END, "kavlan", DEFAULT, job.id, now, svc.owner)

    async def _finish(self, job: Job, intent: Intent, *, resumed: bool) -> bool:
        """Put back what the job leaves outside DEFAULT, stop its VLANs' DHCP; close its end once nothing is left
        (else it waits for a later command). Whether it finished."""
        svc = self.service
        await self._after_moves_into(job)
        outside = self._outside(job)
        seeing = await self._bring_home(job, intent, outside) if outside else []
        await self._see_left_home(job, intent, seeing)
        await self._stop_dhcp(job)  # the job is over, whether its nodes are all back yet or not
        left = self._left(job)
        if left:
            if not svc._stop:  # a stopped command leaves it to the next one at once; a failure waits a while
                self._defer(intent, left, resumed)
            return False
        with svc.store.write() as tx:
            tx.close_intent(intent.id)
            if resumed:
                tx.audit("kavlan", "job.end.resumed", job=job.id, left_by=intent.owner)
        if resumed:
            svc.events.publish(
                IntentSettled(
                    intent=intent.id, kind=END, what=intent.describe(), outcome="finished", owner=intent.owner
                )
            )
        return True

    async def _bring_home(self, job: Job, intent: Intent, outside: dict[str, int]) -> list[str]:
        """Put back the NICs left outside DEFAULT; real nodes restart their network into DEFAULT around the ports'
        move, as a staged move does, journaled in the end's intent until each is seen home (or marked), so that an
        end resumed after a crash still sees them. The real nodes it saw to (in-DEFAULT names)."""
        svc = self.service
        home = await homing.queue(svc, outside, self._restart())
        if home is not None:
            self._journal_home(intent, home)
        report = await svc._finish_even_if_cancelled(
            svc._move(list(outside), DEFAULT, user="kavlan", rights=None, keep=lambda m: self._of_job(job, m))
        )
        if not report.ok:
            failed = [(r.name, r.message) for r in report.failed]
            with contextlib.suppress(KavlanError), svc.store.write() as tx:
                tx.audit("kavlan", "job.end.failed", job=job.id, failed=failed)
        testpoints.reached("end-switched")
        if home is None:
            return []
        seen = await self._see_home(job, home, report)
        self._seen_home(intent, seen)
        return seen

    def _journal_home(self, intent: Intent, home: StagedMove) -> None:
        """The nodes whose return the end is to see, in its intent (those not there from an earlier attempt)."""
        known = {p.node for p in intent.ports}
        ports = []
        for name in home.order:
            ref = self.service.inventory.resolve(name)
            if ref.node.name not in known:
                ports.append(IntentPort(ref.nic.switch, ref.nic.port, ref.node.name, ref.nic.name, -1, -1))
        with self.service.store.write() as tx:
            tx.add_intent_ports(intent.id, ports)

    def _seen_home(self, intent: Intent, names: list[str]) -> None:
        """These nodes answer in DEFAULT, or are marked unavailable: nothing left to see for them."""
        by_switch: dict[str, dict[str, int | None]] = {}
        for name in names:
            nic = self.service.inventory.resolve(name).nic
            by_switch.setdefault(nic.switch, {})[nic.port] = None
        with self.service.store.write() as tx:
            for switch, ports in by_switch.items():
                tx.intent_outcome(intent.id, switch, APPLIED, ports)

    async def _see_left_home(self, job: Job, intent: Intent, seen: list[str]) -> None:
        """An end resumed after its process died once the ports were back: the nodes it had not yet seen home are
        checked in DEFAULT (their restarts were queued when it began), given the console, or marked."""
        svc = self.service
        with svc.store.read() as tx:
            still = tx.intents(intent.id)
        # seen now, or still outside DEFAULT (their port did not go back: a later attempt queues them again)
        done = {svc.inventory.resolve(n).node.name for n in [*seen, *self._outside(job)]}
        nodes = svc.inventory.nodes
        names = [
            svc.inventory.hostname(NicRef(nodes[p.node], nodes[p.node].primary_nic), DEFAULT)
            for p in (still[0].ports if still else ())
            if p.state == PLANNED and p.node not in done and p.node in nodes
        ]
        if not names:
            return
        home = homing.resumed(svc, names, self._restart(), intent.created)
        lost = await homing.see_home(home, names)
        self._mark_lost(job, home, lost)
        self._seen_home(intent, names)

    def _restart(self) -> Restart:
        settings = self.service.settings
        return homing.restart_for_end(settings.restart_command, settings.verify_timeout)

    async def _see_home(self, job: Job, home: StagedMove, report: MoveReport) -> list[str]:
        """Wait for the real nodes whose port went back to answer in DEFAULT; mark those that answer nowhere
        unavailable, with the reason, so that no new job is handed them. The nodes seen to (their port home)."""
        svc = self.service
        names = {svc.inventory.resolve(r.name).node.name for r in report.results if r.new_vlan == DEFAULT}
        ports_home = [n for n in home.order if svc.inventory.resolve(n).node.name in names]
        lost = await homing.see_home(home, ports_home)
        self._mark_lost(job, home, lost)
        return ports_home

    def _mark_lost(self, job: Job, home: StagedMove, lost: list[str]) -> None:
        """The nodes that answer nowhere: unavailable to new jobs, with the reason, until an administrator clears
        them."""
        svc = self.service
        now = svc.clock()
        with contextlib.suppress(KavlanError), svc.store.write() as tx:
            for name in lost:
                node = svc.inventory.resolve(name).node.name
                why = f"not back after the end of job {job.id}: {home.outcomes[name].message}"
                tx.mark_unavailable(node, why, now, job.id)
                tx.audit("kavlan", "node.unavailable", node=node, job=job.id, reason=why)
        for name in lost:
            node = svc.inventory.resolve(name).node.name
            svc.events.publish(NodeUnavailable(node=node, reason=home.outcomes[name].message))

    async def _after_moves_into(self, job: Job) -> None:
        """Wait for the moves into the job's VLANs that are under way (they record, or find the job ended and put
        their ports back), and settle those a dead process left: what to put back is read after them."""
        svc = self.service
        for _round in range(3):  # bounded: a new move into an ended job's VLAN is refused at its start
            with svc.store.read() as tx:
                moves = [i for i in tx.intents() if i.kind == MOVE and i.job == job.id]
            if not moves:
                return
            for intent in moves:
                await svc.switches.wait_for(intent.switches)
                await svc.recovery.settle_move(intent)

    def _left(self, job: Job) -> str:
        """What still keeps the end open: NICs outside DEFAULT, or an unfinished move into one of its VLANs."""
        back = self._to_put_back(job)
        if back:
            more = f" and {len(back) - 3} more" if len(back) > 3 else ""
            return f"{', '.join(back[:3])}{more} not back in DEFAULT"
        with self.service.store.read() as tx:
            moves = [i for i in tx.intents() if i.kind == MOVE and i.job == job.id]
        if moves:
            return f"the unfinished {moves[0].describe()} is not settled"
        return ""

    def _defer(self, intent: Intent, left: str, resumed: bool) -> None:
        svc = self.service
        now = svc.clock()
        with svc.store.write() as tx:
            tx.defer_intent(intent.id, now + retry_delay(intent.attempts), left)
        if resumed:
            svc.events.publish(
                IntentSettled(
                    intent=intent.id,
                    kind=END,
                    what=intent.describe(),
                    outcome=f"not settled: {left}",
                    owner=intent.owner,
                )
            )

    async def _stop_dhcp(self, job: Job) -> None:
        svc = self.service
        for v in job.vlans:
            with contextlib.suppress(KavlanError):
                await svc.dhcp_servers.stop(v.site, v.vlan)
            svc.events.publish(DhcpChanged(site=v.site, vlan=v.vlan, state="off"))

    def _to_put_back(self, job: Job) -> list[str]:
        return list(self._outside(job))

    def _outside(self, job: Job) -> dict[str, int]:
        """The NICs an ended job leaves outside DEFAULT, as the store records them (in-DEFAULT name -> the VLAN it
        is in): its nodes', and any in one of its VLANs."""
        svc = self.service
        with svc.store.read() as tx:
            current = tx.nic_vlans()
        job_vlans = {(v.site, v.vlan) for v in job.vlans}
        back: dict[str, int] = {}
        for (node, nic), vid in current.items():
            n = svc.inventory.nodes.get(node)
            if n is None or vid == DEFAULT:
                continue
            if node in job.nodes or (svc._owner(n.site, vid), vid) in job_vlans:
                ref = NicRef(n, n.nic(nic) or n.primary_nic)
                back[svc.inventory.hostname(ref, DEFAULT)] = vid
        return back

    def _of_job(self, job: Job, move: PortMove) -> bool:
        """Whether a port, as the switch holds it under the move's lock, is still the job's to put back: a node of
        the job, or a port in one of its VLANs (another move may have taken it elsewhere meanwhile)."""
        if move.ref.node.name in job.nodes:
            return True
        vid = move.old_vlan
        site = move.ref.node.site
        return vid is not None and (self.service._owner(site, vid), vid) in {
            (v.site, v.vlan) for v in job.vlans
        }
