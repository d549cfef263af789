"""A VLAN's DHCP server: its state, starting and stopping it, its leases."""

from __future__ import annotations

import json

from aiohttp import web

from ....model import vlan_label
from ... import wire
from .. import params
from ..errors import ApiError
from ..state import identity, state_of


async def get_dhcpd(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    return web.json_response({"state": await state.service.dhcp_state(vid, site)})


async def put_dhcpd(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    body = await params.json_body(request)
    action = body.get("action") if isinstance(body, dict) else None
    if action not in ("start", "stop"):
        raise ApiError(
            422,
            f'the body must be {{"action": "start"}} or {{"action": "stop"}}, not {json.dumps(body)[:80]}',
        )
    owner = state.inventory.global_owner.get(vid, site)
    if owner not in state.sites:
        raise ApiError(
            400, f"VLAN {vid} belongs to {owner}: its DHCP server is switched by {owner}'s KaVLAN server"
        )
    ident = identity(request)
    before = await state.service.dhcp_state(vid, site)
    async with state.audit.audited(
        ident, f"dhcp.{action}", before=before, site=owner, vlan=vlan_label(vid)
    ) as entry:
        entry.after = await state.service.dhcp(vid, action == "start", user=ident.user, site=site)
        entry.result = {"status": 204}
    return web.Response(status=204)


async def leases(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    vid = params.vlan(request, site)
    return web.json_response(wire.encode(await state.service.leases(vid, site)))
