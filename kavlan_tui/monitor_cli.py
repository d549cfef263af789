"""``kavlan ports``, ``kavlan fdb`` and ``kavlan check-isolation``: the monitoring commands on the command line,
with the original's letters for what they name (-m/-f/-j nodes, -i VLAN), ``--json``, and an exit status that says
whether all is well (``check-isolation``: non-zero on a leak, or when a switch could not be read)."""

from __future__ import annotations

import argparse
import sys

from kavlan_core.errors import BadInput
from kavlan_core.interface import Service

from .cli import _command, _context, _Parser
from .commands import Context, Result

USAGE = {
    "ports": "kavlan ports [-m NODE|-f FILE|-j JOB] [--interval S] [--json]",
    "fdb": "kavlan fdb [-i VLAN] [--site S] [--json]",
    "check-isolation": "kavlan check-isolation [-j JOB | -i VLAN | --site S] [--json]",
}


def parser(name: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"kavlan {name}", usage=USAGE[name], allow_abbrev=False)
    p.add_argument("--json", action="store_true")
    p.add_argument("--debug", action="store_true")
    if name == "ports":
        p.add_argument("-m", "--machine", dest="machines", action="append", default=[])
        p.add_argument("-f", "--filename", dest="nodefile")
        p.add_argument("-j", "--oar-jobid", dest="job")
        p.add_argument("--interval", type=float, default=1.0)
    else:
        p.add_argument("-i", "--vlan-id", dest="vlan")
        p.add_argument("--site")
    if name == "check-isolation":
        p.add_argument("-j", "--oar-jobid", dest="job")
    return p


async def _ports(ctx: Context, args: argparse.Namespace) -> Result:
    from .commands import nodes_or_job
    from .monitor_commands import ports_result
    from .nodefile import read_nodefile

    if not 0 <= args.interval <= 10:
        raise BadInput(f"--interval {args.interval:g}: give seconds, from 0 to 10")
    names = list(args.machines) + (read_nodefile(args.nodefile) if args.nodefile else [])
    names = await nodes_or_job(ctx, names)
    return ports_result(await ctx.service.port_loads(names, interval=args.interval))


async def _check(ctx: Context, args: argparse.Namespace) -> Result:
    if args.vlan and args.job:
        raise BadInput("check-isolation takes -i VLAN or -j JOB, not both")
    if args.site and (args.vlan or args.job):
        raise BadInput("--site checks a whole site: it takes no -i or -j")
    if args.vlan:
        return await _command(ctx, "check-isolation", {"target": args.vlan, "value": None})
    if args.site:
        return await _command(ctx, "check-isolation", {"target": "site", "value": args.site})
    return await _command(ctx, "check-isolation", {"target": None, "value": None})


async def run(name: str, argv: list[str], service: Service) -> int:
    """Parse, run, print (the lines, or JSON), and the exit status."""
    args = parser(name).parse_args(argv)
    ctx = _context(service, args)
    if name == "ports":
        result = await _ports(ctx, args)
    elif name == "fdb":
        result = await _command(ctx, "fdb", {"vlan": args.vlan, "site": args.site})
    else:
        result = await _check(ctx, args)
    if args.json:
        print(result.render_json())
    else:
        for line in result.lines:
            print(line)
        for line in result.errors:
            sys.stderr.write(f"kavlan: {line}\n")
    return 0 if result.ok else 1
