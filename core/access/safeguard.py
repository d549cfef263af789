"""The staged move: schedule each node's network restart with ``at``, switch the ports, verify every node from its new VLAN."""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import time
from collections.abc import Sequence
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
    if delay < 2:
        raise BadInput("the restart delay must be at least 2 seconds: the ports must switch before it fires")
    started = time.monotonic()
    report = StagedReport(vlan=vlan)
    publish = service.events.publish

    def now() -> float:
        return round(time.monotonic() - started, 3)

    # 0. rights and the plan, exactly as a plain move would check them: refused before anything changes
    plan = await service.plan(names, vlan, user=user)
    refs = service.resolve(names)
    current = dict(await service.vlan_of([name for _ref, name in refs]))
    outcomes = {
        name: NodeOutcome(name, old_vlan=current.get(name, DEFAULT), new_vlan=vlan) for _ref, name in refs
    }
    report.nodes = list(outcomes.values())
    moving = {m.name for sp in plan.switches for m in sp.moves}
    for name, outcome in outcomes.items():
        if name not in moving:
            outcome.status, outcome.message = Outcome.UNCHANGED, f"already in VLAN {vlan_label(vlan)}"
    if not moving:
        report.seconds = now()
        return report
    order = [name for _ref, name in refs if name in moving]
    here = {name: service.ssh_target(name, current[name]) for name in order}

    # 1. preflight: reachable where it is now, with at
    publish(SafeguardStep(stage="preflight", nodes=len(order)))
    t0 = time.monotonic()
    results = await service.run_targets([here[n] for n in order], PROBE)
    report.stages["preflight"] = time.monotonic() - t0
    bad: list[str] = []
    for name, res in zip(order, results, strict=True):
        outcomes[name].timings["preflight"] = now()
        if not res.ok or "at-ok" not in res.stdout:
            why = res.error or (
                "at is not installed (apt-get install at)"
                if "at-missing" in res.stdout
                else f"the probe failed: {(res.stderr or res.stdout).strip()[:200]}"
            )
            outcomes[name].status, outcomes[name].message = Outcome.FAILURE, f"preflight: {why}"
            bad.append(name)
    if bad:
        for name in order:
            if name not in bad:
                outcomes[name].status, outcomes[name].message = (
                    Outcome.UNCHANGED,
                    "not moved: another node failed the preflight",
                )
        report.seconds = now()
        return report

    # 2. schedule the restart on every node
    publish(SafeguardStep(stage="schedule", nodes=len(order), detail=f"{command!r} in {delay} s"))
    job = f"sleep {int(delay)}; {command}"
    t0 = time.monotonic()
    results = await service.run_targets([here[n] for n in order], f"echo {shlex.quote(job)} | at now 2>&1")
    report.stages["schedule"] = time.monotonic() - t0
    scheduled_at = time.monotonic()
    failed = []
    for name, res in zip(order, results, strict=True):
        outcomes[name].timings["scheduled"] = now()
        outcomes[name].at_job = _at_job(res.stdout)
        if not res.ok or not outcomes[name].at_job:
            outcomes[name].status = Outcome.FAILURE
            outcomes[
                name
            ].message = f"could not schedule the restart: {res.error or res.stdout.strip()[:200]}"
            failed.append(name)
    if failed:
        await _cancel(service, [n for n in order if n not in failed], here, outcomes)
        for name in order:
            if name not in failed:
                outcomes[name].status, outcomes[name].message = (
                    Outcome.UNCHANGED,
                    "not moved: scheduling failed on another node",
                )
        report.seconds = now()
        return report

    # 3. switch the ports before the restart fires
    publish(SafeguardStep(stage="switch", nodes=len(order)))
    t0 = time.monotonic()
    move = await service.set_vlan(order, vlan, user=user)
    report.stages["switch"] = time.monotonic() - t0
    report.move = move
    if time.monotonic() - scheduled_at > delay:
        publish(
            SafeguardStep(
                stage="warning", nodes=len(order), detail="the switch took longer than the restart delay"
            )
        )
    moved = []
    not_moved = []
    for r in move.results:
        o = outcomes[r.name]
        o.timings["switched"] = now()
        if r.status == Outcome.SUCCESS:
            moved.append(r.name)
        else:
            not_moved.append(r.name)
            o.status, o.message = (
                (Outcome.FAILURE if r.status == Outcome.FAILURE else Outcome.UNCHANGED),
                f"switch: {r.message}",
            )
    if not_moved:
        # their ports did not change: their network must not restart for nothing (a restart in place is harmless,
        # but cancelling keeps them as they were)
        await _cancel(service, not_moved, here, outcomes)

    # 4. wait for the restart, then verify each node from its new place
    publish(
        SafeguardStep(
            stage="verify",
            nodes=len(moved),
            detail=f"restart in {max(0.0, delay - (time.monotonic() - scheduled_at)):.0f} s",
        )
    )
    t0 = time.monotonic()
    first = service.resolve([order[0]])[0][0]
    subnet = service.inventory.vlan(first.node.site, vlan).subnet
    there = {name: service.ssh_target(name, vlan) for name in moved}
    await asyncio.sleep(max(0.0, delay - (time.monotonic() - scheduled_at)))
    deadline = time.monotonic() + verify_timeout
    pending = list(moved)
    last: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        results = await service.run_targets(
            [there[n] for n in pending],
            ADDRESSES,
            per_host_timeout=max(0.5, min(attempt_timeout, deadline - time.monotonic())),
        )
        still = []
        for name, res in zip(pending, results, strict=True):
            if res.ok and any(a in subnet for a in _addresses(res.stdout)):
                outcomes[name].status = Outcome.SUCCESS
                outcomes[name].timings["back"] = now()
                publish(SafeguardStep(stage="back", nodes=1, detail=name))
            else:
                still.append(name)
                last[name] = res.error or f"no address in {subnet} yet"
        pending = still
        if pending:
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
    report.stages["verify"] = time.monotonic() - t0
    for name in pending:
        outcomes[name].status = Outcome.FAILURE
        outcomes[
            name
        ].message = (
            f"did not come back in VLAN {vlan_label(vlan)} within {verify_timeout:g} s: {last.get(name, '')}"
        )

    # 5. the rollback of the ports of nodes that did not come back, when asked
    if pending and rollback:
        publish(SafeguardStep(stage="rollback", nodes=len(pending)))
        by_old: dict[int, list[str]] = {}
        for name in pending:
            by_old.setdefault(outcomes[name].old_vlan or DEFAULT, []).append(name)
        for old, group in by_old.items():
            back = await service.set_vlan(group, old, user=user)
            for r in back.results:
                if r.status == Outcome.SUCCESS:
                    outcomes[r.name].status = Outcome.ROLLED_BACK
                    outcomes[r.name].message += f"; its port is back in VLAN {vlan_label(old)}"
    report.seconds = now()
    return report


async def _cancel(
    service: Service, names: Sequence[str], where: dict[str, Target], outcomes: dict[str, NodeOutcome]
) -> None:
    jobs = [(n, outcomes[n].at_job) for n in names if outcomes[n].at_job]
    if not jobs:
        return
    results: list[RunResult] = []
    try:
        for name, job in jobs:  # one atrm per node (each node has its own job number)
            results += await service.run_targets([where[name]], f"atrm {shlex.quote(job)}")
    except KavlanError:
        return
    for (name, _job), res in zip(jobs, results, strict=False):
        if res.ok:
            outcomes[name].at_job = ""
