"""Reading a request: the site, VLAN, node and user it names, its JSON body and flags; each refusal one sentence."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from ... import names
from ...errors import NotFound
from ...inventory import Inventory, NicRef
from ...model import DEFAULT
from .. import auth
from .errors import ApiError
from .state import state_of

JSON = "application/json"
_VLAN_ID = re.compile(r"^[1-9][0-9]{0,2}$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def site(request: web.Request) -> str:
    """The site of the path, if this server serves it."""
    state = state_of(request)
    name = request.match_info["site"]
    if name in state.sites:
        return name
    served = ", ".join(state.sites)
    if name in state.inventory.sites:
        raise ApiError(
            404,
            f"site {name} is not served by this server (it serves {served}): ask {name}'s KaVLAN server",
            NotFound,
        )
    raise ApiError(
        404,
        f"unknown site {name!r} (sites of this testbed: {', '.join(state.inventory.sites)}; served here: {served})",
        NotFound,
    )


def vlan(request: web.Request, site: str) -> int:
    """The VLAN of the path (``{id}``): DEFAULT or an id the site has."""
    inventory = state_of(request).inventory
    raw = request.match_info["id"]
    if raw == "DEFAULT":
        return DEFAULT
    if _VLAN_ID.match(raw) and int(raw) in inventory.vlan_ids(site):
        return int(raw)
    globals_ = ", ".join(str(v) for v in sorted(inventory.global_owner))
    raise ApiError(
        404, f"no VLAN {raw!r} at {site} (VLANs: DEFAULT, local 1-3, routed 4-9, global {globals_})", NotFound
    )


def user_name(raw: str) -> str:
    if not auth.USER_NAME.match(raw):
        raise ApiError(404, f"{raw!r} is not a user name", NotFound)
    return raw


def nic(inventory: Inventory, name: str) -> NicRef | None:
    """The NIC a name designates, or None for a name of no node."""
    try:
        return inventory.resolve(name)
    except (KeyError, names.BadHostname):
        return None


def uid(inventory: Inventory, ref: NicRef) -> str:
    """A NIC's name in the original's answers: its FQDN in DEFAULT (``-ethX`` for a secondary NIC)."""
    return inventory.hostname(ref, DEFAULT)


async def json_body(request: web.Request) -> Any:
    if request.content_type != JSON:
        raise ApiError(
            415, f"the request body must be JSON (Content-Type: {JSON}), not {request.content_type or 'none'}"
        )
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


async def node_names(request: web.Request) -> list[str]:
    body = await json_body(request)
    if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
        raise ApiError(400, "the request body must be a JSON array of node names (FQDNs)")
    return body


def flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, f"query parameter {name} must be true or false, not {raw!r}")
