"""The staged move: schedule each node's network restart with ``at``, switch the ports, verify every node from its new VLAN."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import BadInput, KavlanError
from ..events import SafeguardStep
from ..model import DEFAULT, vlan_label
from ..reports import NodeOutcome, Outcome, StagedReport
from .ssh import RunResult, Target

if TYPE_CHECKING:
    from ..interface import Service

# The tutorial's recipe, automated: every node must be reachable where it is now and have `at`; the restart is
# queued with `at now` behind a `sleep`, which gives second precision (at itself counts in minutes); the ports
# are switched before it fires; then each node must answer over SSH from its new VLAN (through the gateway for a
# local VLAN) with an address in the new subnet. A node that does not come back can have its port put back.

PROBE = "command -v at >/dev/null 2>&1 && echo at-ok || echo at-missing"
ADDRESSES = "ip -4 -o addr show scope global 2>/dev/null || hostname -I"


@dataclass(frozen=True, slots=True)
class Restart:
    """How the nodes' network restarts, and how long they have to come back."""

    delay: int
    """Seconds from the scheduling to the restart: the ports must switch before it fires."""
    command: str
    verify_timeout: float
    poll_interval: float = 0.25
    attempt_timeout: float = 2.0


@dataclass(slots=True)
class StagedMove:
    """A staged move under way: what every stage reads, and the report every stage writes into."""

    service: Service
    vlan: int
    user: str
    restart: Restart
    report: StagedReport
    outcomes: dict[str, NodeOutcome]
    """Every node the user named, by name."""
    order: list[str] = field(default_factory=list)
    """The nodes whose port moves, in the user's order."""
    here: dict[str, Target] = field(default_factory=dict)
    """Where each of them is reached before the move."""
    started: float = field(default_factory=time.monotonic)
    scheduled_at: float = 0.0

    def now(self) -> float:
        """Seconds since the start, as the nodes' timings count them."""
        return round(time.monotonic() - self.started, 3)

    def publish(self, stage: str, nodes: int, detail: str = "") -> None:
        self.service.events.publish(SafeguardStep(stage=stage, nodes=nodes, detail=detail))

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record how long ``stage`` took in the report."""
        t0 = time.monotonic()
        yield
        self.report.stages[stage] = time.monotonic() - t0

    def mark(self, name: str, status: Outcome, message: str) -> None:
        self.outcomes[name].status, self.outcomes[name].message = status, message

    def hold_back(self, failed: Sequence[str], why: str) -> None:
        """Every moving node but ``failed`` stays as it was, for ``why``."""
        for name in self.order:
            if name not in failed:
                self.mark(name, Outcome.UNCHANGED, why)

    def finish(self) -> StagedReport:
        self.report.seconds = self.now()
        return self.report


async def staged_move(
    service: Service,
    names: Sequence[str],
    vlan: int,
    *,
    user: str,
    delay: int,
    command: str,
    verify_timeout: float,
    rollback: bool = False,
    poll_interval: float = 0.25,
    attempt_timeout: float = 2.0,
) -> StagedReport:
    """Move the nodes' ports to ``vlan`` behind a scheduled network restart, and check every node came back.

    Stages, each a function of its own: prepare (rights and the plan), preflight, schedule, switch, verify,
    (roll back). Up to the switch, a stage that fails for any node stops the move before any port changes, and
    returns False; after the switch, each node is verified on its own.
    """
    if delay < 2:
        raise BadInput("the restart delay must be at least 2 seconds: the ports must switch before it fires")
    restart = Restart(delay, command, verify_timeout, poll_interval, attempt_timeout)
    move = await prepare(service, names, vlan, user=user, restart=restart)
    if move.order and await preflight(move) and await schedule(move):
        moved = await switch(move)
        not_back = await verify(move, moved)
        if not_back and rollback:
            await roll_back(move, not_back)
    return move.finish()


async def prepare(
    service: Service, names: Sequence[str], vlan: int, *, user: str, restart: Restart
) -> StagedMove:
    """Rights and the plan, exactly as a plain move checks them: refused before anything changes. Nodes already
    in ``vlan`` are unchanged; the others are the move's order."""
    started = time.monotonic()
    port_plan = await service.plan(names, vlan, user=user)
    refs = service.resolve(names)
    current = dict(await service.vlan_of([name for _ref, name in refs]))
    outcomes = {
        name: NodeOutcome(name, old_vlan=current.get(name, DEFAULT), new_vlan=vlan) for _ref, name in refs
    }
    move = StagedMove(service, vlan, user, restart, StagedReport(vlan=vlan), outcomes, started=started)
    move.report.nodes = list(outcomes.values())
    moving = {m.name for sp in port_plan.switches for m in sp.moves}
    for name in outcomes:
        if name not in moving:
            move.mark(name, Outcome.UNCHANGED, f"already in VLAN {vlan_label(vlan)}")
    move.order = [name for _ref, name in refs if name in moving]
    move.here = {name: service.ssh_target(name, current[name]) for name in move.order}
    return move


async def preflight(move: StagedMove) -> bool:
    """Every moving node answers where it is now, and has ``at``; else none moves."""
    move.publish("preflight", len(move.order))
    with move.timed("preflight"):
        results = await move.service.run_targets([move.here[n] for n in move.order], PROBE)
    bad: list[str] = []
    for name, res in zip(move.order, results, strict=True):
        move.outcomes[name].timings["preflight"] = move.now()
        if not res.ok or "at-ok" not in res.stdout:
            move.mark(name, Outcome.FAILURE, f"preflight: {_preflight_failure(res)}")
            bad.append(name)
    if bad:
        move.hold_back(bad, "not moved: another node failed the preflight")
    return not bad


async def schedule(move: StagedMove) -> bool:
    """Queue the network restart on every moving node; if any node refuses, cancel the others' and move none."""
    restart = move.restart
    move.publish("schedule", len(move.order), f"{restart.command!r} in {restart.delay} s")
    job = f"sleep {int(restart.delay)}; {restart.command}"
    with move.timed("schedule"):
        results = await move.service.run_targets(
            [move.here[n] for n in move.order], f"echo {shlex.quote(job)} | at now 2>&1"
        )
    move.scheduled_at = time.monotonic()
    failed: list[str] = []
    for name, res in zip(move.order, results, strict=True):
        outcome = move.outcomes[name]
        outcome.timings["scheduled"] = move.now()
        outcome.at_job = _at_job(res.stdout)
        if not res.ok or not outcome.at_job:
            move.mark(
                name,
                Outcome.FAILURE,
                f"could not schedule the restart: {res.error or res.stdout.strip()[:200]}",
            )
            failed.append(name)
    if failed:
        await _cancel(move, [n for n in move.order if n not in failed])
        move.hold_back(failed, "not moved: scheduling failed on another node")
    return not failed


async def switch(move: StagedMove) -> list[str]:
    """Move the ports before the restart fires; returns the nodes whose port moved. The others' restarts are
    cancelled: their network must not restart for nothing."""
    move.publish("switch", len(move.order))
    with move.timed("switch"):
        report = await move.service.set_vlan(move.order, move.vlan, user=move.user)
    move.report.move = report
    if time.monotonic() - move.scheduled_at > move.restart.delay:
        move.publish("warning", len(move.order), "the switch took longer than the restart delay")
    moved: list[str] = []
    not_moved: list[str] = []
    for r in report.results:
        move.outcomes[r.name].timings["switched"] = move.now()
        if r.status == Outcome.SUCCESS:
            moved.append(r.name)
        else:
            not_moved.append(r.name)
            status = Outcome.FAILURE if r.status == Outcome.FAILURE else Outcome.UNCHANGED
            move.mark(r.name, status, f"switch: {r.message}")
    if not_moved:
        # a restart in place is harmless, but cancelling keeps them as they were
        await _cancel(move, not_moved)
    return moved


async def verify(move: StagedMove, moved: Sequence[str]) -> list[str]:
    """Wait for the restart, then for each moved node to answer from its new VLAN with an address in its
    subnet; returns the nodes that did not come back in time."""
    restart = move.restart
    move.publish("verify", len(moved), f"restart in {_until_restart(move):.0f} s")
    with move.timed("verify"):
        first = move.service.resolve([move.order[0]])[0][0]
        subnet = move.service.inventory.vlan(first.node.site, move.vlan).subnet
        there = {name: move.service.ssh_target(name, move.vlan) for name in moved}
        await asyncio.sleep(_until_restart(move))
        pending, last = await _wait_until_back(move, there, subnet)
    for name in pending:
        move.outcomes[name].status = Outcome.FAILURE
        move.outcomes[name].message = (
            f"did not come back in VLAN {vlan_label(move.vlan)} within {restart.verify_timeout:g} s: "
            f"{last.get(name, '')}"
        )
    return pending


async def roll_back(move: StagedMove, not_back: Sequence[str]) -> None:
    """Put the ports of the nodes that did not come back into the VLAN each came from."""
    move.publish("rollback", len(not_back))
    by_old: dict[int, list[str]] = {}
    for name in not_back:
        by_old.setdefault(move.outcomes[name].old_vlan or DEFAULT, []).append(name)
    for old, group in by_old.items():
        back = await move.service.set_vlan(group, old, user=move.user)
        for r in back.results:
            if r.status == Outcome.SUCCESS:
                move.outcomes[r.name].status = Outcome.ROLLED_BACK
                move.outcomes[r.name].message += f"; its port is back in VLAN {vlan_label(old)}"


# --- the stages' parts --------------------------------------------------------------------------------------


def _preflight_failure(res: RunResult) -> str:
    if res.error:
        return res.error
    if "at-missing" in res.stdout:
        return "at is not installed (apt-get install at)"
    return f"the probe failed: {(res.stderr or res.stdout).strip()[:200]}"


def _until_restart(move: StagedMove) -> float:
    return max(0.0, move.restart.delay - (time.monotonic() - move.scheduled_at))


async def _wait_until_back(
    move: StagedMove, there: dict[str, Target], subnet: ipaddress.IPv4Network
) -> tuple[list[str], dict[str, str]]:
    """Ask the moved nodes (reached ``there``) for their addresses until each has one in ``subnet`` or the time
    is up; returns the nodes still away and, for each, the last reason."""
    restart = move.restart
    deadline = time.monotonic() + restart.verify_timeout
    pending = list(there)
    last: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        results = await move.service.run_targets(
            [there[n] for n in pending],
            ADDRESSES,
            per_host_timeout=max(0.5, min(restart.attempt_timeout, deadline - time.monotonic())),
        )
        still = []
        for name, res in zip(pending, results, strict=True):
            if res.ok and any(a in subnet for a in _addresses(res.stdout)):
                move.outcomes[name].status = Outcome.SUCCESS
                move.outcomes[name].timings["back"] = move.now()
                move.publish("back", 1, name)
            else:
                still.append(name)
                last[name] = res.error or f"no address in {subnet} yet"
        pending = still
        if pending:
            await asyncio.sleep(min(restart.poll_interval, max(0.0, deadline - time.monotonic())))
    return pending, last


async def _cancel(move: StagedMove, names: Sequence[str]) -> None:
    """Remove the queued restart of ``names`` (best effort: a node that cannot be reached keeps its at job)."""
    jobs = [(n, move.outcomes[n].at_job) for n in names if move.outcomes[n].at_job]
    if not jobs:
        return
    results: list[RunResult] = []
    try:
        for name, job in jobs:  # one atrm per node (each node has its own job number)
            results += await move.service.run_targets([move.here[name]], f"atrm {shlex.quote(job)}")
    except KavlanError:
        return
    for (name, _job), res in zip(jobs, results, strict=False):
        if res.ok:
            move.outcomes[name].at_job = ""


def _at_job(text: str) -> str:
    # at prints "job 12 at Thu Nov 26 11:30:00 2026" (on stderr, merged)
    for word_pair in (line.split() for line in text.splitlines()):
        if len(word_pair) >= 2 and word_pair[0] == "job" and word_pair[1].isdigit():
            return word_pair[1]
    return ""


def _addresses(text: str) -> list[ipaddress.IPv4Address]:
    out = []
    for token in text.replace("/", " ").split():
        try:
            out.append(ipaddress.IPv4Address(token))
        except ValueError:
            continue
    return out
