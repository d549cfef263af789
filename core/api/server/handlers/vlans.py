"""VLANs, the nodes in them, and the users holding them (the original's ``/vlans`` resources)."""

from __future__ import annotations

from aiohttp import web

from ....errors import NotFound
from ....inventory import NicRef
from ....model import vlan_label
from ... import wire
from .. import params
from ..errors import ApiError
from ..shapes import COLLECTION, collection, item_links, link, vlan_item
from ..state import state_of


def _vlans_links(base: str) -> list[dict[str, str]]:
    return [link("nodes", f"{base}/nodes", COLLECTION), link("users", f"{base}/users", COLLECTION)]


async def list_vlans(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    items = [vlan_item(state.inventory, site, v, root) for v in await state.service.vlans(site)]
    base = f"{root}/sites/{site}/vlans"
    return web.json_response(collection(items, base, f"{root}/sites/{site}", more=_vlans_links(base)))


async def get_vlan(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    info = next(v for v in await state.service.vlans(site) if v.id == vid)
    return web.json_response(vlan_item(state.inventory, site, info, params.base(request)))


async def vlan_nodes(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    vid = params.vlan(request, site)
    items = []
    for m in await state.service.members(vid, site):
        node = state.inventory.nodes[m.node]
        uid = params.uid(state.inventory, NicRef(node, node.nic(m.nic) or node.primary_nic))
        items.append({"uid": uid, "vlan": vlan_label(vid), **wire.encode(m)})
    base = f"{root}/sites/{site}/vlans/{vlan_label(vid)}"
    return web.json_response(collection(items, f"{base}/nodes", base))


def _node_items(root: str, site: str, placed: list[tuple[str, int]]) -> dict[str, object]:
    """Nodes and their VLANs. Unlike g5k-api's, the items carry no links: with a thousand nodes they would make
    the answer five times larger (each item's link is /sites/{site}/vlans/nodes/{uid})."""
    href = f"{root}/sites/{site}/vlans/nodes"
    items = [{"uid": n, "vlan": vlan_label(v)} for n, v in placed]
    return collection(items, href, f"{root}/sites/{site}/vlans", parent_kind=COLLECTION)


async def list_nodes(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    inventory = state.inventory
    nics = [params.uid(inventory, NicRef(n, nic)) for n in inventory.site_nodes(site) for nic in n.nics]
    return web.json_response(_node_items(params.base(request), site, await state.service.vlan_of(nics)))


async def get_node(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    raw = request.match_info["node"]
    ref = params.nic(state.inventory, raw) if len(raw) <= params.MAX_NAME else None
    if ref is None:
        raise ApiError(404, f"unknown node {raw[:80]!r}: no such node in the testbed", NotFound)
    name = params.uid(state.inventory, ref)
    if ref.node.site != site:
        raise ApiError(404, f"{name} is a node of {ref.node.site}, not of {site}", NotFound)
    ((uid, vid),) = await state.service.vlan_of([name])
    href = f"{root}/sites/{site}/vlans/nodes"
    return web.json_response(
        {"uid": uid, "vlan": vlan_label(vid), "links": item_links(f"{href}/{uid}", href)}
    )


async def nodes_vlans(request: web.Request) -> web.Response:
    """The VLAN of each named node of this site (the others are left out, as the original does)."""
    state, site = state_of(request), params.site(request)
    known, _unknown = await params.split_names(state.inventory, await params.node_names(request))
    here = [n for n in known if state.inventory.resolve(n).node.site == site]
    placed = await state.service.vlan_of(here) if here else []
    return web.json_response(_node_items(params.base(request), site, placed))


async def list_users(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    href = f"{root}/sites/{site}/vlans/users"
    items = [
        {"uid": user, "vlans": [vlan_label(v) for v in vids], "links": item_links(f"{href}/{user}", href)}
        for user, vids in (await state.service.holders(site)).items()
    ]
    return web.json_response(collection(items, href, f"{root}/sites/{site}/vlans", parent_kind=COLLECTION))


async def get_user(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    user = params.user_name(request.match_info["uid"])
    vids = (await state.service.holders(site, user=user)).get(user, [])
    href = f"{root}/sites/{site}/vlans/users"
    links = item_links(f"{href}/{user}", href)
    return web.json_response({"uid": user, "vlans": [vlan_label(v) for v in vids], "links": links})


async def vlan_users(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    vid = params.vlan(request, site)
    base = f"{root}/sites/{site}/vlans/{vlan_label(vid)}/users"
    items = [
        {"uid": user, "status": "authorized", "links": item_links(f"{base}/{user}", base)}
        for user in await state.service.vlan_holders(vid, site)
    ]
    return web.json_response(collection(items, base, f"{root}/sites/{site}/vlans/{vlan_label(vid)}"))


async def vlan_user(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    vid = params.vlan(request, site)
    user = params.user_name(request.match_info["uid"])
    allowed = await state.service.may_use_vlan(user, vid, site)
    base = f"{root}/sites/{site}/vlans/{vlan_label(vid)}/users"
    return web.json_response(
        {
            "uid": user,
            "status": "authorized" if allowed else "unauthorized",
            "links": [link("self", f"{base}/{user}"), link("parent", base, COLLECTION)],
        }
    )
