"""The sites this server serves, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from .. import params
from ..shapes import collection, site_item
from ..state import state_of


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).document)


async def list_sites(request: web.Request) -> web.Response:
    root = params.base(request)
    items = [site_item(s, root) for s in state_of(request).sites]
    return web.json_response(collection(items, f"{root}/sites", f"{root}/"))


async def get_site(request: web.Request) -> web.Response:
    return web.json_response(site_item(params.site(request), params.base(request)))
