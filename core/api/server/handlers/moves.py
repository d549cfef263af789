"""Moving nodes into a VLAN (``POST /vlans/{id}/nodes``), and the answers of moves that outlived ``--move-wait``.

The original's per-node map is its answer: an unknown node is a failure of its own (``Unknown node``) and the
others move. This project's clients ask for the whole report (``?report=full``) or the plan (``?dry_run``), and
get the CLI's rule: any unknown node refuses the move (400), nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ....errors import KavlanError, NotFound
from ....model import vlan_label
from ....reports import MoveReport, Outcome
from ... import auth, wire
from .. import params
from ..errors import ApiError
from ..longmoves import KEEP_SECONDS
from ..longmoves import Outcome as Answer
from ..middlewares import settle
from ..state import ServerState, identity, state_of

ADDED = "Successfully added to vlan"
ALREADY = "Node already in vlan"
UNKNOWN = "Unknown node"
"""g5k-api's messages for a node moved, a node already in the VLAN, a name of no node."""


async def move(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    ident = identity(request)
    dry_run = params.flag(request, "dry_run")
    report = request.query.get("report", "nodes")
    if report not in ("nodes", "full"):
        raise ApiError(400, f"query parameter report must be nodes or full, not {report[:40]!r}")
    names = await params.node_names(request)
    full = report == "full"
    unknown: list[str] = []
    if not (dry_run or full):
        names, unknown = await params.split_names(state.inventory, names)
    _refuse_other_sites(state, site, names)
    if dry_run:
        return web.json_response(wire.encode(await state.service.plan(names, vid, user=ident.user)))
    if not names:
        return web.json_response({n: {"status": "failure", "message": UNKNOWN} for n in unknown})
    if request.query.get("dhcp_check") is None or params.flag(request, "dhcp_check"):
        # real nodes into a VLAN where no DHCP server answers would be reachable by nobody: 409, nothing moves
        known, _unknown = await params.split_names(state.inventory, names)
        await state.service.check_dhcp(known, vid)
    task = state.moves.start(_run(state, ident, site, vid, names, full=full, unknown=unknown))
    try:
        status, body = await asyncio.wait_for(asyncio.shield(task), state.options.move_wait)
    except TimeoutError:
        kept = state.moves.keep(site, ident.user, task)
        location = f"{params.base(request)}/sites/{site}/kavlan/moves/{kept.id}"
        return web.json_response(
            {"id": kept.id, "status": "running"}, status=202, headers={"Location": location}
        )
    return web.json_response(body, status=status)


def _refuse_other_sites(state: ServerState, site: str, names: Sequence[str]) -> None:
    """A node is always moved by its own site's server."""
    elsewhere = []
    for name in names:
        ref = params.nic(state.inventory, name) if len(name) <= params.MAX_NAME else None
        if ref is not None and ref.node.site != site:
            elsewhere.append(f"{params.uid(state.inventory, ref)} is a node of {ref.node.site}")
            if len(elsewhere) > 3:
                break
    if elsewhere:
        other = elsewhere[0].rsplit(" ", 1)[-1]
        more = " (and more)" if len(elsewhere) > 3 else ""
        raise ApiError(
            400,
            f"{'; '.join(elsewhere[:3])}{more}: a node is always moved by its own site's server "
            f"({other}'s, under /sites/{other}/)",
        )


async def _run(
    state: ServerState,
    ident: auth.Identity,
    site: str,
    vid: int,
    names: list[str],
    *,
    full: bool,
    unknown: Sequence[str] = (),
) -> Answer:
    """The move and its audit line; never raises: the answer is (status, body) as the POST gives it."""

    async def labels() -> dict[str, str] | None:
        try:
            return {n: vlan_label(v) for n, v in await state.service.vlan_of(names)}
        except KavlanError:
            return None

    objects = {"site": site, "vlan": vlan_label(vid), "nodes": names}
    if unknown:
        objects["unknown"] = list(unknown)
    try:
        async with state.audit.audited(
            ident, "vlan.set", before=await labels(), read_after=labels, **objects
        ) as entry:
            report = await state.service.set_vlan(names, vid, user=ident.user)
            failed = {r.name: r.message for r in report.failed}
            entry.result = {"status": 200, **report.counts(), "failed": failed}
    except Exception as exc:
        status, body, _headers = settle(exc)
        return status, body
    return 200, _answer(report, full=full, unknown=unknown)


def _answer(report: MoveReport, *, full: bool, unknown: Sequence[str] = ()) -> Any:
    """The whole report when asked for, else the original's per-node map, in its words."""
    if full:
        return wire.encode(report)
    out: dict[str, dict[str, str]] = {}
    for r in report.results:
        if r.status == Outcome.SUCCESS:
            message = ADDED
        elif r.status == Outcome.UNCHANGED and r.new_vlan == report.vlan:
            message = ALREADY
        else:
            message = r.message
        out[r.name] = {"status": str(r.status), "message": message}
    for name in unknown:
        out[name] = {"status": str(Outcome.FAILURE), "message": UNKNOWN}
    return out


async def get_move(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    ident = identity(request)
    mid = request.match_info["mid"]
    kept = state.moves.get(mid)
    # someone else's move does not exist, for anyone but an administrator
    if kept is None or kept.site != site or (kept.user != ident.user and not state.is_admin(ident.user)):
        raise ApiError(
            404,
            f"no move {mid[:40]} at {site} (answers are kept {int(KEEP_SECONDS // 60)} minutes)",
            NotFound,
        )
    if not kept.task.done():
        return web.json_response(
            {"id": mid, "status": "running"}, status=202, headers={"Location": request.path}
        )
    status, body = kept.task.result()
    return web.json_response(body, status=status)
