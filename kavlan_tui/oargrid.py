"""``kavlan-oargridsub``, ``kavlan-oargridstat``, ``kavlan-oargriddel``: reservations across sites, as oargrid's
commands make them (the tutorial's global VLAN), with their outputs: the lines the tutorial greps
(``Grid reservation id = N``, ``SSH KEY : PATH``) and the node list, one line per core, site after site."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kavlan_core.errors import BadInput, KavlanError
from kavlan_core.grids import parse_grid
from kavlan_core.interface import Service
from kavlan_core.model import Grid, Job
from kavlan_core.reservations import RequestError, format_walltime, nodefile_lines, parse_walltime

from .oar import _fatal, _Parser, _run
from .options import add_api_arguments, api_overrides
from .present import OPTION_HINTS, sentence

SUB = "[OAR_GRIDSUB]"


def _grid_id(prog: str, text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= 12:
        return int(text)
    sys.stderr.write(f"{prog}: grid reservation id {text[:40]!r} is not a number\n")
    return None


# --- oargridsub ---------------------------------------------------------------------------------


def _sub_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kavlan-oargridsub",
        description="Reserve nodes and VLANs on several sites at once, one job per site, all or nothing, as "
        "oargridsub does: SITE:rdef=RESOURCES[:prop=PROPERTIES][:type=TYPE],SITE:rdef=...",
    )
    p.add_argument(
        "parts",
        nargs="+",
        help='e.g. sophia:rdef="{\\"type=\'kavlan-global\'\\"}/vlan=1+/nodes=2",lille:rdef=/nodes=2',
    )
    p.add_argument("-t", "--type", dest="types", action="append", default=[], help="job type of every part")
    p.add_argument(
        "-w", "--walltime", help="the grid's walltime, HOURS[:MINUTES[:SECONDS]]: its jobs end together"
    )
    p.add_argument("-q", "--queue", default="default", help="the batch queue (only default here)")
    p.add_argument("-n", "--name", default="", help="the jobs' name")
    p.add_argument("-v", "--verbose", action="store_true", help="say each part's nodes and VLANs")
    p.add_argument("--json", action="store_true", help="print the grid as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    return p


def oargridsub_main(argv: Sequence[str] | None = None) -> int:
    p = _sub_parser()
    args = p.parse_args(argv)
    if args.queue != "default":
        return _fatal(p.prog, BadInput(f"unknown queue {args.queue[:40]!r}: the only queue here is default"))
    try:
        walltime = parse_walltime(args.walltime) if args.walltime is not None else None
    except RequestError as exc:
        return _fatal(p.prog, BadInput(str(exc)))

    async def body(service: Service) -> int:
        try:
            parts = parse_grid(args.parts, service.inventory)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
        grid = await service.grid_submit(parts, types=args.types, walltime=walltime, name=args.name)
        key = _ssh_key(service, grid)
        if args.json:
            print(json.dumps({**_grid_json(grid, service), "ssh_key": str(key)}, indent=2))
            return 0
        for part in grid.parts:
            print(f"{SUB} [{part.site}] Reservation success on {part.site} : batchId = {part.job.id}")
            if args.verbose:
                print(
                    f"{SUB} [{part.site}] nodes: {' '.join(part.job.nodes) or '-'}; VLANs: {_vlans(part.job)}"
                )
        print(f"{SUB} Grid reservation id = {grid.id}")
        print(f"{SUB} SSH KEY : {key}")
        print("\tYou can use this key to connect directly to your OAR nodes with the oar user.")
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))


def _vlans(job: Job) -> str:
    return ", ".join(f"{v.vlan}@{v.site}" for v in job.vlans) or "-"


def _ssh_key(service: Service, grid: Grid) -> Path:
    """The grid's SSH key (OpenSSH Ed25519, mode 0600), as oargridsub writes one for the jobs' nodes: the tutorial
    exports its path as OAR_JOB_KEY_FILE. Its path holds no colon (the tutorial cuts the line at one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = service.settings.data_path / "oargrid"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"oargrid_ssh_key_{grid.user}_{grid.id}"
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    path.with_name(path.name + ".pub").write_bytes(public + f" oargrid-{grid.id}\n".encode())
    return path


def _grid_json(grid: Grid, service: Service) -> dict[str, object]:
    return {
        "uid": grid.id,
        "user": grid.user,
        "state": "Running" if grid.running else "Terminated",
        "walltime": grid.walltime,
        "submitted_at": int(grid.created),
        "jobs": [
            {
                "site": p.site,
                "uid": p.job.id,
                "state": p.job.state.value,
                "assigned_nodes": [
                    service.inventory.node_fqdn(service.inventory.nodes[n]) for n in p.job.nodes
                ],
                "vlans": [v.vlan for v in p.job.vlans],
            }
            for p in grid.parts
        ],
    }


# --- oargridstat ----------------------------------------------------------------------------------


def oargridstat_main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(prog="kavlan-oargridstat", description="Show a grid reservation, as oargridstat does.")
    p.add_argument("grid", help="the grid reservation id")
    p.add_argument("-l", "--list", action="store_true", help="the nodes of every site, one line per core")
    p.add_argument(
        "-w", "--wait", action="store_true", help="wait until the jobs run (they run at once here)"
    )
    p.add_argument("-c", "--cluster", help="only this site's part (or a cluster's site)")
    p.add_argument("--json", action="store_true", help="the grid as JSON")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    args = p.parse_args(argv)
    grid_id = _grid_id(p.prog, args.grid)
    if grid_id is None:
        return 1

    async def body(service: Service) -> int:
        grid = await service.grid(grid_id)
        parts = grid.parts
        if args.cluster is not None:
            site = _site_named(service, args.cluster)
            parts = tuple(part for part in parts if part.site == site)
            if not parts:
                raise BadInput(f"grid reservation {grid.id} has no job on {site}")
        if args.json:
            print(json.dumps(_grid_json(grid, service), indent=2))
        elif args.list:
            for part in parts:
                nodes = [service.inventory.nodes[n] for n in part.job.nodes]
                print()
                for line in nodefile_lines(nodes, service.inventory.node_fqdn):
                    print(line)
        else:
            print(_summary(grid, parts))
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))


def _site_named(service: Service, name: str) -> str:
    if name in service.inventory.sites:
        return name
    if name in service.inventory.clusters:
        return service.inventory.clusters[name].site
    raise BadInput(f"unknown site or cluster {name[:40]!r} (sites: {', '.join(service.inventory.sites)})")


def _summary(grid: Grid, parts: Sequence[object]) -> str:
    lines = [
        f"Reservation # {grid.id}:",
        f"    submission date : {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(grid.created))}",
        f"    walltime : {format_walltime(grid.walltime)}",
        f"    user : {grid.user}",
        f"    state : {'Running' if grid.running else 'Terminated'}",
        "    clusters with job id:",
    ]
    for part in grid.parts:
        if part in parts:
            job = part.job
            lines.append(
                f"        {part.site} --> {job.id} (name = {job.name}, batch queue = default, "
                f"state = {job.state.value}, nodes = {len(job.nodes)}, vlans = {_vlans(job)})"
            )
    return "\n".join(lines)


# --- oargriddel -----------------------------------------------------------------------------------


def oargriddel_main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(prog="kavlan-oargriddel", description="Delete grid reservations: every job of each ends.")
    p.add_argument("grids", nargs="+", help="grid reservation ids")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    add_api_arguments(p)
    args = p.parse_args(argv)
    ids = [_grid_id(p.prog, text) for text in args.grids]
    if None in ids:
        return 1

    async def body(service: Service) -> int:
        wanted = [i for i in dict.fromkeys(ids) if i is not None]
        refused = await _undeletable(service, wanted)  # every grid checked before any is deleted
        for grid_id, exc in refused:
            sys.stderr.write(f"{p.prog}: cannot delete grid {grid_id}: {sentence(exc, OPTION_HINTS)}\n")
        if refused:
            return 1
        for grid_id in wanted:
            grid = await service.grid_delete(grid_id)
            for part in grid.parts:
                print(f"[OAR_GRIDDEL] delete the job: {part.job.id} on the cluster {part.site} ... DONE")
        return 0

    return _run(p.prog, body, args.debug, api_overrides(args))


async def _undeletable(service: Service, ids: Sequence[int]) -> list[tuple[int, KavlanError]]:
    from kavlan_core.errors import NotAllowed, NotFound

    out = []
    for grid_id in ids:
        try:
            grid = await service.grid(grid_id)
            if grid.user != service.user and service.user not in service.settings.admins:
                raise NotAllowed(f"grid reservation {grid_id} belongs to {grid.user}, not to {service.user}")
            if not grid.running:
                raise NotFound(f"grid reservation {grid_id} has already ended")
        except KavlanError as exc:
            out.append((grid_id, exc))
    return out
