"""``kavlan-kadeploy3``: the tutorial's one-step way, ``kadeploy3 -e ENV -f $OAR_NODEFILE -k --vlan N``: the site's
deployment (or the plain sentence that it has no system to install), then the nodes left in the VLAN and reachable
under their in-VLAN names (core/deploy.py, through the service: embedded, or the site's API server)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from kavlan_core.api import wire
from kavlan_core.errors import BadInput
from kavlan_core.interface import Service

from .commands import deploy_result
from .oar import _Parser, _run
from .options import add_api_arguments, api_overrides
from .present import printable

PROG = "kavlan-kadeploy3"
MAX_KEYFILE = 64 * 1024
DEFAULT_KEYS = "~/.ssh/authorized_keys"
"""What ``-k`` without a file installs, as kadeploy3's."""


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Deploy an environment on nodes and leave them in a VLAN, as kadeploy3 --vlan does: the "
        "site's deployment, root's key, the ports, the VLAN's DHCP, each node's network restarted, each node "
        "waited for under its in-VLAN name.",
    )
    env = p.add_mutually_exclusive_group(required=True)
    env.add_argument("-e", "--env-name", dest="env", metavar="ENV", help="the environment to deploy")
    env.add_argument(
        "-a",
        "--env-file",
        metavar="ENVFILE",
        help="the environment to deploy, described in a file (kadeploy's YAML: its name: line names it)",
    )
    p.add_argument(
        "-f", "--file", dest="nodefile", metavar="NODEFILE", help="a file of nodes ($OAR_NODEFILE)"
    )
    p.add_argument(
        "-m", "--machine", dest="machines", action="append", default=[], metavar="NODE", help="a node"
    )
    p.add_argument(
        "-k",
        "--key",
        nargs="?",
        const=DEFAULT_KEYS,
        metavar="KEYFILE",
        help="public key(s) for root on the nodes (without a file: ~/.ssh/authorized_keys)",
    )
    p.add_argument(
        "--vlan", required=True, metavar="N", help="the VLAN the nodes go into (one your job holds)"
    )
    p.add_argument(
        "-o", "--output-ok-nodes", dest="ok_file", metavar="FILE", help="write the nodes deployed here"
    )
    p.add_argument(
        "-n", "--output-ko-nodes", dest="ko_file", metavar="FILE", help="write the nodes not deployed"
    )
    p.add_argument(
        "--multi-server",
        action="store_true",
        help="accepted as kadeploy3's: the nodes of every site are always deployed by their own site",
    )
    p.add_argument("--json", action="store_true", help="the whole report as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    return p


def _vlan(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 100):
        raise BadInput(f"--vlan must be a VLAN id (1-9, or a global VLAN), not {printable(text[:20])!r}")
    return int(text)


def read_key(raw: str) -> str:
    """The public key file's text: one sentence for a file that cannot be read or is no text."""
    path = Path(raw).expanduser()
    try:
        data = path.read_bytes()[: MAX_KEYFILE + 1]
    except OSError as exc:
        raise BadInput(f"cannot read the key file {printable(raw)}: {exc.strerror}") from None
    if len(data) > MAX_KEYFILE:
        raise BadInput(
            f"the key file {printable(raw)} is larger than {MAX_KEYFILE // 1024} KiB: no public key"
        )
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise BadInput(f"the key file {printable(raw)} is not text (UTF-8)") from None


def env_name(args: argparse.Namespace) -> str:
    """The environment's name: ``-e``'s, or the ``name:`` line of ``-a``'s description file."""
    if args.env is not None:
        return str(args.env)
    path = Path(args.env_file).expanduser()
    try:
        text = path.read_bytes()[:MAX_KEYFILE].decode("utf-8", errors="replace")
    except OSError as exc:
        raise BadInput(
            f"cannot read the environment file {printable(args.env_file)}: {exc.strerror}"
        ) from None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "name" and value.strip():
            return value.strip().strip("'\"")
    raise BadInput(f"the environment file {printable(args.env_file)} has no name: line (kadeploy's YAML)")


def _nodes(args: argparse.Namespace) -> list[str]:
    nodes = list(args.machines)
    if args.nodefile:
        from .nodefile import read_nodefile

        nodes += read_nodefile(args.nodefile)
    if not nodes:
        raise BadInput("no node given: -f NODEFILE (e.g. $OAR_NODEFILE) or -m NODE")
    return nodes


def _write(path: str | None, lines: list[str]) -> None:
    if path:
        Path(path).expanduser().write_text("".join(line + "\n" for line in lines))


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)

    async def body(service: Service) -> int:
        vlan = _vlan(args.vlan)
        key = read_key(args.key) if args.key is not None else ""
        nodes = _nodes(args)
        from .commands import expand_nodes

        names, _expansions = expand_nodes(service, nodes)
        report = await service.deploy(names, vlan, environment=env_name(args), key=key)
        if args.json:
            print(json.dumps(wire.encode(report), indent=2))
        else:
            res = deploy_result(service, report)
            said = sum(
                1 for s in (report.installed, report.key, report.dhcp) if s
            )  # the first lines: sentences
            for line in res.lines[:said]:
                print(f"{PROG}: {line}")
            for line in res.lines[said:]:
                print(line)
            for line in res.errors:
                sys.stderr.write(printable(line) + "\n")
        _write(args.ok_file, [n.name for n in report.staged.nodes if report.state(n) == "OK"])
        _write(args.ko_file, [n.name for n in report.staged.nodes if report.state(n) == "KO"])
        return 0 if report.ok else 1

    return _run(p.prog, body, args.debug, api_overrides(args))
