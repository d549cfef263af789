"""Reading a request: the site, VLAN, node and user it names, its JSON body and flags; each refusal one sentence."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from ... import names
from ...errors import NotFound
from ...inventory import Inventory, NicRef
from ...model import DEFAULT
from .. import auth
from .errors import ApiError
from .limits import (
    JOBS_LIMIT,
    JOBS_LIMIT_MAX,
    MAX_BODY,
    MAX_JSON_DEPTH,
    MAX_NAME,
    MAX_NODES,
    MAX_VALUES,
    RESOLVE_CHUNK,
)
from .state import state_of

JSON = "application/json"
_VLAN_ID = re.compile(r"[1-9][0-9]{0,2}")
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
        f"unknown site {name[:80]!r} (sites of this testbed: {', '.join(state.inventory.sites)}; served here: {served})",
        NotFound,
    )


def vlan(request: web.Request, site: str) -> int:
    """The VLAN of the path (``{id}``): DEFAULT or an id the site has."""
    inventory = state_of(request).inventory
    raw = request.match_info["id"]
    if raw == "DEFAULT":
        return DEFAULT
    if _VLAN_ID.fullmatch(raw) and int(raw) in inventory.vlan_ids(site):
        return int(raw)
    globals_ = ", ".join(str(v) for v in sorted(inventory.global_owner))
    raise ApiError(
        404,
        f"no VLAN {raw[:40]!r} at {site} (VLANs: DEFAULT, local 1-3, routed 4-9, global {globals_})",
        NotFound,
    )


def user_name(raw: str) -> str:
    if not auth.USER_NAME.fullmatch(raw):
        raise ApiError(404, f"{raw[:80]!r} is not a user name", NotFound)
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
    """The request's JSON, read within the body timeout and size, and checked: valid UTF-8, no lone surrogate
    (it could be stored nowhere), nested at most ``MAX_JSON_DEPTH`` levels."""
    if request.content_type != JSON:
        raise ApiError(
            415, f"the request body must be JSON (Content-Type: {JSON}), not {request.content_type or 'none'}"
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(
            415,
            f"the request body must be sent uncompressed, not as Content-Encoding {encoding[:40]!r}",
            headers=CLOSE,
        )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, TOO_LARGE)
    raw = await _read(request)
    if raw.count(b",") >= MAX_VALUES:  # counted at C speed, before any parsing
        raise ApiError(
            413,
            f"the request body holds more than {MAX_VALUES} values (a request names at most {MAX_NODES} nodes)",
        )
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid JSON: it is not UTF-8") from None
    except RecursionError:
        raise ApiError(400, f"the request body nests JSON more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    _check_json(value)
    return value


CLOSE = {"Connection": "close"}
"""An answer after which the connection ends: what is left of its body is not read."""
TOO_LARGE = f"the request body is larger than the server's limit ({MAX_BODY // 1024} KiB)"


async def _read(request: web.Request) -> bytes:
    timeout = state_of(request).options.limits.body_timeout
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s", headers=CLOSE) from None
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, TOO_LARGE) from None
    except (HttpProcessingError, ClientPayloadError, web.RequestPayloadError) as exc:
        # the rest of the body cannot be read either: the connection ends after this answer
        raise ApiError(
            400, f"the request body could not be read: {exc.__class__.__name__}", headers=CLOSE
        ) from None


def _check_json(value: Any) -> None:
    """Depth and text of a parsed body, without recursion (a body is at most ``MAX_BODY`` bytes)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (list, dict)):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, f"the request body nests JSON more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400,
                "the request body holds a string that is not Unicode text (a lone surrogate, e.g. \\ud800)",
            ) from None


MISSING = "Missing node list: the request body must be a JSON array of node names (FQDNs)"
"""g5k-api's words (and status, 422) for a body that names no node."""


async def node_names(request: web.Request) -> list[str]:
    """The node names of a body: a JSON array of at least one and at most ``MAX_NODES`` strings."""
    body = await json_body(request)
    if not isinstance(body, list) or not body:
        raise ApiError(422, MISSING)
    if len(body) > MAX_NODES:
        raise ApiError(413, f"a request names at most {MAX_NODES} nodes, not {len(body)}")
    if not all(isinstance(x, str) for x in body):
        raise ApiError(422, "the node list must hold node names (strings) only")
    return body


async def split_names(inventory: Inventory, names_: list[str]) -> tuple[list[str], list[str]]:
    """The names of known NICs (as the original answers them, duplicates removed) and the unknown names, in
    order; other requests run between chunks of ``RESOLVE_CHUNK`` names."""
    known: dict[str, None] = {}
    unknown: dict[str, None] = {}
    for i, name in enumerate(names_):
        if i and i % RESOLVE_CHUNK == 0:
            await asyncio.sleep(0)
        ref = nic(inventory, name) if len(name) <= MAX_NAME else None
        if ref is None:
            unknown[name] = None
        else:
            known[uid(inventory, ref)] = None
    return list(known), list(unknown)


def flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, f"query parameter {name} must be true or false, not {raw[:40]!r}")


def paging(request: web.Request) -> tuple[int, int]:
    """``offset`` and ``limit`` of a listing, as g5k-api reads them: offset 0 by default (a negative one is 0),
    limit ``JOBS_LIMIT`` by default and ``JOBS_LIMIT_MAX`` at most; a value that is no number is refused."""
    offset = _integer(request, "offset", 0)
    limit = _integer(request, "limit", JOBS_LIMIT)
    return max(0, offset), max(0, min(limit, JOBS_LIMIT_MAX))


def _integer(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
        raise ApiError(400, f"query parameter {name} must be a whole number, not {raw[:40]!r}")
    return int(text)


PREFIX = "/stable"
"""g5k-api's version in its paths: every route is served under it as well (python-grid5000's default URL ends
with it)."""


def base(request: web.Request) -> str:
    """``/stable`` when the request came under it (the links it gets stay under it), else empty."""
    return PREFIX if request.path.startswith(PREFIX + "/") else ""
