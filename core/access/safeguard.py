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

from .. import testpoints
from ..errors import BadInput, KavlanError
from ..events import SafeguardStep
from ..journal import IntentPort
from ..model import DEFAULT, vlan_label
from ..reports import NodeOutcome, Outcome, StagedReport
from .ssh import RunResult, Target, seconds_text

if TYPE_CHECKING:
    from ..interface import Service

# The tutorial's recipe, automated, and made a "commit confirmed" as a router's: every node must be reachable where
# it is now and have `at`; two restarts are queued on it with `at now` behind a `sleep` (second precision; at itself
# counts in minutes): the one that adopts the new VLAN, and an undo restart later, once the verify window and the
# time to put a port back have passed, which runs unless the move is confirmed on the node. The ports are switched
# before the first fires; each node must then answer over SSH from its new VLAN (through the gateway for a local
# VLAN) with an address in the new subnet, and its undo restart is removed there (confirmed). A node that does not
# come back always has its port put back: its undo restart then brings it back where it was, where it is checked.

PROBE = "command -v at >/dev/null 2>&1 && echo at-ok || echo at-missing"
ADDRESSES = "ip -4 -o addr show scope global 2>/dev/null || hostname -I"
UNDO_MARGIN = 15.0
"""Seconds the ports of the nodes not back have to go back before their undo restart fires (a switch's retries)."""


@dataclass(frozen=True, slots=True)
class Restart:
    """How the nodes' network restarts, and how long they have to come back."""

    delay: int
    """Seconds from the scheduling to the restart: the ports must switch before it fires."""
    command: str
    verify_timeout: float
    poll_interval: float = 0.25
    attempt_timeout: float = 2.0
    undo_margin: float = UNDO_MARGIN
    """Seconds after the verify window for the ports of the nodes not back to go back, before their undo restart."""

    @property
    def undo_delay(self) -> int:
        """Seconds from the scheduling to the undo restart."""
        return int(self.delay + self.verify_timeout + self.undo_margin + 0.999)


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
    ports: dict[str, IntentPort] = field(default_factory=dict)
    """Each moving node's port, as the journal records it (the plan's)."""

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
    dhcp_check: bool = True,
    poll_interval: float = 0.25,
    attempt_timeout: float = 2.0,
    undo_margin: float = UNDO_MARGIN,
) -> StagedReport:
    """Move the nodes' ports to ``vlan`` behind a scheduled network restart, and check every node came back.

    Stages, each a function of its own: prepare (rights, the plan, DHCP in the VLAN), preflight, schedule, switch,
    verify (and confirm), bring back. Up to the switch, a stage that fails for any node stops the move before any
    port changes, and returns False; after the switch, each node is verified on its own, and a node that did not
    come back has its port put back, where its undo restart brings it back.
    """
    if delay < 2:
        raise BadInput("the restart delay must be at least 2 seconds: the ports must switch before it fires")
    restart = Restart(delay, command, verify_timeout, poll_interval, attempt_timeout, undo_margin)
    move = await prepare(service, names, vlan, user=user, restart=restart, dhcp_check=dhcp_check)
    if move.order and await preflight(move) and await schedule(move):
        await after_schedule(move)
    return move.finish()


async def after_schedule(move: StagedMove) -> None:
    """Switch, verify, confirm, bring back: journaled (embedded), so that if this process dies on the way, the next
    command puts back the ports not confirmed before their undo restart fires (core/staged_journal.py)."""
    undo_at = move.service.clock() + until(move, move.restart.undo_delay)
    record = await move.service.open_staged(
        [move.ports[n] for n in move.order if n in move.ports], move.vlan, move.user, undo_at
    )
    try:
        moved = await switch(move)
        testpoints.reached("staged-switched")
        not_back = await verify(move, moved)
        back = [n for n in moved if n not in not_back]
        await confirm(move, back)
        if record is not None:
            record.confirmed(
                [move.ports[n] for n in back if not move.outcomes[n].undo_job and n in move.ports]
            )
        if not_back:
            await bring_back(move, not_back)
        if record is not None:
            record.close()
    finally:
        if record is not None:
            record.release()


async def prepare(
    service: Service,
    names: Sequence[str],
    vlan: int,
    *,
    user: str,
    restart: Restart,
    dhcp_check: bool = True,
) -> StagedMove:
    """Rights and the plan, exactly as a plain move checks them, then DHCP in the VLAN (unless the user says they
    need none): refused before anything changes. Nodes already in ``vlan`` are unchanged; the others are the
    move's order."""
    started = time.monotonic()
    port_plan = await service.plan(names, vlan, user=user)
    refs = service.resolve(names)
    current = dict(await service.vlan_of([name for _ref, name in refs]))
    outcomes = {
        name: NodeOutcome(
            name, old_vlan=current.get(name, DEFAULT), new_vlan=vlan, port_vlan=current.get(name)
        )
        for _ref, name in refs
    }
    move = StagedMove(service, vlan, user, restart, StagedReport(vlan=vlan), outcomes, started=started)
    move.report.nodes = list(outcomes.values())
    moving = {m.name for sp in port_plan.switches for m in sp.moves}
    move.ports = {
        m.name: IntentPort(
            sp.switch, m.change.port, m.ref.node.name, m.ref.nic.name, m.change.old_tag, m.change.new_tag
        )
        for sp in port_plan.switches
        for m in sp.moves
    }
    for name in outcomes:
        if name not in moving:
            move.mark(name, Outcome.UNCHANGED, f"already in VLAN {vlan_label(vlan)}")
    move.order = [name for _ref, name in refs if name in moving]
    if dhcp_check and move.order:
        await service.check_dhcp(move.order, vlan)
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
        else:
            move.outcomes[name].answers_in = move.outcomes[name].old_vlan
    if bad:
        move.hold_back(bad, "not moved: another node failed the preflight")
    return not bad


def schedule_command(restart: Restart) -> str:
    """Queue, in one SSH command, the restart that adopts the new VLAN and the undo restart (in that order: at
    prints their job numbers in that order)."""
    adopt = f"sleep {int(restart.delay)}; {restart.command}"
    undo = f"sleep {restart.undo_delay}; {restart.command}"
    return f"echo {shlex.quote(adopt)} | at now 2>&1 && echo {shlex.quote(undo)} | at now 2>&1"


async def schedule(move: StagedMove) -> bool:
    """Queue both restarts on every moving node; if any node refuses, cancel the others' and move none."""
    restart = move.restart
    move.publish(
        "schedule",
        len(move.order),
        f"{restart.command!r} in {restart.delay} s, undone in {restart.undo_delay} s unless confirmed",
    )
    with move.timed("schedule"):
        results = await move.service.run_targets(
            [move.here[n] for n in move.order], schedule_command(restart)
        )
    move.scheduled_at = time.monotonic()
    failed: list[str] = []
    for name, res in zip(move.order, results, strict=True):
        outcome = move.outcomes[name]
        outcome.timings["scheduled"] = move.now()
        jobs = at_jobs(res.stdout)
        outcome.at_job, outcome.undo_job = (jobs + ["", ""])[:2]
        if not res.ok or not outcome.at_job or not outcome.undo_job:
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
        outcome = move.outcomes[r.name]
        outcome.timings["switched"] = move.now()
        outcome.port_vlan = r.new_vlan
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
    if not moved:
        return []
    move.publish("verify", len(moved), f"restart in {until(move, restart.delay):.0f} s")
    with move.timed("verify"):
        there = {name: (move.service.ssh_target(name, move.vlan), move.vlan) for name in moved}
        await asyncio.sleep(until(move, restart.delay))
        pending, last = await wait_until_back(move, there, "back")
    for name in pending:
        move.mark(
            name,
            Outcome.FAILURE,
            f"did not come back in VLAN {vlan_label(move.vlan)} within {seconds_text(restart.verify_timeout)}: "
            f"{last.get(name, '')}",
        )
    return pending


async def confirm(move: StagedMove, back: Sequence[str]) -> None:
    """Confirm the move on the nodes that came back: their undo restart is removed where they now are. A node
    where that fails keeps it: it restarts once more in the new VLAN, which gives it the same address."""
    jobs = {n: move.outcomes[n].undo_job for n in back if move.outcomes[n].undo_job}
    if not jobs:
        return
    move.publish("confirm", len(jobs))
    with move.timed("confirm"):
        done = await _run_each(
            move,
            {n: (move.service.ssh_target(n, move.vlan), f"atrm {shlex.quote(j)}") for n, j in jobs.items()},
        )
    for name, res in done.items():
        if res.ok:
            move.outcomes[name].undo_job = ""
            move.outcomes[name].timings["confirmed"] = move.now()
        else:
            move.outcomes[name].message = (
                f"its undo restart could not be removed ({res.error or res.stderr.strip()[:120]}): it will "
                "restart its network once more, in this VLAN"
            )


async def bring_back(move: StagedMove, not_back: Sequence[str]) -> None:
    """The undo: put the ports of the nodes that did not come back where each came from, let their undo restart
    fire there, and check that each answers there again. The report says where each node is and whether it
    answers."""
    move.publish("rollback", len(not_back))
    with move.timed("rollback"):
        returned = await _put_ports_back(move, not_back)
    if not returned:
        return
    restart = move.restart
    move.publish("undo", len(returned), f"undo restart in {until(move, restart.undo_delay):.0f} s")
    with move.timed("undo"):
        await asyncio.sleep(until(move, restart.undo_delay))
        where = {
            n: (
                move.service.ssh_target(n, move.outcomes[n].port_vlan or DEFAULT),
                move.outcomes[n].port_vlan or DEFAULT,
            )
            for n in returned
        }
        pending, last = await wait_until_back(move, where, "returned")
    for name in returned:
        outcome = move.outcomes[name]
        old = vlan_label(outcome.port_vlan or DEFAULT)
        if name in pending:
            outcome.status = Outcome.FAILURE
            outcome.message += (
                f"; its port is back in VLAN {old}, but it does not answer there: {last.get(name, '')}"
            )
        else:
            outcome.status = Outcome.ROLLED_BACK
            outcome.message += f"; its port is back in VLAN {old}, where it answers again"


async def _put_ports_back(move: StagedMove, not_back: Sequence[str]) -> list[str]:
    """Put each port back into the VLAN its node came from; returns the nodes whose port is back."""
    by_old: dict[int, list[str]] = {}
    for name in not_back:
        by_old.setdefault(move.outcomes[name].old_vlan or DEFAULT, []).append(name)
    returned: list[str] = []
    for old, group in by_old.items():
        back = await move.service.set_vlan(group, old, user=move.user)
        for r in back.results:
            outcome = move.outcomes[r.name]
            outcome.port_vlan = r.new_vlan
            if r.status in (Outcome.SUCCESS, Outcome.UNCHANGED) and r.new_vlan == old:
                returned.append(r.name)
            else:
                outcome.message += (
                    f"; its port could not be put back in VLAN {vlan_label(old)} ({r.message}): it stays "
                    f"in VLAN {vlan_label(move.vlan)}, and its undo restart will run there"
                )
    return returned


# --- the stages' parts --------------------------------------------------------------------------------------


def _preflight_failure(res: RunResult) -> str:
    if res.error:
        return res.error
    if "at-missing" in res.stdout:
        return "at is not installed (apt-get install at)"
    return f"the probe failed: {(res.stderr or res.stdout).strip()[:200]}"


def until(move: StagedMove, delay: float) -> float:
    """Seconds until the restart queued ``delay`` seconds after the scheduling fires (0 once it has)."""
    return max(0.0, delay - (time.monotonic() - move.scheduled_at))


async def wait_until_back(
    move: StagedMove, where: dict[str, tuple[Target, int]], stamp: str
) -> tuple[list[str], dict[str, str]]:
    """Ask each node (reached at its target, in its VLAN) for its addresses until it has one in that VLAN's
    subnet or the time is up; returns the nodes still away and, for each, the last reason. A node seen answering
    gets ``stamp`` in its timings and the VLAN in ``answers_in``."""
    restart = move.restart
    deadline = time.monotonic() + restart.verify_timeout
    pending = list(where)
    last: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        results = await move.service.run_targets(
            [where[n][0] for n in pending],
            ADDRESSES,
            per_host_timeout=max(0.5, min(restart.attempt_timeout, deadline - time.monotonic())),
        )
        still = []
        for name, res in zip(pending, results, strict=True):
            vlan = where[name][1]
            subnet = _subnet(move, name, vlan)
            outcome = move.outcomes[name]
            if res.ok and any(a in subnet for a in _addresses(res.stdout)):
                if stamp == "back":
                    outcome.status = Outcome.SUCCESS
                outcome.answers_in = vlan
                outcome.timings[stamp] = move.now()
                move.publish(stamp, 1, name)
            else:
                still.append(name)
                last[name] = res.error or f"no address in {subnet} yet"
        pending = still
        if pending:
            await asyncio.sleep(min(restart.poll_interval, max(0.0, deadline - time.monotonic())))
    for name in pending:
        move.outcomes[name].answers_in = None
    return pending, last


def _subnet(move: StagedMove, name: str, vlan: int) -> ipaddress.IPv4Network:
    ((ref, _plain),) = move.service.resolve([name])
    return move.service.inventory.vlan(ref.node.site, vlan).subnet


async def _run_each(move: StagedMove, commands: dict[str, tuple[Target, str]]) -> dict[str, RunResult]:
    """A command of its own on each node (each has its own at job numbers), all at once; a node that cannot be
    reached has an error result, never an exception."""

    async def one(target: Target, command: str) -> RunResult:
        try:
            (res,) = await move.service.run_targets([target], command)
        except KavlanError as exc:
            return RunResult(target.host, None, error=str(exc))
        return res

    names = list(commands)
    results = await asyncio.gather(*(one(*commands[n]) for n in names))
    return dict(zip(names, results, strict=True))


async def _cancel(move: StagedMove, names: Sequence[str]) -> None:
    """Remove the queued restarts of ``names`` (best effort: a node that cannot be reached keeps its at jobs)."""
    jobs = {
        n: " ".join(shlex.quote(j) for j in (move.outcomes[n].at_job, move.outcomes[n].undo_job) if j)
        for n in names
    }
    done = await _run_each(move, {n: (move.here[n], f"atrm {j}") for n, j in jobs.items() if j})
    for name, res in done.items():
        if res.ok:
            move.outcomes[name].at_job = move.outcomes[name].undo_job = ""


def at_jobs(text: str) -> list[str]:
    """The job numbers at printed, in order: "job 12 at Thu Nov 26 11:30:00 2026" (on stderr, merged)."""
    jobs = []
    for words in (line.split() for line in text.splitlines()):
        if len(words) >= 2 and words[0] == "job" and words[1].isdigit():
            jobs.append(words[1])
    return jobs


def _addresses(text: str) -> list[ipaddress.IPv4Address]:
    out = []
    for token in text.replace("/", " ").split():
        try:
            out.append(ipaddress.IPv4Address(token))
        except ValueError:
            continue
    return out
