"""This project's extensions under ``/sites/{site}/kavlan``: the testbed description, whoami, drift and repair,
monitoring (ports, fdb, isolation) and the event stream."""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from importlib import resources
from pathlib import Path

from aiohttp import web

from .... import tomlw
from ....errors import Unavailable
from ....events import Event
from ....inventory import DEMO
from ....model import DEFAULT, vlan_label
from ... import wire
from .. import params
from ..errors import ApiError
from ..limits import STREAM_WRITE_SECONDS
from ..state import ServerState, identity, state_of

NDJSON = "application/x-ndjson"
STREAM_QUEUE = 1000
"""Events a slow stream reader may lag behind before the oldest are dropped."""


def public_inventory(source: str) -> str:
    """The testbed description the server uses, as TOML, with every switch's ``credentials`` and ``options`` removed."""
    if not source or source == DEMO:
        text = resources.files("kavlan_core").joinpath("data/demo.toml").read_text()
    else:
        text = Path(source).expanduser().read_text()
    doc = tomllib.loads(text)
    for site in doc.get("site", []):
        for sw in site.get("switch", []) if isinstance(site, dict) else []:
            if isinstance(sw, dict):
                sw.pop("credentials", None)
                sw.pop("options", None)
    return tomlw.dumps(doc)


async def get_inventory(request: web.Request) -> web.Response:
    state = state_of(request)
    params.site(request)
    if state.inventory_text is None:
        state.inventory_text = public_inventory(state.service.settings.inventory)
    return web.Response(text=state.inventory_text, content_type="text/plain")


async def whoami(request: web.Request) -> web.Response:
    state = state_of(request)
    params.site(request)
    ident = identity(request)
    return web.json_response(
        {"uid": ident.user, "admin": state.is_admin(ident.user), "via": ident.via, "method": ident.method}
    )


async def drift(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    return web.json_response(wire.encode(await state.service.drift(site)))


async def repair(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    ident = identity(request)
    async with state.audit.audited(ident, "repair", site=site) as entry:
        report = await state.service.repair(site, user=ident.user)
        entry.before = {r.name: _label(r.old_vlan) for r in report.results}
        entry.after = {r.name: _label(r.new_vlan) for r in report.results}
        entry.result = {"status": 200, **report.counts()}
    return web.json_response(wire.encode(report))


# --- monitoring (issue 16): reads open to whoever may read the site, like drift ----------------------------


def _query_vlans(request: web.Request) -> list[int] | None:
    """The ``vlan`` query parameters (repeated), checked as VLAN ids; None when there is none."""
    raw = request.query.getall("vlan", [])
    if not raw:
        return None
    vlans = []
    for text in raw:
        vid = DEFAULT if text == "DEFAULT" else int(text) if text.isdigit() and len(text) < 5 else None
        if vid is None:
            raise ApiError(400, f"vlan={text!r} is not a VLAN id (a number, or DEFAULT)")
        vlans.append(vid)
    return vlans


async def ports(request: web.Request) -> web.Response:
    """``?node=NAME`` (repeated), ``&interval=SECONDS`` (0-10, default 1): each NIC's link and traffic."""
    state, site = state_of(request), params.site(request)
    names = request.query.getall("node", [])
    try:
        interval = float(request.query.get("interval", "1"))
    except ValueError:
        interval = -1.0
    if not 0 <= interval <= 10:
        raise ApiError(400, f"interval={request.query.get('interval')!r} must be seconds, from 0 to 10")
    foreign = [
        n for n in names if (ref := params.nic(state.inventory, n)) is not None and ref.node.site != site
    ]
    if foreign:
        raise ApiError(400, f"{', '.join(foreign[:3])} is not a node of {site}: ask its own site")
    return web.json_response(wire.encode(await state.service.port_loads(names, interval=interval)))


async def fdb(request: web.Request) -> web.Response:
    """``?vlan=ID``: what the site's switches learned (in that VLAN only)."""
    state, site = state_of(request), params.site(request)
    vlans = _query_vlans(request)
    if vlans is not None and len(vlans) > 1:
        raise ApiError(400, "give at most one vlan")
    return web.json_response(wire.encode(await state.service.fdb(vlans[0] if vlans else None, site)))


async def isolation(request: web.Request) -> web.Response:
    """``?vlan=ID`` (repeated; none: the whole site): the isolation check."""
    state, site = state_of(request), params.site(request)
    return web.json_response(wire.encode(await state.service.isolation(site, _query_vlans(request))))


def _label(vid: int | None) -> str | None:
    return vlan_label(vid) if vid is not None else None


async def events(request: web.Request) -> web.StreamResponse:
    """The service's events about the sites this user may read, one JSON line each, a heartbeat first and after
    every quiet ``--heartbeat``. Streams are bounded per user and in total; a reader that stops reading is
    dropped."""
    state = state_of(request)
    params.site(request)
    user = identity(request).user
    headers = {"Content-Type": NDJSON, "Cache-Control": "no-cache"}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    _admit_stream(state, user)
    state.streams[user] = state.streams.get(user, 0) + 1
    try:
        return await _stream(request, state, state.readable_sites(user), headers)
    finally:
        state.streams[user] -= 1
        if state.streams[user] <= 0:
            del state.streams[user]


def _admit_stream(state: ServerState, user: str) -> None:
    limits = state.options.limits
    if state.streams.get(user, 0) >= limits.max_streams_per_user:
        raise ApiError(
            429,
            f"{user} has {limits.max_streams_per_user} event streams open, the most a user may: close one",
            Unavailable,
            {"Retry-After": "15"},
        )
    if sum(state.streams.values()) >= limits.max_streams:
        raise ApiError(
            503,
            f"this server holds its most event streams ({limits.max_streams}): retry later",
            Unavailable,
            {"Retry-After": "15"},
        )


async def _stream(
    request: web.Request, state: ServerState, sites: frozenset[str], headers: dict[str, str]
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    queue = state.service.events.queue(maxsize=STREAM_QUEUE)
    try:
        await _send(resp, _heartbeat())
        while (event := await _next_event(state, queue)) is not None:
            if isinstance(event, Event):
                if state.event_sites.readable(event, sites):
                    await _send(resp, _line(event))
            else:
                await _send(resp, _heartbeat())
    except (ConnectionError, asyncio.CancelledError, TimeoutError):
        pass  # the client went, stopped reading, or the server stops
    finally:
        state.service.events.unqueue(queue)
    return resp


async def _send(resp: web.StreamResponse, line: bytes) -> None:
    async with asyncio.timeout(STREAM_WRITE_SECONDS):
        await resp.write(line)


async def _next_event(state: ServerState, queue: asyncio.Queue[Event]) -> Event | bool | None:
    """The next event; True when ``--heartbeat`` passed without one; None when the server stops."""
    if state.closing.is_set():
        return None
    getter = asyncio.ensure_future(queue.get())
    closing = asyncio.ensure_future(state.closing.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, closing}, timeout=state.options.heartbeat, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        closing.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    return None if closing in done else True


def _line(event: Event) -> bytes:
    return json.dumps(wire.encode_event(event)).encode() + b"\n"


def _heartbeat() -> bytes:
    return b'{"type": "Heartbeat", "at": %.3f}\n' % time.time()
