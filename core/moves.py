"""A move's steps on the switches, between its plan and its record: read the ports, apply the plan (one batch per
switch, switches concurrently) and read it back, roll back the switches it changed when any part failed; and the
per-node verdicts, a pure function of what was read back.

Each step is a function of its own taking what the previous one returned, so that a step can go between two
(the service calls them in order: see ``KavlanService._move``). The caller holds the switches' locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import testpoints
from .drivers.base import PortChange, PortState, SwitchError
from .events import Event, SwitchFinished, SwitchStarted
from .inventory import NicRef
from .model import vlan_label
from .reports import NodeResult, Outcome, Plan, PortMove, SwitchPlan, SwitchTiming
from .switches import SwitchPool

Publish = Callable[[Event], None]
Stopped = Callable[[], str]
"""Why the move was asked to stop (a signal), or "": a switch not started by then is not started at all."""
NicKey = tuple[str, str]
"""A NIC as the store keys it: (node, nic)."""
VlanOf = Callable[[str, int | None], int | None]
"""The VLAN a tag stands for on a switch (None: no tag, or one no VLAN has)."""


class NotStarted(SwitchError):
    """A switch of a move that was asked to stop before this switch began: its ports were not touched."""


@dataclass(slots=True)
class SwitchOutcome:
    """How one switch's part of a move went: what its ports hold after it (read back), its error, its timing."""

    plan: SwitchPlan
    after: dict[str, PortState] | None
    """The ports as read back after the write (and after the rollback, when there was one); None: unreadable."""
    error: SwitchError | None
    timing: SwitchTiming

    @property
    def switch(self) -> str:
        return self.plan.switch

    def tag_of(self, port: str) -> int | None:
        """The tag a port was read back with; None when it could not be read."""
        if self.after is None or port not in self.after:
            return None
        return self.after[port].tag


# --- read ----------------------------------------------------------------------------------------------------


async def read_switches(
    pool: SwitchPool, targets: Mapping[str, Sequence[tuple[NicRef, str]]]
) -> dict[str, dict[str, PortState] | SwitchError]:
    """The planning read: the ports of each switch in one batched read, switches concurrently; a switch that
    fails gives its error instead."""
    sem = pool.bound()

    async def read(switch: str) -> dict[str, PortState] | SwitchError:
        async with sem:
            try:
                return await pool.read_ports(switch, [ref.nic.port for ref, _ in targets[switch]])
            except SwitchError as exc:
                return exc

    return dict(zip(targets, await asyncio.gather(*(read(s) for s in targets)), strict=True))


# --- apply and read back ---------------------------------------------------------------------------------------


async def apply_plan(
    pool: SwitchPool,
    plan: Plan,
    publish: Publish,
    *,
    done: Callable[[SwitchOutcome], None] | None = None,
    stopped: Stopped | None = None,
) -> list[SwitchOutcome]:
    """Apply each switch's part of the plan in one batch, switches concurrently, and read each back; a write
    the switch acknowledged but did not make is caught there. ``done`` hears of each switch as it completes (the
    journal records it); a switch that has not begun when ``stopped`` says why is not begun at all. Switches
    finish (events) in the plan's order."""
    sem = pool.bound()
    outcomes = await asyncio.gather(
        *(_apply_switch(pool, sp, plan.vlan, sem, publish, done, stopped) for sp in plan.switches)
    )
    for outcome in outcomes:
        timing = outcome.timing
        publish(
            SwitchFinished(switch=timing.switch, ok=timing.ok, seconds=timing.seconds, error=timing.error)
        )
    return outcomes


async def _apply_switch(
    pool: SwitchPool,
    sp: SwitchPlan,
    vlan: int,
    sem: asyncio.Semaphore,
    publish: Publish,
    done: Callable[[SwitchOutcome], None] | None,
    stopped: Stopped | None,
) -> SwitchOutcome:
    """One switch: make sure the VLAN exists, apply the batch (retried), read the ports back."""
    t0 = time.perf_counter()
    publish(SwitchStarted(switch=sp.switch, ports=len(sp.moves)))
    async with sem:
        why = stopped() if stopped is not None else ""
        if why:
            outcome = _not_started(sp, why)
        else:
            error, tries = await _apply_batch(pool, sp, vlan)
            testpoints.reached(f"after-apply:{sp.switch}")
            after: dict[str, PortState] | None = None
            try:
                after = await pool.read_ports(sp.switch, [m.change.port for m in sp.moves])
            except SwitchError as exc:
                error = error or exc
            if error is None and after is not None:
                error = read_back_error(sp, after)  # acknowledged, not made
            reason = error.reason if error else ""
            seconds = time.perf_counter() - t0
            timing = SwitchTiming(sp.switch, len(sp.moves), seconds, error is None, reason, max(tries, 1))
            outcome = SwitchOutcome(sp, after, error, timing)
            testpoints.reached(f"after-readback:{sp.switch}")
    if done is not None:
        done(outcome)
    return outcome


async def _apply_batch(pool: SwitchPool, sp: SwitchPlan, vlan: int) -> tuple[SwitchError | None, int]:
    """The switch's batch (its VLAN made first if it needs that), retried; its error, and the tries it took."""
    drv = pool.driver(sp.switch)
    try:
        await drv.ensure_vlan(sp.moves[0].change.new_tag, f"kavlan-{vlan_label(vlan)}")
        _, tries = await pool.retry(lambda: drv.apply(sp.changes))
    except SwitchError as exc:
        return exc, 0
    except Exception as exc:  # a driver bug must not leave other switches changed
        return SwitchError(sp.switch, f"driver error: {exc!r}"), 0
    return None, tries


def _not_started(sp: SwitchPlan, why: str) -> SwitchOutcome:
    """A switch the move did not begin: its ports are as the move read them."""
    after = {m.change.port: PortState(m.change.old_tag if m.change.old_tag >= 0 else None) for m in sp.moves}
    error = NotStarted(sp.switch, why)
    return SwitchOutcome(sp, after, error, SwitchTiming(sp.switch, len(sp.moves), 0.0, False, error.reason))


def read_back_error(sp: SwitchPlan, after: Mapping[str, PortState]) -> SwitchError | None:
    """The error of a switch that acknowledged a write it did not make: the ports read back elsewhere, or read
    back in a state the driver refuses (the objects that place a port disagree), with the driver's reason."""
    wrong = [
        m.change.port for m in sp.moves if after.get(m.change.port, PortState(None)).tag != m.change.new_tag
    ]
    if not wrong:
        return None
    why = {
        p: after[p].refused or "reads back as a trunk"
        for p in wrong
        if p in after and (after[p].refused or after[p].trunk)
    }
    if why:
        reasons = "; ".join(f"port {p} {reason}" for p, reason in list(why.items())[:5])
        return SwitchError(sp.switch, f"after the write, {reasons} (read-back)", ports=wrong)
    return SwitchError(
        sp.switch,
        f"the switch acknowledged the write but port(s) {', '.join(wrong)} did not change (read-back)",
        ports=wrong,
    )


# --- roll back -------------------------------------------------------------------------------------------------


async def roll_back(pool: SwitchPool, outcomes: Sequence[SwitchOutcome], publish: Publish) -> None:
    """Put back every port the move changed, on every switch, and read them back again (into ``after``)."""
    sem = pool.bound()
    await asyncio.gather(*(_undo_switch(pool, outcome, sem, publish) for outcome in outcomes))


async def _undo_switch(
    pool: SwitchPool, outcome: SwitchOutcome, sem: asyncio.Semaphore, publish: Publish
) -> None:
    sp = outcome.plan
    moved = [
        PortChange(m.change.port, m.change.new_tag, m.change.old_tag)
        for m in sp.moves
        if m.change.old_tag >= 0
        and (outcome.after is None or outcome.tag_of(m.change.port) != m.change.old_tag)
    ]
    if not moved:
        return
    drv = pool.driver(sp.switch)
    t0 = time.perf_counter()
    publish(SwitchStarted(switch=sp.switch, ports=len(moved), action="rollback"))
    ok, err = True, ""
    async with sem:
        try:
            await pool.retry(lambda: drv.apply(moved))
        except SwitchError as exc:
            ok, err = False, exc.reason
        try:
            outcome.after = await pool.read_ports(sp.switch, [m.change.port for m in sp.moves])
        except SwitchError as exc:
            ok, err = False, err or exc.reason
            outcome.after = None
    seconds = time.perf_counter() - t0
    publish(SwitchFinished(switch=sp.switch, ok=ok, seconds=seconds, action="rollback", error=err))


# --- verdicts --------------------------------------------------------------------------------------------------


def verdicts(
    outcomes: Sequence[SwitchOutcome], vlan_of: VlanOf
) -> tuple[list[NodeResult], dict[NicKey, int]]:
    """Every moved NIC's outcome, in the plan's order, and the VLAN each port was read back in: what the store
    may record (a port that could not be read back is not recorded)."""
    errors = {o.switch: o.error for o in outcomes if o.error is not None}
    cause = _cause(list(errors.values()))
    results: list[NodeResult] = []
    held: dict[NicKey, int] = {}
    for outcome in outcomes:
        for move in outcome.plan.moves:
            read_back = vlan_of(outcome.switch, outcome.tag_of(move.change.port))
            if read_back is not None:
                held[move.ref.key] = read_back
            results.append(verdict(move, read_back, errors.get(outcome.switch), bool(errors), cause))
    return results, held


def _cause(errors: Sequence[SwitchError]) -> str:
    """Why a move failed, for the NICs whose own switch did not: each failed switch, and the switches a stop kept
    from beginning."""
    failed = [f"switch {e.switch} failed: {e.reason}" for e in errors if not isinstance(e, NotStarted)]
    kept = [e for e in errors if isinstance(e, NotStarted)]
    if kept:
        names = ", ".join(e.switch for e in kept)
        failed.append(f"{kept[0].reason} before switch{'es' if len(kept) > 1 else ''} {names} began")
    return "; ".join(failed)


def verdict(
    move: PortMove, read_back: int | None, error: SwitchError | None, any_failed: bool, cause: str
) -> NodeResult:
    """One moved NIC's outcome, from the VLAN its port was read back in (after any rollback; None: unreadable),
    its own switch's error, whether any switch of the move failed, and the move's cause of failure (every
    failed switch, for the NICs whose own switch did not fail)."""
    switch, port = move.ref.nic.switch, move.change.port
    if not any_failed:
        return NodeResult(move.name, Outcome.SUCCESS, "", switch, port, move.old_vlan, move.new_vlan)
    reason = error.reason if error else cause
    if read_back is None:
        status, message = Outcome.FAILURE, f"{reason}; the port's VLAN could not be read back"
    elif read_back == move.new_vlan:
        status = Outcome.FAILURE
        message = f"{reason}; rollback failed, the port stays in VLAN {vlan_label(read_back)}"
    elif isinstance(error, NotStarted):
        status, message = Outcome.UNCHANGED, f"not moved: {error.reason} before its switch began"
    elif error is not None and (not error.ports or port in error.ports):
        # this port's own failure: the switch refused it, or did not make it (read-back)
        status, message = Outcome.FAILURE, f"{error.reason} (the port is in VLAN {vlan_label(read_back)})"
    else:
        status, message = Outcome.UNCHANGED, f"rolled back because {cause}"
    return NodeResult(move.name, status, message, switch, port, move.old_vlan, read_back)


def withdrawn(
    outcomes: Sequence[SwitchOutcome], vlan_of: VlanOf, why: str
) -> tuple[list[NodeResult], dict[NicKey, int]]:
    """Every moved NIC's outcome when the move was withdrawn after its switches changed (its job ended meanwhile,
    the database could not record it) and put back: a failure saying why and where the port is now; and the VLAN
    each port was read back in."""
    results: list[NodeResult] = []
    held: dict[NicKey, int] = {}
    for outcome in outcomes:
        for move in outcome.plan.moves:
            read_back = vlan_of(outcome.switch, outcome.tag_of(move.change.port))
            if read_back is not None:
                held[move.ref.key] = read_back
            later = "the next kavlan command completes or rolls back the move"
            if read_back is None:
                where = f"its port could not be read back: {later}"
            elif read_back == move.new_vlan and move.old_vlan != move.new_vlan:
                where = f"putting it back failed, the port stays in VLAN {vlan_label(read_back)}: {later}"
            else:
                where = f"put back: the port is in VLAN {vlan_label(read_back)}"
            switch, port = move.ref.nic.switch, move.change.port
            results.append(
                NodeResult(
                    move.name, Outcome.FAILURE, f"{why}; {where}", switch, port, move.old_vlan, read_back
                )
            )
    return results, held
