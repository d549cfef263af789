"""One command registry: name, parameters, help and a handler calling the service; the CLI, REPL and TUI share it."""

from __future__ import annotations

import importlib
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kavlan_core.errors import BadInput
from kavlan_core.grids import parse_grid
from kavlan_core.interface import Service
from kavlan_core.model import DEFAULT, Grid, vlan_label
from kavlan_core.patterns import Expansion, expand_names, is_pattern
from kavlan_core.reports import DeployReport, MoveReport, Outcome, StagedReport, UnreadableSwitch
from kavlan_core.reservations import RequestError, format_walltime, parse_walltime

# kinds of parameter, for parsing and completion
NODE, VLAN, JOB, SITE, TEXT, CHOICE = "node", "vlan", "job", "site", "text", "choice"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str
    help: str
    required: bool = True
    many: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    help: str


@dataclass
class Result:
    """What a command produced: lines for people, data for ``--json``, and whether it fully succeeded."""

    lines: list[str] = field(default_factory=list)
    data: Any = None
    ok: bool = True
    errors: list[str] = field(default_factory=list)
    """Lines for stderr (per-node failures)."""

    def render_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False, default=str)


@dataclass
class Context:
    """The state a face keeps between commands: the service, the user, the current job."""

    service: Service
    job_id: int | None = None
    verbose: bool = False
    grid_id: int | None = None
    """The grid reservation last made or named (gridsub, gridstat)."""

    @property
    def user(self) -> str:
        return self.service.user


Handler = Callable[[Context, dict[str, Any]], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str
    params: tuple[Param, ...]
    handler: Handler
    flags: tuple[Flag, ...] = ()
    aliases: tuple[str, ...] = ()
    cli: str = ""
    """The ``kavlan`` option doing the same, for help."""

    @property
    def usage(self) -> str:
        parts = [self.name]
        for p in self.params:
            token = p.name.upper() + ("..." if p.many else "")
            if p.choices:
                token = "|".join(p.choices)
            parts.append(token if p.required else f"[{token}]")
        parts += [f"[--{f.name}]" for f in self.flags]
        return " ".join(parts)

    def parse(self, argv: Sequence[str]) -> dict[str, Any]:
        """Bind words to parameters; raises BadInput with the usage on a mismatch."""
        words = [w for w in argv if not w.startswith("--")]
        flags = {w[2:] for w in argv if w.startswith("--")}
        known = {f.name for f in self.flags}
        for f in flags - known:
            raise BadInput(f"{self.name}: unknown option --{f} (usage: {self.usage})")
        out: dict[str, Any] = {f: (f in flags) for f in known}
        i = 0
        for p in self.params:
            if p.many:
                out[p.name] = words[i:]
                i = len(words)
                if p.required and not out[p.name]:
                    raise BadInput(f"{self.name}: missing {p.name.upper()} (usage: {self.usage})")
                continue
            if i < len(words):
                value = words[i]
                if p.choices and value not in p.choices:
                    raise BadInput(
                        f"{self.name}: {p.name} must be one of {', '.join(p.choices)} (usage: {self.usage})"
                    )
                out[p.name] = value
                i += 1
            elif p.required:
                raise BadInput(f"{self.name}: missing {p.name.upper()} (usage: {self.usage})")
            else:
                out[p.name] = None
        if i < len(words):
            raise BadInput(f"{self.name}: unexpected {' '.join(words[i:])!r} (usage: {self.usage})")
        return out


class Registry:
    def __init__(self, extensions: Sequence[str] = ()) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}
        self._extensions = list(extensions)
        """Modules whose ``commands()`` join the registry at its first use: they build on this module, which
        therefore cannot import them while it loads."""

    @property
    def commands(self) -> dict[str, Command]:
        while self._extensions:
            module = importlib.import_module(self._extensions.pop(0))
            for command in module.commands():
                self.add(command)
        return self._commands

    def add(self, command: Command) -> None:
        self._commands[command.name] = command
        for a in command.aliases:
            self._aliases[a] = command.name

    def get(self, name: str) -> Command | None:
        commands = self.commands
        return commands.get(self._aliases.get(name, name))

    def names(self) -> list[str]:
        return sorted(self.commands)

    async def run(self, ctx: Context, line: str) -> Result:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise BadInput(f"cannot read that line: {exc}") from None
        if not words:
            return Result()
        cmd = self.get(words[0])
        if cmd is None:
            raise BadInput(f"unknown command {words[0]!r}: type 'help' for the list")
        return await cmd.handler(ctx, cmd.parse(words[1:]))

    def help(self, name: str | None = None) -> list[str]:
        if name:
            cmd = self.get(name)
            if cmd is None:
                raise BadInput(f"no command named {name!r}: type 'help' for the list")
            lines = [f"usage: {cmd.usage}", "", cmd.summary]
            if cmd.params or cmd.flags:
                lines.append("")
            for p in cmd.params:
                lines.append(f"  {p.name.upper():<12} {p.help}")
            for f in cmd.flags:
                lines.append(f"  --{f.name:<10} {f.help}")
            if cmd.aliases:
                lines += ["", "aliases: " + ", ".join(cmd.aliases)]
            if cmd.cli:
                # a command line of another console script names it; the others are kavlan's options
                same = cmd.cli if cmd.cli.startswith("kavlan-") else f"kavlan {cmd.cli}"
                lines += ["", f"same as: {same}"]
            return lines
        width = max(len(c.usage) for c in self.commands.values())
        return [
            f"  {c.usage:<{width}}  {c.summary}" for c in sorted(self.commands.values(), key=lambda c: c.name)
        ]


# --- shared parsing --------------------------------------------------------------


def _number(text: str, most: int) -> bool:
    """ASCII digits, at most ``most`` of them (``'²'.isdigit()`` is true and ``int('²')`` fails)."""
    return text.isascii() and text.isdigit() and len(text) <= most


def parse_vlan(text: str) -> int:
    if text.upper() == "DEFAULT":
        return DEFAULT
    if not _number(text, 9):
        raise BadInput(f"VLAN {text[:40]!r} is not a VLAN id (an integer or DEFAULT)")
    return int(text)


def parse_job(text: str) -> int:
    if not _number(text.strip(), 12):
        raise BadInput(f"job id {text[:40]!r} is not a number")
    return int(text)


async def job_vlan(ctx: Context, job_id: int | None) -> int:
    if job_id is None:
        raise BadInput("no VLAN given and no job to take it from: give a VLAN id (-i N) or a job (-j JOBID)")
    vlans = await ctx.service.job_vlans(job_id)
    return vlans[0].vlan


def expand_nodes(service: Service, words: Sequence[str]) -> tuple[list[str], list[Expansion]]:
    """Node names with their patterns expanded: ranges (``suno-[1-10]``) write names, wildcards (``suno-1*``) are
    matched against the testbed's nodes (FQDNs when the pattern has a dot); and what each pattern became."""
    if not any(is_pattern(w) for w in words):
        return list(words), []
    inv = service.inventory
    known = [*inv.nodes, *(inv.node_fqdn(n) for n in inv.nodes.values())]
    return expand_names(words, known)


async def nodes_or_job(ctx: Context, nodes: list[str]) -> list[str]:
    """The nodes named (patterns expanded), or else the current job's (as kavlan does inside a job's shell)."""
    if nodes:
        return expand_nodes(ctx.service, nodes)[0]
    if ctx.job_id is None:
        raise BadInput("no node given: name nodes (-m NODE, -f NODEFILE) or a job (-j JOBID)")
    found = await ctx.service.job_nodes(ctx.job_id)  # a grid's part stands for its grid's nodes
    if not found:
        raise BadInput(f"job {ctx.job_id} has no node")
    return found


def move_result(report: MoveReport, *, verbose: bool = False) -> Result:
    """``kavlan -s`` output: one line per node that failed or was unchanged (and per success when verbose)."""
    res = Result(ok=report.ok)
    for r in report.results:
        if r.status == Outcome.SUCCESS:
            if verbose:
                res.lines.append(f"{r.name}: success")
        elif r.status == Outcome.UNCHANGED:
            res.lines.append(f"{r.name}: unchanged ({r.message})")
        else:
            res.errors.append(f"{r.name}: failure ({r.message})")
    if verbose:
        for t in report.switches:
            res.lines.append(
                f"switch {t.switch}: {t.ports} port(s) in {t.seconds:.3f} s"
                + (f", {t.tries} tries" if t.tries > 1 else "")
                + ("" if t.ok else f", failed: {t.error}")
            )
        c = report.counts()
        res.lines.append(
            f"{c[Outcome.SUCCESS]} moved, {c[Outcome.UNCHANGED]} unchanged, {c[Outcome.FAILURE]} failed in {report.seconds:.3f} s"
        )
    res.errors += unreadable_lines(report.unreadable)
    res.data = {
        r.name: {"status": r.status, "message": r.message, "switch": r.switch, "port": r.port}
        for r in report.results
    }
    return res


# --- handlers ---------------------------------------------------------------------


async def _vlan(ctx: Context, a: dict[str, Any]) -> Result:
    job_id = parse_job(a["job"]) if a.get("job") else ctx.job_id
    if job_id is None:
        raise BadInput("no job: give its id (kavlan -V -j JOBID), or run inside the job's shell")
    vlans = await ctx.service.job_vlans(job_id)
    return Result([str(v.vlan) for v in vlans], data=[v.vlan for v in vlans])


async def _nodes(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"]) if a.get("vlan") else await job_vlan(ctx, ctx.job_id)
    names = await ctx.service.nodelist(vlan, job_id=ctx.job_id)
    return Result(names, data=names)


async def _get(ctx: Context, a: dict[str, Any]) -> Result:
    nodes = await nodes_or_job(ctx, a["nodes"])
    pairs = await ctx.service.vlan_of(nodes)
    return Result([f"{n}: {vlan_label(v)}" for n, v in pairs], data={n: vlan_label(v) for n, v in pairs})


async def _set(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"])
    nodes = await nodes_or_job(ctx, a["nodes"])
    dry_run = bool(a.get("dry-run"))
    if not dry_run and not a.get("no-dhcp-check"):
        await ctx.service.check_dhcp(nodes, vlan)
    report = await ctx.service.set_vlan(nodes, vlan, dry_run=dry_run)
    if report.dry_run and report.plan is not None:
        return Result(report.plan.render(), data=report.plan.as_dict())
    return move_result(report, verbose=ctx.verbose)  # a dry run that could not read a switch says so per node


def staged_result(report: StagedReport, *, verbose: bool = False) -> Result:
    """A staged move's report: one line per node with its timings (``--json``: where its port is and where it
    answers); failures on stderr."""
    res = Result(ok=report.ok)
    for n in report.nodes:
        t = n.timings
        when = ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
        line = (  # the message says where a node not back is, and whether it answers there
            f"{n.name}: {n.status}"
            + (f" ({n.message})" if n.message else "")
            + (f" [{when}]" if when and (verbose or n.status != Outcome.SUCCESS) else "")
        )
        if n.status in (Outcome.FAILURE, Outcome.ROLLED_BACK):
            res.errors.append(line)
        elif verbose or n.status != Outcome.SUCCESS:
            res.lines.append(line)
    if verbose:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.stages.items())
        res.lines.append(
            f"staged move into VLAN {vlan_label(report.vlan)} in {report.seconds:.1f} s: {stages}"
        )
    not_back = report.not_back
    if not_back:
        res.errors.append(
            f"{len(not_back)} node(s) did not come back and their ports could not be put back: "
            "kavlan -s -i OLD_VLAN puts them back, and their undo restart brings them back there"
        )
    res.data = {
        "vlan": vlan_label(report.vlan),
        "seconds": report.seconds,
        "stages": report.stages,
        "nodes": {
            n.name: {
                "status": n.status,
                "message": n.message,
                "port_vlan": None if n.port_vlan is None else vlan_label(n.port_vlan),
                "answers_in": None if n.answers_in is None else vlan_label(n.answers_in),
                "timings": n.timings,
            }
            for n in report.nodes
        },
    }
    return res


async def _staged(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"])
    nodes = await nodes_or_job(ctx, a["nodes"])
    # "rollback" is accepted and is what happens anyway: a node that does not come back has its port put back
    report = await ctx.service.move_with_restart(nodes, vlan, dhcp_check=not a.get("no-dhcp-check"))
    return staged_result(report, verbose=ctx.verbose)


def deploy_result(service: Service, report: DeployReport) -> Result:
    """A deployment's report, as kadeploy3 closes: what each part did, the nodes deployed (by in-VLAN name: where
    to reach them now), those not with why (on stderr); ``--json``: each node's state, OK or KO."""
    from kavlan_core.inventory import NicRef

    res = Result([f"{said}" for said in (report.installed, report.key, report.dhcp) if said], ok=report.ok)
    ok = [n for n in report.staged.nodes if report.state(n) == "OK"]
    ko = [n for n in report.staged.nodes if report.state(n) == "KO"]
    if ok:
        res.lines.append("The deployment is successful on nodes")
        for n in ok:
            ((ref, _plain),) = service.resolve([n.name])
            res.lines.append(service.inventory.hostname(NicRef(ref.node, ref.node.primary_nic), report.vlan))
    if ko:
        res.errors.append("The deployment failed on nodes")
        res.errors += [f"{n.name} ({n.message})" for n in ko]
    res.data = {
        "vlan": vlan_label(report.vlan),
        "environment": report.environment,
        "installed": report.installed,
        "key": report.key,
        "dhcp": report.dhcp,
        "seconds": report.seconds,
        "stages": report.staged.stages,
        "result": {n.name: {"state": report.state(n), "message": n.message} for n in report.staged.nodes},
    }
    return res


async def _deploy(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"])
    nodes = await nodes_or_job(ctx, a["nodes"])
    key = ""
    if a.get("key"):
        from .kadeploy import DEFAULT_KEYS, read_key

        key = read_key(DEFAULT_KEYS)
    report = await ctx.service.deploy(nodes, vlan, environment=a["env"], key=key)
    return deploy_result(ctx.service, report)


async def _run_cmd(ctx: Context, a: dict[str, Any]) -> Result:
    nodes = await nodes_or_job(ctx, a["nodes"])
    results = await ctx.service.run(nodes, a["command"])
    res = Result(ok=all(r.ok for r in results))
    for r in results:
        if r.error:
            res.errors.append(f"{r.host}: failure ({r.error})")
            continue
        for line in r.stdout.splitlines() or [""]:
            res.lines.append(f"{r.host}: {line}")
        for line in r.stderr.splitlines():  # each node's stderr kept, on stderr, as taktuk shows it
            res.errors.append(f"{r.host} (stderr): {line}")
        if r.exit_status:
            res.errors.append(f"{r.host}: exit status {r.exit_status}")
    res.data = {
        r.host: {
            "exit_status": r.exit_status,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "error": r.error,
            "seconds": r.seconds,
        }
        for r in results
    }
    return res


async def _ssh(ctx: Context, a: dict[str, Any]) -> Result:
    command = " ".join(a["command"]) or None
    status = await ctx.service.ssh(a["node"], command)
    return Result(ok=status == 0, data={"exit_status": status})


async def _ssh_config(ctx: Context, a: dict[str, Any]) -> Result:
    text = ctx.service.ssh_config("proxycommand" if a.get("proxycommand") else "proxyjump")
    return Result(text.rstrip("\n").splitlines(), data=text)


async def _dhcp(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"]) if a.get("vlan") else await job_vlan(ctx, ctx.job_id)
    state = await ctx.service.dhcp(vlan, a["action"] == "on")
    verb = "started" if state == "on" else "stopped"
    return Result(
        [f"DHCP server of VLAN {vlan_label(vlan)} {verb}"], data={"vlan": vlan_label(vlan), "dhcp": state}
    )


async def _vlans(ctx: Context, a: dict[str, Any]) -> Result:
    infos = await ctx.service.vlans(a.get("site"))
    lines = [f"{'VLAN':<8} {'kind':<14} {'site':<8} {'subnet':<17} {'tag':>4}  {'dhcp':<5} {'nodes':>5}  job"]
    for v in infos:
        holder = f"{v.job} ({v.user})" if v.job else "-"
        lines.append(
            f"{v.label:<8} {v.kind.value:<14} {v.owner:<8} {v.subnet:<17} {v.tag:>4}  {v.dhcp:<5} {v.members:>5}  {holder}"
        )
    data = [
        {
            "uid": v.label,
            "type": v.kind.value,
            "site": v.owner,
            "subnet": v.subnet,
            "tag": v.tag,
            "dhcp": v.dhcp,
            "nodes": v.members,
            "job": v.job,
            "user": v.user,
        }
        for v in infos
    ]
    return Result(lines, data=data)


async def _members(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"])
    members = await ctx.service.members(vlan, a.get("site"))
    lines = [f"{m.name:<44} {m.address:<15} {m.switch:<12} {m.port}" for m in members]
    return Result(lines, data=[asdict(m) for m in members])


async def _jobs(ctx: Context, a: dict[str, Any]) -> Result:
    now = time.time()
    jobs = await ctx.service.jobs(user=None if a.get("all") else ctx.user, running=True)
    lines = []
    for j in jobs:
        vlans = (
            ",".join(f"{v.vlan}" + ("" if v.site == ctx.service.site else f"@{v.site}") for v in j.vlans)
            or "-"
        )
        lines.append(
            f"{j.id:<6} {j.user:<10} {format_walltime(j.remaining(now)):>9} left  vlan {vlans:<6} "
            f"{len(j.nodes)} node(s) {','.join(j.nodes[:6])}{'...' if len(j.nodes) > 6 else ''}"
            + (f"  grid {j.grid}" if j.grid is not None else "")
        )
    if not lines:
        lines = ["no running job" + ("" if a.get("all") else f" of {ctx.user}")]
    data = [asdict(j) | {"state": j.state.value} for j in jobs]
    return Result(lines, data=data)


async def _reserve(ctx: Context, a: dict[str, Any]) -> Result:
    # OAR's -l is one word; words typed apart are groups of it (reserve nodes=2 walltime=1)
    request = ",".join(a["request"])
    job = await ctx.service.submit(request)
    ctx.job_id = job.id
    vl = ", ".join(str(v.vlan) for v in job.vlans) or "none"
    return Result(
        [
            f"OAR_JOB_ID={job.id}",
            f"job {job.id}: {len(job.nodes)} node(s), VLAN {vl}, walltime {format_walltime(job.walltime)}",
        ],
        data={"job": job.id, "nodes": list(job.nodes), "vlans": [v.vlan for v in job.vlans]},
    )


async def _release(ctx: Context, a: dict[str, Any]) -> Result:
    job_id = parse_job(a["job"]) if a.get("job") else ctx.job_id
    if job_id is None:
        raise BadInput("no job to delete: give its id")
    await ctx.service.delete_job(job_id)
    if ctx.job_id == job_id:
        ctx.job_id = None
    return Result([f"job {job_id} deleted: its nodes are back in DEFAULT"], data={"job": job_id})


async def _gridsub(ctx: Context, a: dict[str, Any]) -> Result:
    """oargridsub's parts (words typed apart are parts, as its commas join them); ``walltime=H:M:S`` apart."""
    walls = [w.split("=", 1)[1] for w in a["parts"] if w.lower().startswith("walltime=")]
    words = [w for w in a["parts"] if not w.lower().startswith("walltime=")]
    try:
        walltime = parse_walltime(walls[-1]) if walls else None
        parts = parse_grid(words, ctx.service.inventory)
    except RequestError as exc:
        raise BadInput(str(exc)) from None
    grid = await ctx.service.grid_submit(parts, walltime=walltime)
    ctx.grid_id = grid.id
    # the current job: the part holding a VLAN (the global one), so that nodes and vlan answer for it
    ctx.job_id = next((p.job.id for p in grid.parts if p.job.vlans), grid.parts[0].job.id)
    lines = [f"Grid reservation id = {grid.id}", *grid_lines(grid)]
    return Result(lines, data=_grid_data(grid))


def grid_lines(grid: Grid) -> list[str]:
    """One line per site: its job, nodes and VLANs."""
    return [
        f"  {p.site:<8} job {p.job.id} ({p.job.state.value}): {len(p.job.nodes)} node(s) "
        f"{','.join(p.job.nodes[:6])}{'...' if len(p.job.nodes) > 6 else ''}"
        + (f", VLAN {', '.join(str(v.vlan) for v in p.job.vlans)}" if p.job.vlans else "")
        for p in grid.parts
    ]


def _grid_data(grid: Grid) -> dict[str, Any]:
    return {
        "grid": grid.id,
        "user": grid.user,
        "walltime": grid.walltime,
        "jobs": [
            {"site": p.site, "job": p.job.id, "state": p.job.state.value, "nodes": list(p.job.nodes)}
            for p in grid.parts
        ],
    }


def _grid_of(ctx: Context, a: dict[str, Any]) -> int:
    if a.get("grid"):
        if not _number(a["grid"], 12):
            raise BadInput(f"grid reservation id {a['grid'][:40]!r} is not a number")
        return int(a["grid"])
    if ctx.grid_id is None:
        raise BadInput("no grid reservation: give its id (or make one with gridsub)")
    return ctx.grid_id


async def _gridstat(ctx: Context, a: dict[str, Any]) -> Result:
    grid = await ctx.service.grid(_grid_of(ctx, a))
    ctx.grid_id = grid.id
    state = "Running" if grid.running else "Terminated"
    head = f"grid {grid.id} of {grid.user} ({state}), walltime {format_walltime(grid.walltime)}"
    return Result([head, *grid_lines(grid)], data=_grid_data(grid))


async def _griddel(ctx: Context, a: dict[str, Any]) -> Result:
    grid = await ctx.service.grid_delete(_grid_of(ctx, a))
    if ctx.job_id in {p.job.id for p in grid.parts}:
        ctx.job_id = None
    return Result(
        [f"grid {grid.id} deleted: its {len(grid.parts)} job(s) ended, their nodes are back in DEFAULT"],
        data=_grid_data(grid),
    )


async def _use(ctx: Context, a: dict[str, Any]) -> Result:
    if not a.get("job") or a["job"].lower() in ("none", "-"):
        ctx.job_id = None
        return Result(["no current job"])
    job = await ctx.service.running_job(parse_job(a["job"]))
    if job.user != ctx.user and ctx.user not in ctx.service.settings.admins:
        raise BadInput(f"job {job.id} belongs to {job.user}, not to {ctx.user}")
    ctx.job_id = job.id
    return Result([f"current job: {job.id}"], data={"job": job.id})


async def _drift(ctx: Context, a: dict[str, Any]) -> Result:
    found = await ctx.service.drift(a.get("site"))
    lines = [
        f"{d.switch} {d.port} ({d.node}/{d.nic}): expected VLAN {vlan_label(d.expected)}, "
        f"switch has {vlan_label(d.actual) if d.actual is not None else f'tag {d.actual_tag}'}"
        for d in found.drifts
    ]
    if not lines:
        everywhere = "every port" if found.complete else "every port of the switches that answered"
        lines = [f"no drift: {everywhere} is in the VLAN the store expects"]
    data = {"drift": [asdict(d) for d in found.drifts], "unreadable": [asdict(u) for u in found.unreadable]}
    return Result(
        lines, data=data, ok=not found.drifts and found.complete, errors=unreadable_lines(found.unreadable)
    )


def unreadable_lines(unreadable: Sequence[UnreadableSwitch]) -> list[str]:
    """One sentence per switch that drift or repair could not read."""
    return [f"{u.reason} (its {len(u.ports)} port(s) were not checked)" for u in unreadable]


async def _whoami(ctx: Context, a: dict[str, Any]) -> Result:
    s = ctx.service
    return Result(
        [
            f"user {ctx.user}, site {s.site}, job {ctx.job_id or '-'}",
            f"testbed: {s.inventory.source}",
            s.describe(),
        ],
        data={"user": ctx.user, "site": s.site, "job": ctx.job_id},
    )


REGISTRY = Registry(extensions=("kavlan_tui.monitor_commands",))
for _c in (
    Command(
        "vlan",
        "Show the VLAN id of a job",
        (Param("job", JOB, "the job (default: the current one)", required=False),),
        _vlan,
        cli="-V [-j JOBID]",
    ),
    Command(
        "nodes",
        "Show the node names in a VLAN (of the current job's nodes, if any)",
        (Param("vlan", VLAN, "VLAN id or DEFAULT (default: the job's)", required=False),),
        _nodes,
        aliases=("list",),
        cli="-l [-i VLAN]",
    ),
    Command(
        "get",
        "Show the VLAN of nodes",
        (Param("nodes", NODE, "node names", required=False, many=True),),
        _get,
        cli="-g -m NODE",
    ),
    Command(
        "set",
        "Move nodes into a VLAN (DEFAULT puts them back)",
        (
            Param("vlan", VLAN, "VLAN id or DEFAULT"),
            Param("nodes", NODE, "node names (default: the job's)", required=False, many=True),
        ),
        _set,
        flags=(
            Flag("dry-run", "print the plan per switch, change nothing"),
            Flag(
                "no-dhcp-check",
                "move real nodes into a VLAN whose DHCP server is off (your own server, static addresses)",
            ),
        ),
        aliases=("move",),
        cli="-s -i VLAN -m NODE",
    ),
    Command(
        "set-safe",
        "Move nodes with the at safeguard: schedule their network restart, switch, verify they come back",
        (
            Param("vlan", VLAN, "VLAN id or DEFAULT"),
            Param("nodes", NODE, "node names (default: the job's)", required=False, many=True),
        ),
        _staged,
        flags=(
            Flag("rollback", "put back the ports of nodes that do not come back (always done)"),
            Flag(
                "no-dhcp-check",
                "move real nodes into a VLAN whose DHCP server is off (your own server, static addresses)",
            ),
        ),
        aliases=("staged",),
        cli="-s --restart-via-at [DELAY]",
    ),
    Command(
        "deploy",
        "Deploy an environment and leave the nodes in a VLAN, reachable under their in-VLAN names (kadeploy3 --vlan)",
        (
            Param("env", TEXT, "the environment (e.g. debian12-min)"),
            Param("vlan", VLAN, "the VLAN the nodes go into"),
            Param("nodes", NODE, "node names (default: the job's)", required=False, many=True),
        ),
        _deploy,
        flags=(Flag("key", "install your ~/.ssh/authorized_keys for root on the nodes (kadeploy3 -k)"),),
        cli="kavlan-kadeploy3 -e ENV -f NODEFILE -k --vlan N",
    ),
    Command(
        "run",
        "Run a command on nodes at once, each reached where it is (as taktuk)",
        (
            Param("command", TEXT, "the command, quoted"),
            Param("nodes", NODE, "node names (default: the job's)", required=False, many=True),
        ),
        _run_cmd,
        cli="run -m NODE -- COMMAND",
    ),
    Command(
        "ssh",
        "Open a session on a node (through the gateway of a local VLAN)",
        (
            Param("node", NODE, "the node"),
            Param("command", TEXT, "a command instead of a shell", required=False, many=True),
        ),
        _ssh,
        cli="ssh NODE",
    ),
    Command(
        "ssh-config",
        "Print the OpenSSH configuration for the local VLANs' gateways",
        (),
        _ssh_config,
        flags=(Flag("proxycommand", "the tutorial's ProxyCommand form rather than ProxyJump"),),
        cli="ssh-config",
    ),
    Command(
        "dhcp",
        "Start or stop the DHCP server of a VLAN",
        (
            Param("action", CHOICE, "on or off", choices=("on", "off")),
            Param("vlan", VLAN, "VLAN id (default: the job's)", required=False),
        ),
        _dhcp,
        cli="-e / -d",
    ),
    Command(
        "vlans",
        "List the VLANs of a site: kind, holder, DHCP, nodes",
        (Param("site", SITE, "site (default: this one)", required=False),),
        _vlans,
    ),
    Command(
        "members",
        "List the nodes in a VLAN with address, switch and port",
        (
            Param("vlan", VLAN, "VLAN id or DEFAULT"),
            Param("site", SITE, "site (default: this one)", required=False),
        ),
        _members,
    ),
    Command(
        "jobs",
        "List running jobs (yours, or everyone's with --all)",
        (),
        _jobs,
        flags=(Flag("all", "every user's jobs"),),
    ),
    Command(
        "reserve",
        "Reserve resources, as oarsub -l: {\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3",
        (Param("request", TEXT, "resource request", many=True),),
        _reserve,
        aliases=("oarsub",),
    ),
    Command(
        "release",
        "Delete a job: its nodes go back to DEFAULT",
        (Param("job", JOB, "the job (default: the current one)", required=False),),
        _release,
        aliases=("oardel",),
    ),
    Command(
        "gridsub",
        "Reserve on several sites at once, all or nothing, as oargridsub: "
        "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+/nodes=2,lille:rdef=/nodes=2 walltime=2:00:00",
        (Param("parts", TEXT, "SITE:rdef=RESOURCES, joined by commas or typed apart", many=True),),
        _gridsub,
        aliases=("oargridsub",),
    ),
    Command(
        "gridstat",
        "Show a grid reservation: each site's job and nodes",
        (Param("grid", JOB, "the grid reservation (default: the last one)", required=False),),
        _gridstat,
        aliases=("oargridstat",),
    ),
    Command(
        "griddel",
        "Delete a grid reservation: every job of it ends",
        (Param("grid", JOB, "the grid reservation (default: the last one)", required=False),),
        _griddel,
        aliases=("oargriddel",),
    ),
    Command(
        "use",
        "Make a job the current one (as inside oarsub -I)",
        (Param("job", JOB, "the job; none to clear", required=False),),
        _use,
    ),
    Command(
        "drift",
        "Compare every switch port of a site with the store",
        (Param("site", SITE, "site (default: this one)", required=False),),
        _drift,
    ),
    Command("whoami", "Show user, site, current job, testbed and database", (), _whoami),
):
    REGISTRY.add(_c)
