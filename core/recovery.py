"""Recovery: the unfinished intents that a killed, stopped or database-less process left, settled by whichever command
runs next (and by the API server, at start and periodically) by the rules of a normal move, each told in the event
stream and the audit log.

A move's intent is settled only by a process that can take every switch it names without waiting: its own process,
alive, holds them from before it wrote the intent until it deleted it (the locks of a dead process die with it).
The ports are read again; the move stands if every port holds its new tag and it is still allowed (the job holding
its VLAN runs, the user may still move those nodes); otherwise every port it changed is put back. A staged move's
ports not confirmed are put back before its undo restart (:mod:`kavlan_core.staged_journal`). A job's end is
resumed by :mod:`kavlan_core.ending`, after the moves (an end waits for the moves into its VLANs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import staged_journal
from .drivers.base import PortChange, PortState, SwitchError
from .errors import KavlanError, SwitchUnavailable
from .events import IntentSettled
from .inventory import NicRef
from .journal import COMPLETED, END, MOVE, ROLLED_BACK, STAGED, Intent, settle
from .moves import SwitchOutcome, roll_back
from .reports import PortMove, SwitchPlan, SwitchTiming
from .switches import Busy

if TYPE_CHECKING:
    from .service import KavlanService

Reads = Mapping[str, dict[str, PortState] | SwitchError]


class Recovery:
    """The unfinished intents of a service's store, and how they are settled."""

    def __init__(self, service: KavlanService) -> None:
        self.service = service

    async def run(self, *, force: bool = False) -> None:
        """Settle every unfinished intent whose process is gone, moves first; one whose last attempt failed waits
        for its retry time, unless ``force`` (an administrator's repair)."""
        svc = self.service
        with svc.store.read() as tx:
            pending = tx.intents()
        now = svc.clock()
        order = {MOVE: 0, STAGED: 1, END: 2}  # a staged move's own port move first; a job's end last
        for intent in sorted(pending, key=lambda i: (order.get(i.kind, 3), i.id)):
            if svc._stop:
                return  # asked to stop: the next command settles the rest
            if intent.retry_at > now and not force:
                continue
            if intent.kind == MOVE:
                await self.settle_move(intent)
            elif intent.kind == STAGED:
                await staged_journal.settle(svc, intent)
            elif intent.kind == END:
                await svc.endings.resume(intent)

    async def settle_move(self, intent: Intent) -> None:
        """Settle an unfinished move whose process is gone (nothing if it lives: it holds its switches)."""
        svc = self.service
        known = [
            s for s in intent.switches if s in svc.inventory.switches
        ]  # the testbed may have changed since
        try:
            async with svc.switches.hold(known, wait=0):
                with svc.store.read() as tx:
                    still = tx.intents(intent.id)
                if still:
                    await self._settle(still[0])
        except Busy:
            return  # its process is alive and holds them
        except SwitchUnavailable as exc:
            self._defer(intent, str(exc))

    async def _settle(self, intent: Intent) -> None:
        """Read the intent's ports, then let its move stand or put it back, record what the switches hold."""
        svc = self.service
        plans = self._plans(intent)
        reads = await self._read(plans)
        unreadable = {s: r for s, r in reads.items() if isinstance(r, SwitchError)}
        if unreadable:
            self._defer(
                intent, "; ".join(f"cannot read switch {s}: {e.reason}" for s, e in unreadable.items())
            )
            return
        states = {s: r for s, r in reads.items() if not isinstance(r, SwitchError)}
        with svc.store.read() as tx:
            allowed = not svc.recorder.withdrawal(tx, intent, svc.recorder.rights_of(tx, intent.user))
        decision = settle(intent, states, allowed)
        outcomes = [
            SwitchOutcome(sp, dict(states[s]), None, SwitchTiming(s, len(sp.moves), 0.0, True))
            for s, sp in plans.items()
        ]
        if not decision.complete:
            undo = [o for o in outcomes if o.switch in decision.undo]
            await roll_back(svc.switches, undo, svc.events.publish)
        self._record(intent, outcomes, decision.complete)

    def _record(self, intent: Intent, outcomes: list[SwitchOutcome], complete: bool) -> None:
        """Record what each port was read back holding; close the intent if every port is where the decision put
        it (a completed move re-checked under the write lock), else try again later."""
        svc = self.service
        held: dict[tuple[str, str], int] = {}
        astray: list[str] = []
        for o in outcomes:
            for m in o.plan.moves:
                tag = o.tag_of(m.change.port)
                vlan = svc._vlan_on(o.switch, tag)
                if vlan is not None:
                    held[m.ref.key] = vlan
                undone = m.change.old_tag < 0 or m.change.old_tag == m.change.new_tag
                if not complete and (o.after is None or tag == m.change.new_tag and not undone):
                    astray.append(f"{o.switch} {m.change.port}")  # could not be put back, or read again
        outcome = COMPLETED if complete else ROLLED_BACK
        with svc.store.write() as tx:
            if complete and svc.recorder.withdrawal(tx, intent, svc.recorder.rights_of(tx, intent.user)):
                astray.append("its job ended while it was settled")  # put back at the next attempt
                held = {}
            tx.set_nic_vlans(held, svc.clock())
            if astray:
                tx.defer_intent(intent.id, svc.clock(), f"{outcome}, except {', '.join(astray[:5])}")
            else:
                tx.close_intent(intent.id)
            tx.audit(
                "kavlan",
                "intent.settled",
                intent=intent.id,
                what=intent.describe(),
                outcome=outcome,
                left_by=intent.owner,
                astray=astray[:50],
            )
        said = f"{outcome}, except {', '.join(astray[:5])}" if astray else outcome
        self._publish(intent, said if not astray else f"not settled: {said}")

    def _plans(self, intent: Intent) -> dict[str, SwitchPlan]:
        """The intent's ports per switch, as a move's plan (the ports of nodes the testbed no longer has left out)."""
        svc = self.service
        plans: dict[str, SwitchPlan] = {}
        for p in intent.ports:
            node = svc.inventory.nodes.get(p.node)
            nic = node.nic(p.nic) if node is not None else None
            if node is None or nic is None or p.switch not in svc.inventory.switches:
                continue
            ref = NicRef(node, nic)
            sp = plans.setdefault(p.switch, SwitchPlan(p.switch, svc.inventory.switches[p.switch].driver))
            change = PortChange(p.port, p.old_tag, p.new_tag)
            old = svc._vlan_on(p.switch, p.old_tag if p.old_tag >= 0 else None)
            sp.moves.append(PortMove(ref, svc.inventory.hostname(ref, 0), old, intent.vlan, change))
        return plans

    async def _read(self, plans: Mapping[str, SwitchPlan]) -> Reads:
        svc = self.service
        sem = svc.switches.bound()

        async def read(sp: SwitchPlan) -> dict[str, PortState] | SwitchError:
            async with sem:
                try:
                    return await svc.switches.read_ports(sp.switch, [m.change.port for m in sp.moves])
                except SwitchError as exc:
                    return exc

        found = await asyncio.gather(*(read(sp) for sp in plans.values()))
        return dict(zip(plans, found, strict=True))

    def _defer(self, intent: Intent, why: str) -> None:
        """It cannot be settled now (a switch does not answer): try again later, and say so."""
        from .ending import retry_delay

        svc = self.service
        with contextlib.suppress(KavlanError), svc.store.write() as tx:
            tx.defer_intent(intent.id, svc.clock() + retry_delay(intent.attempts), why)
            tx.audit("kavlan", "intent.deferred", intent=intent.id, what=intent.describe(), why=why)
        self._publish(intent, f"not settled: {why}")

    def _publish(self, intent: Intent, outcome: str) -> None:
        self.service.events.publish(
            IntentSettled(
                intent=intent.id,
                kind=intent.kind,
                what=intent.describe(),
                outcome=outcome,
                owner=intent.owner,
            )
        )
