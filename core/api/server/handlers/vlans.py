"""VLANs, the nodes in them, and the users holding them (the original's ``/vlans`` resources)."""

from __future__ import annotations

from aiohttp import web

from ....errors import NotFound
from ....inventory import NicRef
from ....model import vlan_label
from ... import wire
from .. import params
from ..errors import ApiError
from ..shapes import COLLECTION, collection, link, vlan_item
from ..state import state_of


async def list_vlans(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    items = [vlan_item(state.inventory, site, v) for v in await state.service.vlans(site)]
    return web.json_response(collection(items, f"/sites/{site}/vlans", f"/sites/{site}"))


async def get_vlan(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    info = next(v for v in await state.service.vlans(site) if v.id == vid)
    return web.json_response(vlan_item(state.inventory, site, info))


async def vlan_nodes(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    items = []
    for m in await state.service.members(vid, site):
        node = state.inventory.nodes[m.node]
        ref = NicRef(node, node.nic(m.nic) or node.primary_nic)
        items.append({"uid": params.uid(state.inventory, ref), "vlan": vlan_label(vid), **wire.encode(m)})
    base = f"/sites/{site}/vlans/{vlan_label(vid)}"
    return web.json_response(collection(items, f"{base}/nodes", base))


async def list_nodes(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    inventory = state.inventory
    nics = [params.uid(inventory, NicRef(n, nic)) for n in inventory.site_nodes(site) for nic in n.nics]
    items = [{"uid": n, "vlan": vlan_label(v)} for n, v in await state.service.vlan_of(nics)]
    return web.json_response(collection(items, f"/sites/{site}/vlans/nodes", f"/sites/{site}/vlans"))


async def get_node(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    raw = request.match_info["node"]
    ref = params.nic(state.inventory, raw)
    if ref is None:
        raise ApiError(404, f"unknown node {raw!r}: no such node in the testbed", NotFound)
    name = params.uid(state.inventory, ref)
    if ref.node.site != site:
        raise ApiError(404, f"{name} is a node of {ref.node.site}, not of {site}", NotFound)
    ((uid, vid),) = await state.service.vlan_of([name])
    return web.json_response({"uid": uid, "vlan": vlan_label(vid)})


async def nodes_vlans(request: web.Request) -> web.Response:
    """The VLAN of each named node of this site (the others are left out)."""
    state, site = state_of(request), params.site(request)
    known = []
    for name in await params.node_names(request):
        ref = params.nic(state.inventory, name)
        if ref is not None and ref.node.site == site:
            known.append(params.uid(state.inventory, ref))
    placed = await state.service.vlan_of(known) if known else []
    items = [{"uid": n, "vlan": vlan_label(v)} for n, v in placed]
    return web.json_response(collection(items, f"/sites/{site}/vlans/nodes", f"/sites/{site}/vlans"))


async def list_users(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    items = [
        {
            "uid": user,
            "vlans": [vlan_label(v) for v in vids],
            "links": [link("self", f"/sites/{site}/vlans/users/{user}")],
        }
        for user, vids in (await state.service.holders(site)).items()
    ]
    return web.json_response(collection(items, f"/sites/{site}/vlans/users", f"/sites/{site}/vlans"))


async def get_user(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    user = params.user_name(request.match_info["uid"])
    vids = (await state.service.holders(site, user=user)).get(user, [])
    links = [
        link("self", f"/sites/{site}/vlans/users/{user}"),
        link("parent", f"/sites/{site}/vlans/users", COLLECTION),
    ]
    return web.json_response({"uid": user, "vlans": [vlan_label(v) for v in vids], "links": links})


async def vlan_users(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    base = f"/sites/{site}/vlans/{vlan_label(vid)}/users"
    items = [
        {"uid": user, "status": "authorized", "links": [link("self", f"{base}/{user}")]}
        for user in await state.service.vlan_holders(vid, site)
    ]
    return web.json_response(collection(items, base, f"/sites/{site}/vlans/{vlan_label(vid)}"))


async def vlan_user(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    user = params.user_name(request.match_info["uid"])
    allowed = await state.service.may_use_vlan(user, vid, site)
    return web.json_response({"uid": user, "status": "authorized" if allowed else "unauthorized"})
