"""``kavlan-lab``: build, inspect, enter and remove the one-machine lab testbed (network namespaces; needs root)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from kavlan_core.lab import frontend
from kavlan_core.lab.builder import DEFAULT_STATE_DIR, Lab, parse_sites
from kavlan_core.lab.frontend import LAB_USER
from kavlan_core.lab.status import format_status, status
from kavlan_core.lab.topology import DEFAULT_PREFIX, LabError

from .present import printable, run_guarded

PROG = "kavlan-lab"
NOT_ROOT = f"{PROG} needs root: it creates network namespaces and starts daemons (run it with sudo)."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {printable(message)} (see {PROG} --help)\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--state-dir",
        default=os.environ.get("KAVLAN_LAB_STATE_DIR") or str(DEFAULT_STATE_DIR),
        help=f"where the lab keeps its state, keys, logs and kavlan configuration (default {DEFAULT_STATE_DIR})",
    )
    common.add_argument(
        "--inventory", help="the lab's testbed description (TOML; default: the built-in lab.toml)"
    )
    common.add_argument(
        "--prefix",
        help=f"prefix of every lab namespace (default {DEFAULT_PREFIX}); with another action than up, the lab "
        "the state directory holds must run under it",
    )
    common.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p = _Parser(
        prog=PROG,
        description="A KaVLAN testbed on this machine: nodes, switches, router, gateways and a "
        "frontend as network namespaces, with DHCP, sshd and atd.",
    )
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    up = sub.add_parser("up", parents=[common], help="build the lab and start its daemons")
    up.add_argument(
        "--sites",
        metavar="SITE,SITE",
        help="the sites of the lab's testbed to build, the first one home (default: its first site alone); "
        "sites are joined by a trunk that carries only the global VLANs, e.g. --sites sophia,lille",
    )
    up.add_argument(
        "--api",
        action="store_true",
        help="remote mode: each site's frontend runs its own kavlan-api, and the kavlan configured there works "
        "against it (certificates from a lab CA)",
    )
    up.add_argument("--keep-on-failure", action="store_true", help="leave a half-built lab for inspection")
    sub.add_parser("down", parents=[common], help="stop and remove everything the lab made")
    st = sub.add_parser(
        "status", parents=[common], help="namespaces, daemons, and each node's VLAN and address"
    )
    st.add_argument("--json", action="store_true", help="JSON output")
    sh = sub.add_parser(
        "shell",
        parents=[common],
        help=f"an interactive shell in the frontend namespace, as its user {LAB_USER} (or a host's console)",
    )
    sh.add_argument("--host", help="a node or gateway instead of the frontend: its console (as root)")
    sh.add_argument(
        "--site", help="the frontend of this site (default: the home site's; another site's with --as root)"
    )
    _as_option(sh, "user")
    ex = sub.add_parser(
        "exec", parents=[common], help="run a command in the frontend namespace: exec -- CMD ... (as root)"
    )
    ex.add_argument("--host", help="a node or gateway instead of the frontend: its console")
    ex.add_argument("--site", help="the frontend of this site (default: the home site's)")
    _as_option(ex, "root")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    return p


def _as_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--as",
        dest="who",
        choices=("user", "root"),
        default=default,
        help=f"user: the frontend's user {LAB_USER}, as the tutorial's (not an administrator, a home of its own, "
        f"kavlan through the lab's kavlan-api); root: the lab's administrator (default {default})",
    )


def _up(lab: Lab, keep: bool) -> int:
    # a SIGTERM during up unwinds like Ctrl-C: the half-built lab is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    topo = lab.up(clean_on_failure=not keep)
    print(
        f"lab up in {time.monotonic() - started:.1f} s ({lab.dir}, prefix {lab.prefix}): {len(topo.nodes)} nodes, "
        f"{len(topo.switches)} switches, gateways {', '.join(h.name for h in topo.gateways)}"
    )
    if len(topo.parts) > 1:
        print(
            f"sites {', '.join(topo.parts)} (home {topo.site}), joined by a trunk carrying the global VLANs "
            f"{', '.join(str(v) for v in sorted(topo.inventory.global_owner))}; another site's frontend: "
            f"{PROG} exec --site SITE -- CMD"
        )
    print(f"enter it: {PROG} shell, or {PROG} exec -- CMD (kavlan, kavlan-oarsub, ssh NODE, ping NODE)")
    return 0


def _down(lab: Lab) -> int:
    report = lab.down()
    print(
        f"lab down: stopped {report.processes} processes, removed {len(report.namespaces)} namespaces "
        f"and {report.files} files"
    )
    for line in report.leftovers:
        sys.stderr.write(f"{PROG}: left behind: {line}\n")
    return 1 if report.leftovers else 0


def _enter(lab: Lab, command: list[str], host: str | None, site: str | None, who: str = "root") -> NoReturn:
    if lab.state is None or lab.state.phase != "up":
        raise LabError(f"no lab is up in {lab.dir}: run {PROG} up first")
    if host and site:
        raise LabError("give --host or --site, not both: a host's console is in its own site")
    if who == "user" and host is not None:
        raise LabError(f"a host's console is root's: {PROG} exec --host {host} --as root")
    if who == "user" and site is not None and site != lab.topology.home.name:
        raise LabError(
            f"the lab's user {LAB_USER} lives on the home site's frontend: give --as root with --site {site}"
        )
    where = host or ("frontend" if site is None else f"frontend.{site}")
    env = {**lab.env(site), "KAVLAN_LAB_WHERE": where, "HOME": str(lab.dir / "frontend" / "root")}
    if who == "user":
        frontend.ensure_api(lab)
        argv = frontend.argv(lab, command)
    else:
        argv = lab.argv(command, host, site)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        raise LabError(f"cannot run {argv[0]}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _act(args), debug=args.debug)


def _act(args: argparse.Namespace) -> int:
    """The action asked for; a user's error is raised for main to say."""
    if os.geteuid() != 0:
        raise LabError(NOT_ROOT)
    sites = parse_sites(getattr(args, "sites", None))
    lab = Lab(
        args.state_dir, args.inventory, args.prefix or DEFAULT_PREFIX, sites, getattr(args, "api", False)
    )
    if args.prefix and args.action != "up" and lab.state is not None and lab.state.prefix != args.prefix:
        # the state directory says which lab it is: acting on another than the one named would be a surprise
        raise LabError(
            f"the lab in {lab.dir} runs under prefix {lab.state.prefix}, not {args.prefix}: give the --state-dir "
            f"of the lab {args.prefix}"
        )
    if args.action == "up":
        return _up(lab, args.keep_on_failure)
    if args.action == "down":
        return _down(lab)
    if args.action == "status":
        data = status(lab)
        print(json.dumps(data, indent=2) if args.json else format_status(data))
        return 0
    if args.action == "shell":
        shell = shutil.which("bash")
        rc = lab.dir / "bin" / "shellrc"
        _enter(
            lab,
            [shell, "--rcfile", str(rc), "-i"] if shell else ["/bin/sh", "-i"],
            args.host,
            args.site,
            args.who,
        )
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise LabError(f"no command given: {PROG} exec -- CMD ...")
    _enter(lab, command, args.host, args.site, args.who)


if __name__ == "__main__":
    sys.exit(main())
