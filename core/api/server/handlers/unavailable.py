"""The nodes a job's end could not bring back, under ``/sites/{site}/kavlan/unavailable``: listed with their reason
(anyone who reads the site), cleared by an administrator (as ``oarnodesetting -s Alive``)."""

from __future__ import annotations

from aiohttp import web

from ....errors import NotFound
from .. import params
from ..errors import ApiError
from ..state import ServerState, identity, state_of


async def list_unavailable(request: web.Request) -> web.Response:
    """``{"items": [{"node", "reason"}], "total"}``: this site's nodes no new job gets, and why."""
    state, site = state_of(request), params.site(request)
    marked = await state.service.unavailable()
    items = [
        {"node": node, "reason": reason}
        for node, reason in marked.items()
        if (n := state.inventory.nodes.get(node)) is not None and n.site == site
    ]
    return web.json_response({"items": items, "total": len(items)})


async def clear_unavailable(request: web.Request) -> web.Response:
    """Make a node of this site available again (administrators: others get 403); ``{"node", "cleared"}``, cleared
    false when it was not marked."""
    state, site = state_of(request), params.site(request)
    node = _site_node(state, site, request.match_info["node"])
    ident = identity(request)
    async with state.audit.audited(ident, "node.available", site=site, node=node) as entry:
        cleared = await state.service.set_available(node, user=ident.user)
        entry.result = {"status": 200, "cleared": cleared}
    return web.json_response({"node": node, "cleared": cleared})


def _site_node(state: ServerState, site: str, raw: str) -> str:
    ref = params.nic(state.inventory, raw) if len(raw) <= params.MAX_NAME else None
    if ref is None:
        raise ApiError(404, f"unknown node {raw[:80]!r}: no such node in the testbed", NotFound)
    if ref.node.site != site:
        raise ApiError(404, f"{ref.node.name} is a node of {ref.node.site}, not of {site}", NotFound)
    return ref.node.name
