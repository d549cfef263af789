"""A job's end brings its real nodes home: their network is restarted into DEFAULT around the move of their ports,
by the staged move's two at jobs (the restart, and a second one later that runs unless the node is confirmed back),
and a node that answers nowhere after both is named, for the end to mark it unavailable.

The end (:mod:`kavlan_core.ending`) calls :func:`queue` before its ports move and :func:`see_home` after. Nodes on
simulated switches are never dialled. A node that cannot be reached where it is (its network already broken) gets
no at job: it is checked in DEFAULT all the same, and marked when it does not answer there.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..inventory import NicRef
from ..model import DEFAULT
from ..reports import NodeOutcome, Outcome, StagedReport
from .commands import run_bounded
from .safeguard import (
    Restart,
    StagedMove,
    at_jobs,
    confirm,
    schedule_command,
    until,
    verify,
    wait_until_back,
)
from .ssh import seconds_text

if TYPE_CHECKING:
    from ..interface import Service

END_DELAY = 3
"""Seconds from the scheduling to the restart at a job's end: the end moves the ports at once after the at jobs are
queued (their SSH sessions have returned by then), so this only has to cover the switches' write (0.1 to 0.5 s on
the lab's and the benchmarks' switches), not a user's command line. A switch slower than that costs the node its
first restart (made in the old VLAN), not the node: its second restart brings it back."""
SYSTEM = "kavlan"
CONSOLE_TIMEOUT = 60.0
"""Seconds a console command (a power cycle, the lab's console) may take."""


END_UNDO_MARGIN = 5.0
"""Seconds after the verify window before the second restart: the ports are in DEFAULT already."""


def restart_for_end(command: str, verify_timeout: float) -> Restart:
    return Restart(END_DELAY, command, verify_timeout, undo_margin=END_UNDO_MARGIN)


async def queue(service: Service, placed: Mapping[str, int], restart: Restart) -> StagedMove | None:
    """Queue the restart into DEFAULT, and its second chance, on every real node of ``placed`` (in-DEFAULT names
    of NICs outside DEFAULT -> the VLAN each is in), reached where it is; None when no node is real."""
    nodes: dict[str, int] = {}
    for name, vlan in placed.items():
        ((ref, _plain),) = service.resolve([name])
        if service.is_real(name):
            primary = NicRef(ref.node, ref.node.primary_nic)  # a node's restart brings every NIC of it
            nodes.setdefault(service.inventory.hostname(primary, DEFAULT), vlan)
    if not nodes:
        return None
    outcomes = {n: NodeOutcome(n, old_vlan=v, new_vlan=DEFAULT, port_vlan=v) for n, v in nodes.items()}
    move = StagedMove(service, DEFAULT, SYSTEM, restart, StagedReport(vlan=DEFAULT), outcomes)
    move.report.nodes = list(outcomes.values())
    move.order = list(nodes)
    move.here = {n: service.ssh_target(n, v) for n, v in nodes.items()}
    move.publish(
        "schedule",
        len(move.order),
        f"the job's end: their network restarts into DEFAULT in {restart.delay} s; waiting for each to answer "
        f"there (up to {seconds_text(restart.delay + restart.verify_timeout)}, more for one that does not)",
    )
    with move.timed("schedule"):
        results = await service.run_targets([move.here[n] for n in move.order], schedule_command(restart))
    move.scheduled_at = time.monotonic()
    for name, res in zip(move.order, results, strict=True):
        outcome = move.outcomes[name]
        outcome.at_job, outcome.undo_job = ([*at_jobs(res.stdout), "", ""])[:2]
        if not res.ok or not outcome.undo_job:
            outcome.message = f"its restart could not be queued: {res.error or res.stdout.strip()[:200]}"
    return move


def resumed(service: Service, names: Sequence[str], restart: Restart, queued_at: float) -> StagedMove:
    """The nodes whose restarts into DEFAULT a job's end queued at about ``queued_at`` (the service's clock) before
    its process died, their ports in DEFAULT since: to be seen home by :func:`see_home` (their at job numbers are
    lost with the process: a second restart that finds the node home restarts it there once more, harmlessly)."""
    outcomes = {n: NodeOutcome(n, new_vlan=DEFAULT, port_vlan=DEFAULT) for n in names}
    move = StagedMove(service, DEFAULT, SYSTEM, restart, StagedReport(vlan=DEFAULT), outcomes)
    move.report.nodes = list(outcomes.values())
    move.order = list(names)
    move.scheduled_at = time.monotonic() - max(0.0, service.clock() - queued_at)
    return move


async def see_home(move: StagedMove, ports_home: Sequence[str]) -> list[str]:
    """After the ports moved: wait for each node of ``ports_home`` (its port is in DEFAULT) to answer in DEFAULT,
    confirm those that do, give the others their second restart; returns the nodes that answer nowhere."""
    for name in move.order:
        if name in ports_home:
            move.outcomes[name].port_vlan = DEFAULT
            move.outcomes[name].timings["switched"] = move.now()
    not_back = await verify(move, [n for n in move.order if n in ports_home])
    await confirm(move, [n for n in move.order if n in ports_home and n not in not_back])
    if not not_back:
        return []
    move.publish("undo", len(not_back), "second restart")
    with move.timed("second chance"):
        await asyncio.sleep(until(move, move.restart.undo_delay))
        where = {n: (move.service.ssh_target(n, DEFAULT), DEFAULT) for n in not_back}
        still, last = await wait_until_back(move, where, "returned")
    for name in not_back:
        outcome = move.outcomes[name]
        if name in still:
            outcome.message = f"does not answer in DEFAULT after two network restarts: {last.get(name, '')}"
        else:
            outcome.status = Outcome.SUCCESS
    return await by_console(move, still) if still else []


async def by_console(move: StagedMove, lost: Sequence[str]) -> list[str]:
    """The nodes still lost, through their site's console command ([site.console], e.g. a power cycle), each
    checked in DEFAULT again; returns those that answer nowhere even so."""
    commands: dict[str, list[str]] = {}
    for name in lost:
        ((ref, _plain),) = move.service.resolve([name])
        template = move.service.inventory.consoles.get(ref.node.site)
        if template:
            commands[name] = shlex.split(template.replace("{node}", ref.node.name))
    if not commands:
        return list(lost)
    move.publish("console", len(commands))
    with move.timed("console"):
        ran = await asyncio.gather(*(run_bounded(argv, CONSOLE_TIMEOUT) for argv in commands.values()))
        where = {n: (move.service.ssh_target(n, DEFAULT), DEFAULT) for n in commands}
        still, last = await wait_until_back(move, where, "console")
    for name, error in zip(commands, ran, strict=True):
        outcome = move.outcomes[name]
        if name not in still:
            outcome.status = Outcome.SUCCESS
            outcome.message = "back in DEFAULT after its console's restart"
        else:
            why = error or last.get(name, "")
            outcome.message += f"; nor after its console's command: {why}"
    return [n for n in lost if n not in commands or n in still]
