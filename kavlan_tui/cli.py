"""``kavlan``: the original's options, letters and long names, and their output formats, on the service (embedded or remote)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from kavlan_core import __version__ as VERSION

if TYPE_CHECKING:
    from kavlan_core.config import Settings
    from kavlan_core.events import Event
    from kavlan_core.interface import Service

    from .commands import Context, Result

HELP = """\
Usage: kavlan [options]
Specific options:
    -i, --vlan-id N                  set VLAN ID (integer or DEFAULT)
    -C, --ca-cert CA                 CA certificate
    -c, --client-cert CERT           client certificate
    -k, --client-key KEY             client key
    -l, --get-nodelist               Show nodenames in the given vlan
    -e, --enable-dhcp                Start DHCP server
    -d, --disable-dhcp               Stop DHCP server
    -V, --show-vlan-id               Show vlan id of job (needs -j JOBID)
    -g, --get-vlan                   Show vlan of nodes
    -s, --set-vlan                   Set vlan of nodes
    -j, --oar-jobid JOBID            OAR job id
    -m, --machine NODE               set nodename (several -m are OK)
    -f, --filename NODEFILE          read nodes from a file
    -u, --user USERNAME              username
    -v, --[no-]verbose               Run verbosely
    -q, --[no-]quiet                 Run quietly
        --[no-]debug                 Run with debug output
    -h, --help                       Show this message
        --version                    Show version
kavlan-tui extensions:
        --api URL                    Remote mode: the KaVLAN API server (https://host:port/); -C/-c/-k
                                     give its CA and your certificate
        --json                       Print results as JSON
        --dry-run                    With -s: print the plan per switch, change nothing
        --restart-via-at [DELAY]     With -s: schedule each node's network restart with at (in DELAY
                                     seconds, default 60), switch, check every node comes back
        --rollback                   With --restart-via-at: put back the ports of nodes that did not
                                     come back (always done: their undo restart brings them back)
        --no-dhcp-check              With -s: move real nodes into a VLAN whose DHCP server is off (you
                                     run your own there, or your nodes have static addresses)
        --drift                      Read every switch of the site, show ports not in the expected VLAN
        --repair                     Put drifted ports back in the expected VLAN (administrators)
        --site SITE                  With --drift/--repair: another site than this frontend's
    -m, --machine PATTERN            Ranges 'suno-[1-10]', 'suno-[1,3,5-7]' and wildcards 'suno-1*' name
                                     several nodes (-v says which)
Commands:
    kavlan ssh NODE [COMMAND]        Open a session on a node (through kavlan-N for a local VLAN)
    kavlan run [-m NODE|-f FILE|-j JOB] -- COMMAND
                                     Run a command on many nodes at once, one result per node
    kavlan ssh-config [--proxycommand]
                                     Print the ~/.ssh/config lines for the local VLANs' gateways
    kavlan ports [-m NODE|-f FILE|-j JOB] [--interval S]
                                     Link, speed, traffic rates and errors of the nodes' switch ports
    kavlan fdb [-i VLAN] [--site S]  MAC addresses the switches learned: VLAN, switch, port, node
    kavlan check-isolation [-j JOB | -i VLAN | --site S]
                                     Flag MACs learned where the VLANs say they must not be (exit 1)
"""

ACTIONS = {
    "show_vlan_id": "-V",
    "get_nodelist": "-l",
    "enable_dhcp": "-e",
    "disable_dhcp": "-d",
    "get_vlan": "-g",
    "set_vlan": "-s",
    "drift": "--drift",
    "repair": "--repair",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        from .present import printable

        sys.stderr.write(f"kavlan: {printable(message)} (see kavlan --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kavlan", add_help=False, allow_abbrev=False)
    p.add_argument("-i", "--vlan-id", dest="vlan")
    p.add_argument("-C", "--ca-cert", dest="ca_cert")
    p.add_argument("-c", "--client-cert", dest="client_cert")
    p.add_argument("-k", "--client-key", dest="client_key")
    p.add_argument("--api")
    p.add_argument("-l", "--get-nodelist", action="store_true")
    p.add_argument("-e", "--enable-dhcp", action="store_true")
    p.add_argument("-d", "--disable-dhcp", action="store_true")
    p.add_argument("-V", "--show-vlan-id", action="store_true")
    p.add_argument("-g", "--get-vlan", action="store_true")
    p.add_argument("-s", "--set-vlan", action="store_true")
    p.add_argument("-j", "--oar-jobid", dest="job")
    p.add_argument("-m", "--machine", dest="machines", action="append", default=[])
    p.add_argument("-f", "--filename", dest="nodefile")
    p.add_argument("-u", "--user", "--username", dest="user")
    p.add_argument("-v", "--verbose", action="store_true", default=False)
    p.add_argument("--no-verbose", dest="verbose", action="store_false")
    p.add_argument("-q", "--quiet", action="store_true", default=False)
    p.add_argument("--no-quiet", dest="quiet", action="store_false")
    p.add_argument("--debug", action="store_true", default=False)
    p.add_argument("--no-debug", dest="debug", action="store_false")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--version", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--restart-via-at", nargs="?", const="", default=None, metavar="DELAY")
    p.add_argument("--rollback", action="store_true")
    p.add_argument("--no-dhcp-check", action="store_true")
    p.add_argument("--drift", action="store_true")
    p.add_argument("--repair", action="store_true")
    p.add_argument("--site")
    return p


def _progress_printer(verbose: bool) -> Callable[[Event], None]:
    from .present import CLI_EVENTS, event_line

    def show(event: Event) -> None:
        line = event_line(event, timing=verbose) if isinstance(event, CLI_EVENTS) else None
        if line is not None:
            sys.stderr.write(f"kavlan: {line.text}\n")
            sys.stderr.flush()

    return show


def _settled_printer() -> Callable[[Event], None]:
    """What an unfinished move or job's end that this command found and settled became: always said (stderr)."""
    from kavlan_core.events import IntentSettled

    from .present import event_line

    def show(event: Event) -> None:
        line = event_line(event) if isinstance(event, IntentSettled) else None
        if line is not None:
            sys.stderr.write(f"kavlan: {line.text}\n")
            sys.stderr.flush()

    return show


async def run(args: argparse.Namespace) -> int:
    """One action of the original's: chosen, its options checked, done on the service, its result printed."""
    from kavlan_core.interface import connect

    from .stopping import attach

    action = _action(args)
    settings = _settings(args)
    _check_files(args, settings)
    service = await connect(settings)
    attach(service)
    try:
        ctx = _context(service, args)
        nodes = _expanded(service, _nodes(args, action), args.verbose)
        _check_options(args, action, nodes)
        if not args.quiet:
            service.events.subscribe(_settled_printer())
        await _check_values(ctx, args)
        if sys.stderr.isatty() and not args.quiet and not args.json or args.verbose:
            service.events.subscribe(_progress_printer(args.verbose))
        result = await ACTION_RUNNERS[action](ctx, args, nodes)
        return _print_result(result, action, args)
    finally:
        await service.close()


def _action(args: argparse.Namespace) -> str:
    """The one action asked for (-V, -l, -e, -d, -g, -s, --drift, --repair)."""
    from kavlan_core.errors import BadInput

    chosen = [flag for attr, flag in ACTIONS.items() if getattr(args, attr)]
    if len(chosen) > 1:
        raise BadInput(f"options {' and '.join(chosen)} cannot be used together: choose one action")
    if not chosen:
        raise BadInput("no action given: use one of -V, -l, -e, -d, -g, -s (see kavlan --help)")
    if args.site and chosen[0] not in ("--drift", "--repair"):
        raise BadInput("--site goes with --drift or --repair; the other options act where the nodes are")
    return chosen[0]


def _settings(args: argparse.Namespace) -> Settings:
    """The configuration with remote mode's options (--api, -C/-c/-k); -u acts as another user, for an
    administrator only."""
    from kavlan_core import config
    from kavlan_core.api.auth import USER_NAME
    from kavlan_core.errors import BadInput

    from .options import api_overrides

    remote = api_overrides(args)
    settings = config.load(**remote)
    if args.user is not None and not USER_NAME.fullmatch(args.user):
        raise BadInput(f"-u {args.user[:40]!r} is not a user name")
    if args.user and args.user != settings.user:
        if settings.user not in settings.admins:
            raise BadInput(
                f"only an administrator may act as another user ({args.user}); you are {settings.user}"
            )
        settings = config.load(user=args.user, **remote)
    return settings


def _context(service: Service, args: argparse.Namespace) -> Context:
    """The registry's context: the job of -j, or of the job's shell ($OAR_JOB_ID)."""
    from .commands import Context, parse_job

    job_text = getattr(args, "job", None) or os.environ.get("OAR_JOB_ID") or None
    verbose = getattr(args, "verbose", False)
    return Context(service, job_id=parse_job(job_text) if job_text else None, verbose=verbose)


def _nodes(args: argparse.Namespace, action: str) -> list[str]:
    """The nodes of -m and -f, for the actions that take nodes."""
    from kavlan_core.errors import BadInput

    nodes = list(args.machines)
    if args.nodefile:
        from .nodefile import read_nodefile

        nodes += read_nodefile(args.nodefile)
    if nodes and action in ("-V", "-e", "-d", "--drift", "--repair"):
        raise BadInput(f"option {action} takes no node (-m/-f): it acts on a job or a VLAN")
    return nodes


def _expanded(service: Service, nodes: list[str], verbose: bool) -> list[str]:
    """-m 'suno-[1-10]': the names each pattern stands for; with -v, what each became, on stderr."""
    from kavlan_core.patterns import describe_expansion

    from .commands import expand_nodes

    names, expansions = expand_nodes(service, nodes)
    if verbose:
        for expansion in expansions:
            sys.stderr.write(f"kavlan: {describe_expansion(expansion)}\n")
    return names


def _check_options(args: argparse.Namespace, action: str, nodes: list[str]) -> None:
    """The options of a move (--dry-run, --restart-via-at, --rollback) go with -s, and with each other; -l
    takes no node."""
    from kavlan_core.errors import BadInput

    if args.dry_run and action != "-s":
        raise BadInput("--dry-run goes with -s")
    if args.restart_via_at is not None and action != "-s":
        raise BadInput("--restart-via-at goes with -s")
    if args.restart_via_at is not None and args.dry_run:
        raise BadInput(
            "--restart-via-at and --dry-run cannot be used together: the dry run shows the switch plan alone"
        )
    if args.no_dhcp_check and action != "-s":
        raise BadInput("--no-dhcp-check goes with -s")
    if args.rollback and args.restart_via_at is None:
        raise BadInput("--rollback goes with --restart-via-at")
    _restart_delay(args.restart_via_at)
    if action == "-l" and nodes:
        raise BadInput("option -l lists a VLAN's nodes: it takes no -m/-f")


async def _check_values(ctx: Context, args: argparse.Namespace) -> None:
    """Every value given is checked, also where the action does not need it: a job that does not run, a VLAN
    the site has not, a site the testbed has not, is an error whatever else was said."""
    from kavlan_core.errors import BadInput

    from .commands import parse_vlan

    if args.job is not None and ctx.job_id is not None:
        await ctx.service.running_job(ctx.job_id)
    if args.vlan is not None:
        ctx.service.check_vlan(parse_vlan(args.vlan))
    if args.site is not None and args.site not in ctx.service.inventory.sites:
        sites = ", ".join(ctx.service.inventory.sites)
        raise BadInput(f"unknown site {args.site!r} (sites of this testbed: {sites})")


def _check_files(args: argparse.Namespace, settings: Settings) -> None:
    """-C/-c/-k name readable files, also when no API server is asked (the original always uses them)."""
    from kavlan_core.errors import BadInput

    if settings.api or settings.api_sites:
        return  # remote mode: the client reads them, and says what is wrong
    for flag, path in (("-C", args.ca_cert), ("-c", args.client_cert), ("-k", args.client_key)):
        if path is not None and not os.access(os.path.expanduser(path), os.R_OK):
            shown = path if path.isprintable() else repr(path)
            raise BadInput(f"option {flag}: cannot read {shown}")


def _restart_delay(text: str | None) -> int | None:
    """--restart-via-at's DELAY (None: the setting's); a delay is 0 or more seconds."""
    from kavlan_core.errors import BadInput

    if text is None or text == "":
        return None
    if text.isascii() and text.isdigit() and len(text) <= 6:
        return int(text)
    raise BadInput(f"--restart-via-at takes a delay in seconds (0 or more), not {text[:20]!r}")


async def _command(ctx: Context, name: str, values: dict[str, Any]) -> Result:
    """A registry command with its parameters already bound."""
    from .commands import REGISTRY

    command = REGISTRY.get(name)
    assert command is not None, f"the registry has no command {name}"
    return await command.handler(ctx, values)


async def _show_vlan_id(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    from kavlan_core.errors import BadInput

    if args.job is None and ctx.job_id is None:
        raise BadInput("option -V needs a job: -j JOBID (or run it inside the job's shell)")
    return await _command(ctx, "vlan", {"job": None})


async def _get_nodelist(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    return await _command(ctx, "nodes", {"vlan": args.vlan})


async def _dhcp(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    return await _command(ctx, "dhcp", {"action": "on" if args.enable_dhcp else "off", "vlan": args.vlan})


async def _drift(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    return await _command(ctx, "drift", {"site": args.site})


async def _repair(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    from .commands import move_result

    return move_result(await ctx.service.repair(args.site), verbose=True)


async def _get_vlan(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    return await _command(ctx, "get", {"nodes": nodes})


async def _set_vlan(ctx: Context, args: argparse.Namespace, nodes: list[str]) -> Result:
    """-s: a plain move (or its plan, --dry-run), or a staged one (--restart-via-at); into the job's VLAN
    when -i is not given."""
    from .commands import job_vlan, nodes_or_job, parse_vlan, staged_result

    vlan = args.vlan or str(await job_vlan(ctx, ctx.job_id))
    if args.restart_via_at is None:
        result = await _command(
            ctx,
            "set",
            {"vlan": vlan, "nodes": nodes, "dry-run": args.dry_run, "no-dhcp-check": args.no_dhcp_check},
        )
        if not (args.dry_run or args.quiet or args.json):
            _say_other_sites(ctx.service, result)
        return result
    delay = _restart_delay(args.restart_via_at)
    nodes = await nodes_or_job(ctx, nodes)
    report = await ctx.service.move_with_restart(
        nodes, parse_vlan(vlan), delay=delay, dhcp_check=not args.no_dhcp_check
    )
    return staged_result(report, verbose=args.verbose)


def _say_other_sites(service: Service, result: Result) -> None:
    """A node is moved on its own site's switches, whichever site's frontend asks (the tutorial runs kavlan on the
    node's site): say which site did it when it is not this frontend's. From the move's report alone (no read: a
    move that failed said why already)."""
    from kavlan_core.errors import KavlanError
    from kavlan_core.reports import Outcome

    data = result.data if isinstance(result.data, dict) else {}
    moved = [
        n for n, info in data.items() if isinstance(info, dict) and info.get("status") == Outcome.SUCCESS
    ]
    elsewhere: dict[str, dict[str, list[str]]] = {}
    with contextlib.suppress(KavlanError):
        for ref, plain in service.resolve(moved):
            if ref.node.site != service.site:
                by_switch = elsewhere.setdefault(ref.node.site, {})
                by_switch.setdefault(ref.nic.switch, []).append(plain.split(".")[0])
    for site, by_switch in elsewhere.items():
        nodes = [n for group in by_switch.values() for n in group]
        shown = ", ".join(nodes[:4]) + (f" and {len(nodes) - 4} more" if len(nodes) > 4 else "")
        sys.stderr.write(
            f"kavlan: {site} moved its node(s) {shown} on its switch(es) {', '.join(by_switch)} "
            f"(this frontend is {service.site}'s)\n"
        )


ACTION_RUNNERS: dict[str, Callable[[Context, argparse.Namespace, list[str]], Awaitable[Result]]] = {
    "-V": _show_vlan_id,
    "-l": _get_nodelist,
    "-e": _dhcp,
    "-d": _dhcp,
    "--drift": _drift,
    "--repair": _repair,
    "-g": _get_vlan,
    "-s": _set_vlan,
}


def _print_result(result: Result, action: str, args: argparse.Namespace) -> int:
    """The result as the original prints it (or as JSON); per-node failures on stderr; the exit status."""
    if args.json:
        print(result.render_json())
    elif action in ("-e", "-d"):
        # stdout stays clean for scripts; the confirmation goes to stderr
        if not args.quiet:
            for line in result.lines:
                sys.stderr.write(f"kavlan: {line}\n")
    else:
        for line in result.lines:
            print(line)
    if not args.json:
        for line in result.errors:
            sys.stderr.write(line + "\n")
    return 0 if result.ok else 1


SUBCOMMANDS = ("ssh", "run", "ssh-config")
MONITOR_SUBCOMMANDS = ("ports", "fdb", "check-isolation")
"""Run by :mod:`kavlan_tui.monitor_cli` (imported only for them)."""


SUBCOMMAND_HELP = {
    "ssh": "Open a session on a node, reached where it is (through kavlan-N for a local VLAN).",
    "run": "Run a command on many nodes at once, each reached where it is (as taktuk): one line per node and "
    "output line, each node's stderr on stderr, duplicates of a nodefile folded.",
    "ssh-config": "Print the ~/.ssh/config lines the tutorial writes by hand for the local VLANs' gateways.",
}


def _subcommand_parser(name: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"kavlan {name}", add_help=True, allow_abbrev=False, description=SUBCOMMAND_HELP[name])
    if name == "ssh":
        p.add_argument("node", help="the node (its plain name: kavlan finds its VLAN)")
        p.add_argument("command", nargs=argparse.REMAINDER, help="a command instead of a shell")
    elif name == "run":
        p.add_argument(
            "-m",
            "--machine",
            dest="machines",
            action="append",
            default=[],
            metavar="NODE",
            help="a node, or a pattern (suno-[1-4], suno-1*); several -m are OK",
        )
        p.add_argument("-f", "--filename", dest="nodefile", metavar="NODEFILE", help="read nodes from a file")
        p.add_argument("-j", "--oar-jobid", dest="job", metavar="JOBID", help="the nodes of this job")
        p.add_argument(
            "--json", action="store_true", help="each node's exit status, stdout and stderr as JSON"
        )
        p.add_argument(
            "command", nargs=argparse.REMAINDER, help="after --: the command, run by each node's shell"
        )
    else:
        p.add_argument(
            "--proxycommand",
            action="store_true",
            help="the tutorial's ProxyCommand form (ssh -a -x kavlan-N nc -q 0 %%h %%p) rather than ProxyJump",
        )
    return p


async def run_subcommand(name: str, argv: list[str]) -> int:
    """``kavlan ssh NODE [CMD]``, ``kavlan run [-m/-f/-j] -- CMD``, ``kavlan ssh-config``."""
    from kavlan_core import config
    from kavlan_core.interface import connect

    from .stopping import attach

    args = _subcommand_parser(name).parse_args(argv)
    service = await connect(config.load())
    attach(service)
    try:
        ctx = _context(service, args)
        if name == "ssh":
            words = [w for w in args.command if w != "--"]
            return await service.ssh(args.node, " ".join(words) or None)
        if name == "ssh-config":
            sys.stdout.write(service.ssh_config("proxycommand" if args.proxycommand else "proxyjump"))
            return 0
        if args.job is not None and ctx.job_id is not None:
            await service.running_job(ctx.job_id)
        return await _run_on_nodes(ctx, args)
    finally:
        await service.close()


async def _run_on_nodes(ctx: Context, args: argparse.Namespace) -> int:
    """``kavlan run``: the command on every node, one result per node."""
    from kavlan_core.errors import BadInput

    words = [w for w in args.command if w != "--"] if args.command[:1] == ["--"] else args.command
    if not words:
        raise BadInput("no command to run: kavlan run -f NODEFILE -- COMMAND")
    from .nodefile import read_nodefile

    nodes = list(args.machines) + (read_nodefile(args.nodefile) if args.nodefile else [])
    result = await _command(ctx, "run", {"command": " ".join(words), "nodes": nodes})
    if args.json:
        print(result.render_json())
    else:
        for line in result.lines:
            print(line)
        for line in result.errors:
            sys.stderr.write(line + "\n")
    return 0 if result.ok else 1


async def _run_monitor(name: str, argv: list[str]) -> int:
    from kavlan_core import config
    from kavlan_core.interface import connect

    from . import monitor_cli
    from .stopping import attach

    monitor_cli.parser(name).parse_args(argv)  # a usage error before any connection
    service = await connect(config.load())
    attach(service)
    try:
        return await monitor_cli.run(name, argv, service)
    finally:
        await service.close()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in MONITOR_SUBCOMMANDS:
        return _guarded(lambda: _run_monitor(argv[0], argv[1:]), debug="--debug" in argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _guarded(lambda: run_subcommand(argv[0], argv[1:]), debug="--debug" in argv)
    args = build_parser().parse_args(argv)
    if args.help or args.version:
        return _print_plain(HELP if args.help else f"kavlan (kavlan-tui) {VERSION}\n")
    return _guarded(lambda: run(args), debug=args.debug)


def _print_plain(text: str) -> int:
    """--help and --version: the text, with run_guarded's edge for a reader gone (present is imported then only:
    it loads the core's events, and asyncio with them, which these two do without)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    except BrokenPipeError:
        from .present import EXIT_OUTPUT_CLOSED, silence_stdout

        silence_stdout()
        return EXIT_OUTPUT_CLOSED


def _guarded(body: Callable[[], Coroutine[Any, Any, int]], *, debug: bool) -> int:
    """Run the command; an error the user can cause is one sentence on stderr (a traceback only with --debug)."""
    import asyncio  # here, not at the top: --version and --help start without it

    from .present import CLI_HINTS, run_guarded
    from .stopping import Stopper

    stopper = Stopper("kavlan")
    return run_guarded(
        "kavlan", lambda: asyncio.run(stopper.run(body)), debug=debug, hints=CLI_HINTS, say_interrupted=True
    )


if __name__ == "__main__":
    raise SystemExit(main())
