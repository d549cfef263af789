"""A move's two writes around its switches: its intent, journaled before the first switch is touched (with each
switch's outcome as it completes), and its record, which deletes the intent in the transaction that records what
the switches were read back holding, if the move may still stand then.

That last check is what serializes a job's end with the moves into its VLANs: both take the store's write lock, so
either the move records first (and the end, claimed after, puts its NICs back), or the end is claimed first and the
move finds the job ended and puts its ports back before it reports. When the database cannot record a move whose
switches changed, the ports are put back too; if that fails as well, the intent stays for the next command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .authz import Rights
from .errors import StoreError
from .journal import APPLIED, FAILED, MOVE, Intent, ports_of
from .model import DEFAULT, vlan_label
from .moves import SwitchOutcome, roll_back, verdicts, withdrawn
from .reports import MoveReport, NodeResult, Outcome, Plan
from .switches import Held

if TYPE_CHECKING:
    from .service import KavlanService
    from .store import Tx  # SQLAlchemy's: loaded when the store first writes

SYSTEM = "kavlan"
"""The user a job's end acts as."""


class Recorder:
    """The journal and the record of a service's moves."""

    def __init__(self, service: KavlanService) -> None:
        self.service = service

    def open(self, user: str, plan: Plan) -> Intent:
        """Journal a move's intent, with the job that holds its VLAN now; a fault of the database raises here,
        before any switch is touched."""
        svc = self.service
        now = svc.clock()
        ports = ports_of(plan)
        first = plan.switches[0].moves[0].ref.node.site
        with svc.store.write() as tx:
            job = None
            if plan.vlan != DEFAULT:
                job = tx.held_vlans().get((svc._owner(first, plan.vlan), plan.vlan))
            intent_id = tx.open_intent(MOVE, user, plan.vlan, job, ports, at=now, owner=svc.owner)
        return Intent(intent_id, MOVE, user, plan.vlan, job, now, svc.owner, ports=tuple(ports))

    def journal(self, intent: Intent) -> Callable[[SwitchOutcome], None]:
        """What records each switch's outcome as it completes (a failing database does not stop the move: its
        record will fail, and say so)."""

        def done(outcome: SwitchOutcome) -> None:
            tags = {m.change.port: outcome.tag_of(m.change.port) for m in outcome.plan.moves}
            state = FAILED if outcome.error is not None else APPLIED
            with contextlib.suppress(StoreError), self.service.store.write() as tx:
                tx.intent_outcome(intent.id, outcome.switch, state, tags)

        return done

    async def record(
        self,
        intent: Intent,
        plan: Plan,
        outcomes: Sequence[SwitchOutcome],
        rights: Rights | None,
        held: Held,
        report: MoveReport,
    ) -> None:
        """Record the move and delete its intent in one transaction, if it may still stand; else put its ports back.
        Every moved NIC's outcome goes into ``report``."""
        svc = self.service
        results, at = verdicts(outcomes, svc._vlan_on)
        there = {ref.key: plan.vlan for ref, _ in plan.unchanged}
        moved_in = any(v == plan.vlan for v in at.values())
        try:
            held.check()
        except StoreError as lost:  # another process may hold the switches now: recovery settles it, not us
            report.results += _unsettled(
                results, f"{lost}; the next kavlan command completes or rolls back the move"
            )
            return
        why = ""
        try:
            with svc.store.write() as tx:
                why = self.withdrawal(tx, intent, rights) if moved_in else ""
                if not why:
                    tx.set_nic_vlans({**there, **at}, svc.clock())
                    tx.close_intent(intent.id)
                    done = MoveReport(report.vlan, report.results + results)
                    tx.audit(intent.user, "vlan.set", vlan=report.vlan, **_summary(done))
        except StoreError as fault:
            why = f"the move could not be recorded: {fault}"
        if not why:
            report.results += results
            return
        await self._withdraw(intent, outcomes, why, report)

    async def _withdraw(
        self, intent: Intent, outcomes: Sequence[SwitchOutcome], why: str, report: MoveReport
    ) -> None:
        """Put back every port the move changed, record where they are, and report each as a failure saying why."""
        svc = self.service
        await roll_back(svc.switches, outcomes, svc.events.publish)
        results, at = withdrawn(outcomes, svc._vlan_on, why)
        report.results += results
        if any(r.new_vlan is None or r.new_vlan == report.vlan != r.old_vlan for r in results):
            return  # a port could not be put back: the intent stays, for the next command to settle
        with contextlib.suppress(StoreError), svc.store.write() as tx:
            tx.set_nic_vlans(at, svc.clock())
            tx.close_intent(intent.id)
            tx.audit(intent.user, "vlan.withdrawn", vlan=report.vlan, why=why, **_summary(report))

    def withdrawal(self, tx: Tx, intent: Intent, rights: Rights | None) -> str:
        """Why a move may not stand any more, checked under the write lock that would record it: the job that
        held its VLAN has ended, or its user may no longer move those nodes; "" if it may. ``rights`` None: the
        system's own move (a job's end, a repair). A move into DEFAULT always stands: putting it back could only
        return ports to where a job may have ended."""
        vlan = intent.vlan
        if vlan == DEFAULT:
            return ""
        if intent.job is not None:
            if not tx.job_runs(intent.job):
                return f"job {intent.job}, which held VLAN {vlan_label(vlan)}, ended during the move"
        elif rights is None or not rights.admin:
            return f"VLAN {vlan_label(vlan)} is held by no running job"
        if rights is not None and not rights.admin:
            nodes = sorted({p.node for p in intent.ports})
            still = tx.nodes_in_running_jobs(intent.user, nodes)
            for node in nodes:
                if node not in still:
                    return f"{node} is not in a running job of {intent.user} any more"
        return ""

    def rights_of(self, tx: Tx, user: str) -> Rights | None:
        """The rights an intent's user has now (None: the system's own move)."""
        if user == SYSTEM:
            return None
        return Rights.of(user, tx.jobs(user=user, running=True), self.service.settings.admins)


def _unsettled(results: Sequence[NodeResult], why: str) -> list[NodeResult]:
    """A move whose record could not even be attempted: each NIC a failure, wherever its port is."""
    return [
        NodeResult(r.name, Outcome.FAILURE, why, r.switch, r.port, r.old_vlan, r.new_vlan)
        if r.status != Outcome.UNCHANGED
        else r
        for r in results
    ]


def _summary(report: MoveReport) -> dict[str, object]:
    return {"result": report.counts(), "failed": [[r.name, r.message] for r in report.failed][:50]}
