"""This project's extensions under ``/sites/{site}/kavlan``: the testbed description, whoami, drift and repair,
and the event stream."""

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
from ....model import vlan_label
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
