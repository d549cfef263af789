"""Deploying into a VLAN in one step (the tutorial's ``kadeploy3 ... --vlan N``, g5k-api's deployments): what the
site's deployment tool does ([site.deploy]: its command, a command per node, or nothing where the site has no
operating system to install), then the part that is this project's: root's key installed on each node, the nodes'
primary NICs moved into the VLAN, its DHCP switched on, each node's network restarted (the site's console, else an
``at`` job queued before the move), and each node waited for under its in-VLAN name. Every node ends OK or KO; a
node that does not come back has its port put back in DEFAULT, is restarted there, and is marked unavailable when
it answers nowhere, as a job's end does with a node it cannot bring back.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .access import homing
from .access.commands import run_bounded
from .access.safeguard import (
    Restart,
    StagedMove,
    confirm,
    preflight,
    schedule,
    switch,
    until,
    verify,
    wait_until_back,
)
from .errors import BadInput, KavlanError
from .events import NodeUnavailable
from .inventory import DeploySpec, NicRef
from .model import DEFAULT, vlan_label
from .reports import DeployReport, NodeOutcome, Outcome, StagedReport

if TYPE_CHECKING:
    from .access.ssh import Target
    from .service import KavlanService

OS_TIMEOUT = 3600.0
"""Seconds the site's deployment tool may take (kadeploy's own bound on a deployment is of this order)."""
ENV_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@/")
MAX_KEY = 64 * 1024


def check_request(environment: str, key: str) -> None:
    """The environment's name and the key, checked before anything runs: one sentence for what is wrong."""
    if not environment or len(environment) > 128 or not set(environment) <= ENV_CHARS:
        raise BadInput(
            f"bad environment name {environment[:60]!r} (letters, digits and -_.:@/, e.g. debian12-min)"
        )
    if len(key) > MAX_KEY or "\0" in key:
        raise BadInput(f"the public key must be text of at most {MAX_KEY} bytes")
    for line in key.splitlines():
        words = line.split()
        if words and not (words[0].startswith(("ssh-", "ecdsa-", "sk-")) and len(words) >= 2):
            raise BadInput(
                f"not an OpenSSH public key line: {line[:60]!r} (e.g. ssh-ed25519 AAAA... user@host)"
            )


def primary_names(service: KavlanService, names: Sequence[str]) -> list[str]:
    """Each named node once (a nodefile names a node once per core), by its primary NIC's name in DEFAULT:
    deploying acts on nodes, and their primary NIC is what moves."""
    out: list[str] = []
    for ref, _plain in service.resolve(names):
        name = service.inventory.hostname(NicRef(ref.node, ref.node.primary_nic), DEFAULT)
        if name not in out:
            out.append(name)
    return out


async def deploy(
    service: KavlanService, names: Sequence[str], vlan: int, *, user: str, environment: str, key: str = ""
) -> DeployReport:
    """Deploy ``environment`` on the nodes and leave them in ``vlan``: stages as the module says. Refused before
    anything changes: what a move into ``vlan`` would refuse (rights, unknown nodes), a bad environment or key."""
    check_request(environment, key)
    if vlan == DEFAULT:
        raise BadInput("deploying into DEFAULT needs no --vlan: give the VLAN the nodes go into")
    nodes = primary_names(service, names)
    restart = Restart(0, service.settings.restart_command, service.settings.verify_timeout)
    move = await _prepare(service, nodes, vlan, user, restart)
    move.report.stages["prepare"] = move.now()  # rights, the plan, where each node is
    report = DeployReport(vlan, environment, staged=move.report)
    order = list(nodes)  # every node is deployed: one already in the VLAN is restarted there all the same
    real = [n for n in order if service.is_real(n)]
    report.installed = await _install(service, move, real, environment, key, order)
    report.key = await _install_key(service, move, real, key)
    usable = [n for n in order if move.outcomes[n].status != Outcome.FAILURE]
    report.dhcp = await _dhcp_on(service, move, user, usable, [n for n in usable if n in real])
    await _into_vlan(service, move, usable, [n for n in usable if n in real])
    report.seconds = move.now()
    move.finish()
    return report


async def _prepare(
    service: KavlanService, nodes: list[str], vlan: int, user: str, restart: Restart
) -> StagedMove:
    """Rights and the plan exactly as a move checks them (refused before anything changes), each node's outcome,
    and where each real node is reached now."""
    started = time.monotonic()
    await service.plan(nodes, vlan, user=user)
    current = dict(await service.vlan_of(nodes))
    outcomes = {
        n: NodeOutcome(n, old_vlan=current.get(n, DEFAULT), new_vlan=vlan, port_vlan=current.get(n))
        for n in nodes
    }
    move = StagedMove(service, vlan, user, restart, StagedReport(vlan=vlan), outcomes, started=started)
    move.report.nodes = list(outcomes.values())
    move.here = {n: service.ssh_target(n, current.get(n, DEFAULT)) for n in nodes if service.is_real(n)}
    return move


async def _install(
    service: KavlanService, move: StagedMove, real: list[str], env: str, key: str, nodes: list[str]
) -> str:
    """The site's deployment tool on the real nodes ([site.deploy]); a node it fails on is KO and moves not."""
    sites = {service.resolve([n])[0][0].node.site for n in nodes}
    specs = {s: service.inventory.deploys.get(s, DeploySpec()) for s in sites}
    if not real or not any(sp.command or sp.node_command for sp in specs.values()):
        where = f"{', '.join(sorted(sites))} have" if len(sites) > 1 else f"{next(iter(sites))} has"
        return (
            f"{where} no operating system to install ([site.deploy] names no command): environment {env} "
            "is not installed, the nodes keep the system they run; the VLAN part is done"
        )
    move.publish("deploy", len(real), env)
    said: list[str] = []
    with move.timed("install"), tempfile.TemporaryDirectory(prefix="kavlan-deploy-") as tmp:
        keyfile = Path(tmp) / "key.pub"
        keyfile.write_text(key + "\n" if key else "")
        for site, spec in specs.items():
            mine = [n for n in real if service.resolve([n])[0][0].node.site == site]
            if not mine:
                continue
            said.append(await _install_site(move, spec, mine, env, Path(tmp), keyfile))
    return "; ".join(s for s in said if s)


async def _install_site(
    move: StagedMove, spec: DeploySpec, nodes: list[str], env: str, tmp: Path, keyfile: Path
) -> str:
    if spec.command:
        nodefile = tmp / "nodes"
        nodefile.write_text("".join(n + "\n" for n in nodes))
        cmd = spec.command.format(env=shlex.quote(env), nodefile=nodefile, keyfile=keyfile)
        why = await run_bounded(shlex.split(cmd), OS_TIMEOUT)
        for name in nodes if why else ():
            move.mark(name, Outcome.FAILURE, f"not deployed: {why}")
        return f"{shlex.split(cmd)[0]}: " + (why or f"{env} deployed on {len(nodes)} node(s)")
    if not spec.node_command:
        return ""
    commands = {n: spec.node_command.format(node=n.split(".")[0], env=shlex.quote(env)) for n in nodes}
    whys = await asyncio.gather(*(run_bounded(shlex.split(c), OS_TIMEOUT) for c in commands.values()))
    for name, why in zip(commands, whys, strict=True):
        if why:
            move.mark(name, Outcome.FAILURE, f"not deployed: {why}")
    return f"{env} deployed on {sum(not w for w in whys)} of {len(nodes)} node(s)"


def key_command(key: str, path: str) -> str:
    """Append each line of ``key`` to ``path`` unless it is there already (a second deployment adds nothing)."""
    lines = [line.strip() for line in key.splitlines() if line.strip()]
    target = shlex.quote(path)
    parts = [f'mkdir -p "$(dirname {target})"', f"touch {target}"]
    parts += [f"(grep -qxF {shlex.quote(k)} {target} || echo {shlex.quote(k)} >> {target})" for k in lines]
    return " && ".join(parts)


async def _install_key(service: KavlanService, move: StagedMove, real: list[str], key: str) -> str:
    """Root's key on each real node, over SSH where the node is now (before the move); a node where it fails is KO
    and moves not. A site that does not say where root's keys are gets none (and the report says so)."""
    if not key.strip():
        return "no key given"
    if not real:
        return "the key is not installed: these nodes are simulated (no host to log in to)"
    targets = {}
    for name in real:
        path = service.inventory.deploys.get(
            service.resolve([name])[0][0].node.site, DeploySpec()
        ).authorized_keys
        if path and move.outcomes[name].status != Outcome.FAILURE:
            targets[name] = (
                move.here.get(name) or service.ssh_target(name, move.outcomes[name].old_vlan or DEFAULT),
                path,
            )
    if not targets:
        return "the key is not installed: the site does not say where root's keys are ([site.deploy] authorized_keys)"
    move.publish("key", len(targets))
    with move.timed("key"):
        results = await asyncio.gather(*(_one(service, t, key_command(key, p)) for t, p in targets.values()))
    for name, why in zip(targets, results, strict=True):
        if why:
            move.mark(name, Outcome.FAILURE, f"the key could not be installed: {why}")
    done = sum(not w for w in results)
    return f"the key is installed for root on {done} of {len(targets)} node(s)"


async def _one(service: KavlanService, target: Target, command: str) -> str:
    """One command on one node: "" when it ran, else why not (never an exception for a node out of reach)."""
    try:
        (res,) = await service.run_targets([target], command, per_host_timeout=30.0)
    except KavlanError as exc:
        return str(exc)
    return "" if res.ok else (res.error or res.stderr.strip()[:200] or f"exit status {res.exit_status}")


async def _dhcp_on(
    service: KavlanService, move: StagedMove, user: str, usable: list[str], real: list[str]
) -> str:
    """The VLAN's DHCP server on, if it is off: the nodes' restarted network takes its address there. The VLAN is
    the nodes' site's (a global one its owner's)."""
    if not usable:
        return ""
    ((ref, _plain),) = service.resolve(usable[:1])
    site = service.inventory.vlan(ref.node.site, move.vlan).site
    state = await service.dhcp_state(move.vlan, site)
    if state == "on":
        return f"the DHCP server of VLAN {vlan_label(move.vlan)} was on"
    move.publish("dhcp", len(real), "on")
    with move.timed("dhcp"):
        state = await service.dhcp(move.vlan, True, user=user, site=site)
    return f"the DHCP server of VLAN {vlan_label(move.vlan)} started ({state})"


AT_DELAY = 5
"""Seconds from queueing the restart with ``at`` (a site without a console) to its firing: the ports switch first."""


def _console(service: KavlanService, name: str) -> list[str] | None:
    """The site's console command for the node ([site.console]), as argv; None where the site has none."""
    ((ref, _plain),) = service.resolve([name])
    template = service.inventory.consoles.get(ref.node.site)
    return shlex.split(template.replace("{node}", ref.node.name)) if template else None


async def _into_vlan(service: KavlanService, move: StagedMove, usable: list[str], real: list[str]) -> None:
    """Move the usable nodes' ports into the VLAN, restart the real ones' network there, wait for each under its
    in-VLAN name; a real node that does not come back is stranded (put back, restarted, marked if lost)."""
    to_move = [n for n in usable if move.outcomes[n].old_vlan != move.vlan]
    by_at = [n for n in to_move if n in real and _console(service, n) is None]
    if by_at and not await _queue_restarts(move, by_at):
        to_move = [n for n in to_move if n not in by_at]
    move.scheduled_at = move.scheduled_at or time.monotonic()
    move.order = to_move
    moved = await switch(move) if to_move else []
    for name in usable:
        if name not in real and move.outcomes[name].status != Outcome.FAILURE:
            move.mark(name, Outcome.SUCCESS, f"in VLAN {vlan_label(move.vlan)} (simulated: not dialled)")
    there = [n for n in real if n in moved or n in usable and n not in to_move]
    await _restart_by_console(service, move, [n for n in there if n not in by_at])
    not_back = await verify(move, there)
    await confirm(move, [n for n in there if n in by_at and n not in not_back])
    if not_back:
        await _strand(service, move, not_back)


async def _queue_restarts(move: StagedMove, nodes: list[str]) -> bool:
    """On a site without a console: the restart queued with ``at`` on each node where it is (and its second
    chance, which the confirmation removes), before the ports switch; False when any node refused (none moves)."""
    move.restart = Restart(AT_DELAY, move.restart.command, move.restart.verify_timeout)
    move.order = nodes
    return await preflight(move) and await schedule(move)


async def _restart_by_console(service: KavlanService, move: StagedMove, nodes: list[str]) -> None:
    """Each node's network restarted from its console (the lab's, or an administrator's power cycle)."""
    if not nodes:
        return
    move.publish("restart", len(nodes), "console")
    with move.timed("restart"):
        whys = await asyncio.gather(
            *(run_bounded(_console(service, n) or [], homing.CONSOLE_TIMEOUT) for n in nodes)
        )
    for name, why in zip(nodes, whys, strict=True):
        move.outcomes[name].timings["restarted"] = move.now()
        if (
            why
        ):  # said after what the node's outcome says already (a second restart's failure after the first's)
            said = move.outcomes[name].message
            move.outcomes[name].message = (
                f"{said}; " if said else ""
            ) + f"its console's restart failed: {why}"


async def _strand(service: KavlanService, move: StagedMove, lost: list[str]) -> None:
    """A node that did not come back is KO, and handled as a job's end handles one: its port put back in DEFAULT,
    its network restarted there (console, or its second at restart), checked there; marked unavailable when it
    answers nowhere."""
    move.publish("rollback", len(lost))
    with move.timed("rollback"):
        back = await service.set_vlan(lost, DEFAULT, user=move.user)
    home = [r.name for r in back.results if r.new_vlan == DEFAULT]
    for r in back.results:
        move.outcomes[r.name].port_vlan = r.new_vlan
    with move.timed("home"):
        await _restart_by_console(service, move, [n for n in home if _console(service, n)])
        if any(move.outcomes[n].undo_job for n in home):
            await asyncio.sleep(until(move, move.restart.undo_delay))
        where = {n: (service.ssh_target(n, DEFAULT), DEFAULT) for n in home}
        still, last = await wait_until_back(move, where, "returned") if where else ([], {})
    nowhere = [n for n in lost if n not in home or n in still]
    for name in lost:
        outcome = move.outcomes[name]
        outcome.status = Outcome.FAILURE
        if name in nowhere:
            outcome.message += (
                f"; it answers nowhere, not even in DEFAULT ({last.get(name, 'its port stayed')})"
            )
        else:
            outcome.message += "; its port is back in DEFAULT, where it answers again"
    _mark_unavailable(service, move, nowhere)


def _mark_unavailable(service: KavlanService, move: StagedMove, lost: list[str]) -> None:
    """Nodes that answer nowhere go to no new job until an administrator clears them (as a job's end marks them)."""
    if not lost:
        return
    now = service.clock()
    with contextlib.suppress(KavlanError), service.store.write() as tx:
        for name in lost:
            node = service.inventory.resolve(name).node.name
            why = f"not back after a deployment into VLAN {vlan_label(move.vlan)}: {move.outcomes[name].message}"
            tx.mark_unavailable(node, why, now, None)
            tx.audit(move.user, "node.unavailable", node=node, reason=why)
    for name in lost:
        service.events.publish(
            NodeUnavailable(
                node=service.inventory.resolve(name).node.name, reason=move.outcomes[name].message
            )
        )
