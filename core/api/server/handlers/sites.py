"""The sites this server serves, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from .. import params
from ..shapes import collection, site_item
from ..state import state_of
from .reference import site_document


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).document)


async def list_sites(request: web.Request) -> web.Response:
    root = params.base(request)
    items = [site_item(s, root) for s in state_of(request).sites]
    return web.json_response(collection(items, f"{root}/sites", f"{root}/"))


async def get_site(request: web.Request) -> web.Response:
    """The site's reference document (handlers/reference.py): the site item, its VLANs' networks, its clusters."""
    site = params.site(request)
    return web.json_response(site_document(state_of(request).inventory, site, params.base(request)))
