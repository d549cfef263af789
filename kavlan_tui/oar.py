"""``kavlan-oarsub``, ``kavlan-oarstat``, ``kavlan-oardel``: the OAR commands the tutorial relies on."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

from kavlan_core import config
from kavlan_core.api.auth import USER_NAME
from kavlan_core.errors import BadInput, KavlanError, NotAllowed, NotFound
from kavlan_core.events import Event, IntentSettled, NodeUnavailable, SafeguardStep
from kavlan_core.grids import job_sites
from kavlan_core.interface import Service, connect
from kavlan_core.model import Job
from kavlan_core.reservations import format_walltime

from .options import add_api_arguments, api_overrides
from .present import OPTION_HINTS, event_line, printable, run_guarded, sentence
from .stopping import Stopper, attach


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {printable(message)} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _fatal(prog: str, exc: KavlanError) -> int:
    """A mistake in the command line, found before any service is made."""
    sys.stderr.write(f"{prog}: {sentence(exc, OPTION_HINTS)}\n")
    return exc.exit_code


def _run(
    prog: str,
    body: Callable[[Service], Awaitable[int]],
    debug: bool = False,
    remote: dict[str, str | None] | None = None,
) -> int:
    stopper = Stopper(prog)

    async def go() -> int:
        service = await connect(config.load(**(remote or {})))
        attach(service)
        service.events.subscribe(_settled_printer(prog))
        try:
            return await body(service)
        finally:
            await service.close()

    return run_guarded(prog, lambda: asyncio.run(stopper.run(go)), debug=debug, hints=OPTION_HINTS)


def _settled_printer(prog: str) -> Callable[[Event], None]:
    """An unfinished move or job's end this command found and settled, what a job's end waits for (its real
    nodes' network restart into DEFAULT), a node it could not bring back: said on stderr."""

    def show(event: Event) -> None:
        waits = isinstance(event, SafeguardStep) and event.stage == "schedule"
        line = event_line(event) if waits or isinstance(event, IntentSettled | NodeUnavailable) else None
        if line is not None:
            sys.stderr.write(f"{prog}: {line.text}\n")

    return show


# --- oarsub ---------------------------------------------------------------------------


def _oarsub_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kavlan-oarsub", description="Reserve nodes and VLANs, as oarsub does.")
    p.add_argument(
        "-l",
        "--resource",
        dest="resources",
        action="append",
        default=[],
        help="resource request, e.g. {\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3,walltime=2",
    )
    p.add_argument(
        "-t",
        "--type",
        dest="types",
        action="append",
        default=[],
        help="job type (deploy, ...); several -t are OK",
    )
    p.add_argument(
        "-p", "--property", dest="properties", default="", help="node properties, e.g. \"cluster='suno'\""
    )
    p.add_argument("-n", "--name", default="", help="job name")
    p.add_argument(
        "-I",
        "--interactive",
        action="store_true",
        help="open a shell in the job; the job ends with the shell",
    )
    p.add_argument("--site", help="the site to reserve on (default: this frontend's)")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    p.add_argument("command", nargs="?", help="not supported: jobs here run no script; use -I or nothing")
    return p


def oarsub_main(argv: Sequence[str] | None = None) -> int:
    p = _oarsub_parser()
    args = p.parse_args(argv)
    if args.command:
        return _fatal(
            p.prog,
            BadInput(
                "running a script in the job is not supported here: use -I, or no command to just reserve"
            ),
        )
    if len(args.resources) > 1:
        return _fatal(p.prog, BadInput("give one -l request (join resource groups with + or ,)"))
    request = args.resources[0] if args.resources else "nodes=1"

    async def body(service: Service) -> int:
        if args.site is not None and args.site not in service.inventory.sites:
            sites = ", ".join(service.inventory.sites)
            raise BadInput(f"unknown site {args.site!r} (sites of this testbed: {sites})")
        job = await service.submit(
            request, types=args.types, name=args.name, properties=args.properties, site=args.site
        )
        nodefile = await service.nodefile(job.id)
        if args.json:
            print(json.dumps(_job_json(job, service), indent=2))
        else:
            print(f"OAR_JOB_ID={job.id}", flush=True)
        if not args.interactive:
            return 0
        return await _job_shell(service, job, nodefile, args)

    return _run(p.prog, body, args.debug, api_overrides(args))


async def _job_shell(service: Service, job: Job, nodefile: Path, args: argparse.Namespace) -> int:
    """``oarsub -I``: a shell with the job's OAR variables; the job ends with the shell, as with OAR."""
    sys.stderr.write("Interactive mode: waiting...\nStarting...\n")
    where = job.nodes[0] if job.nodes else "the frontend"
    sys.stderr.write(f"Connect to OAR job {job.id} via the node {where}\n")
    sys.stderr.flush()
    env = dict(os.environ)
    env.update(
        OAR_JOB_ID=str(job.id),
        OAR_JOBID=str(job.id),
        OAR_NODEFILE=str(nodefile),
        OAR_NODE_FILE=str(nodefile),
        OAR_FILE_NODES=str(nodefile),
        OAR_RESOURCE_FILE=str(nodefile),
        OAR_JOB_WALLTIME_SECONDS=str(job.walltime),
        OAR_USER=job.user,
    )
    for key, value in api_overrides(args).items():  # the job's shell talks to the same API server
        if value:
            env[f"KAVLAN_{key.upper()}"] = (
                value if key == "api" else os.path.abspath(os.path.expanduser(value))
            )
    shell = os.environ.get("SHELL") or "/bin/bash"
    # the job's shell runs in this process's foreground; the job ends with it, as with OAR
    rc = await asyncio.to_thread(subprocess.call, [shell], env=env)
    with contextlib.suppress(NotFound):  # already ended (walltime, or oardel from inside)
        await service.delete_job(job.id)
    sys.stderr.write(f"Disconnected from OAR job {job.id}.\n")
    return rc


def _job_json(job: Job, service: Service) -> dict[str, object]:
    return {
        "uid": job.id,
        "user": job.user,
        "state": job.state.value,
        "name": job.name,
        "types": list(job.types),
        "walltime": job.walltime,
        "submitted_at": int(job.submitted),
        "started_at": int(job.started),
        "assigned_nodes": [service.inventory.node_fqdn(service.inventory.nodes[n]) for n in job.nodes],
        "resources_by_type": {"vlans": [str(v.vlan) for v in job.vlans]},
        "vlans": [asdict(v) for v in job.vlans],
        "sites": job_sites(service.inventory, job),
        "grid": job.grid,
    }


def _sites(job: Job, service: Service) -> str:
    """Where a job is: its site, or its sites joined by + (a job across sites)."""
    return "+".join(job_sites(service.inventory, job)) or "-"


# --- oarstat ---------------------------------------------------------------------------


def oarstat_main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(prog="kavlan-oarstat", description="List jobs, as oarstat does.")
    p.add_argument("-j", "--job", type=int, help="show this job only")
    p.add_argument(
        "-u", "--user", nargs="?", const="", default=None, help="jobs of USER (yours without a name)"
    )
    p.add_argument("-f", "--full", action="store_true", help="every detail of each job")
    p.add_argument("-s", "--state", action="store_true", help="only the state of each job")
    p.add_argument("-a", "--all", action="store_true", help="ended jobs too")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    args = p.parse_args(argv)
    if args.user and not USER_NAME.fullmatch(args.user):
        return _fatal(p.prog, BadInput(f"-u {args.user[:40]!r} is not a user name"))

    async def body(service: Service) -> int:
        if args.job is not None:
            jobs = [await service.job(args.job)]
        else:
            user = None if args.user is None else (args.user or service.user)
            jobs = await service.jobs(user=user, running=None if args.all else True)
        if args.json:
            print(json.dumps({str(j.id): _job_json(j, service) for j in jobs}, indent=2))
            return 0
        if args.state:
            for j in jobs:
                print(f"{j.id}: {j.state.value}")
            return 0
        if args.full:
            for j in jobs:
                print(_full(j, service))
            return 0
        print(
            f"{'Job id':<10} {'Name':<14} {'User':<14} {'Submission Date':<19} S {'Queue':<10} {'Site':<14} Grid"
        )
        print(f"{'-' * 10} {'-' * 14} {'-' * 14} {'-' * 19} - {'-' * 10} {'-' * 14} {'-' * 6}")
        for j in jobs:
            print(
                f"{j.id:<10} {j.name[:14]:<14} {j.user[:14]:<14} {_date(j.submitted)} {j.state.value[0]} default    "
                f"{_sites(j, service):<14} {'' if j.grid is None else j.grid}".rstrip()
            )
        await _print_unavailable(service)
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))


async def _print_unavailable(service: Service) -> None:
    """The nodes no new job gets, and why (a job's end could not bring them back); nothing when there are none."""
    try:
        marked = await service.unavailable()
    except KavlanError:
        return  # a server that does not list them: the jobs are what oarstat is asked for
    if marked:
        print("\nUnavailable nodes (an administrator clears them: kavlan-oarnodesetting -s Alive -h NODE):")
        for node, reason in marked.items():
            print(f"{node}: {reason}")


# --- oarnodesetting ----------------------------------------------------------------------


def oarnodesetting_main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(
        prog="kavlan-oarnodesetting",
        description="Make nodes a job's end could not bring back available again (administrators), as "
        "oarnodesetting -s Alive does.",
        add_help=False,  # -h is the node, as oarnodesetting's
    )
    p.add_argument("-s", "--state", required=True, choices=["Alive"], help="the state to set: Alive")
    p.add_argument(
        "-h", "--hostname", dest="nodes", action="append", required=True, help="a node (repeatable)"
    )
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    args = p.parse_args(argv)

    async def body(service: Service) -> int:
        for node in args.nodes:
            was = await service.set_available(node)
            print(f"{node}: Alive" + ("" if was else " (it was not marked unavailable)"))
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _full(j: Job, service: Service) -> str:
    hosts = "+".join(service.inventory.node_fqdn(service.inventory.nodes[n]) for n in j.nodes)
    vlans = ",".join(f"{v.vlan}@{v.site}" for v in j.vlans)
    lines = [
        f"Job_Id: {j.id}",
        f"    name = {j.name}",
        f"    owner = {j.user}",
        f"    state = {j.state.value}",
        f'    wanted_resources = -l "{j.request}"',
        f"    types = {', '.join(j.types)}",
        f"    assigned_hostnames = {hosts}",
        f"    vlans = {vlans}",
        f"    site = {_sites(j, service)}",
        f"    grid = {'' if j.grid is None else j.grid}",
        "    queue = default",
        f"    walltime = {format_walltime(j.walltime)}",
        f"    remaining = {format_walltime(j.remaining(time.time()))}",
        f"    submissionTime = {_date(j.submitted)}",
        f"    startTime = {_date(j.started)}",
    ]
    if j.ended:
        lines.append(f"    stopTime = {_date(j.ended)}")
    return "\n".join(lines) + "\n"


# --- oardel ----------------------------------------------------------------------------


async def _undeletable(service: Service, ids: Sequence[int]) -> list[tuple[int, KavlanError]]:
    """The jobs this user may not delete now (no such job, ended, someone else's), with the reason."""
    out = []
    for job_id in dict.fromkeys(ids):
        try:  # the service's own checks, in its words
            job = await service.job(job_id)
            if job.user != service.user and service.user not in service.settings.admins:
                raise NotAllowed(f"job {job_id} belongs to {job.user}, not to {service.user}")
            if not job.running:
                raise NotFound(f"job {job_id} has already ended ({job.state.value})")
        except KavlanError as exc:
            out.append((job_id, exc))
    return out


def oardel_main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(
        prog="kavlan-oardel", description="Delete jobs, as oardel does: their nodes go back to DEFAULT."
    )
    p.add_argument("jobs", nargs="+", help="job ids")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    args = p.parse_args(argv)
    ids = []
    for text in args.jobs:
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            return _fatal(p.prog, BadInput(f"job id {text[:40]!r} is not a number"))
        ids.append(int(text))

    async def body(service: Service) -> int:
        # every job is checked before any is deleted: a command that fails changes nothing
        refused = await _undeletable(service, ids)
        for job_id, exc in refused:
            sys.stderr.write(f"{p.prog}: cannot delete job {job_id}: {sentence(exc, OPTION_HINTS)}\n")
        if refused:
            return 1
        for job_id in dict.fromkeys(ids):
            await service.delete_job(job_id)
            print(f"Deleting the job = {job_id} ...REGISTERED.")
        print(f"The job(s) [ {' '.join(map(str, dict.fromkeys(ids)))} ] will be deleted in the near future.")
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))
