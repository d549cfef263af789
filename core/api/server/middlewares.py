"""The two middlewares: the error boundary (every error becomes one answer, every request one access line, and
its connection is busy meanwhile), and authentication (who the request is). ``settle`` is the one way an error
becomes an answer."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import hdrs, web

from ...errors import BadInput, NotFound
from .. import auth, wire
from .connections import Connections
from .errors import ApiError, answer_of
from .logs import access_record
from .state import CLAIMED, IDENTITY, state_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RawHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

READS = frozenset({"GET", "HEAD"})
PUBLIC = frozenset({"/openapi.json", "/stable/openapi.json"})
"""Served without credentials."""
GONE = 499
"""The access log's status of a request whose client went away before its answer (nginx's)."""


def settle(exc: BaseException) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    """The answer to ``exc`` as (status, JSON body, headers); an internal fault's detail goes to the server's
    log only. Nothing is masked: no secret reaches a message (switch credentials are scrubbed at their source)."""
    answer = answer_of(exc)
    if answer.log:
        sys.stderr.write(answer.log)
    return answer.status, wire.error_body(answer.error, answer.status), answer.headers


def _client(request: web.BaseRequest) -> str | None:
    conn = getattr(request.protocol, "guard_conn", None)
    return conn.client if conn is not None else request.remote


def meeting_expectations(handler: RawHandler, log: Callable[[Mapping[str, Any]], None]) -> RawHandler:
    """The server's request handler, with a request whose ``Expect`` header asks for anything but
    ``100-continue`` refused here (417, one JSON sentence, its access line), where aiohttp would refuse it in
    plain text, unlogged, before any middleware runs."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        expect = request.headers.get(hdrs.EXPECT)
        if not expect or expect.lower() == "100-continue":  # aiohttp's own reading of it
            return await handler(request)
        t0 = time.perf_counter()
        status, body, _ = settle(
            ApiError(417, f"the server meets no expectation but 100-continue ({expect[:40]!r})")
        )
        resp = web.json_response(body, status=status)
        resp.force_close()  # the body, if any, is not read
        seconds = time.perf_counter() - t0
        log(
            access_record(
                request.method,
                request.path,
                request.query_string,
                status,
                seconds,
                None,
                None,
                _client(request),
            )
        )
        return resp

    return handle


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes its answer here, and every request its access log line; the request's connection is
    busy (never closed to make room) while it is handled."""
    state = state_of(request)
    t0 = time.perf_counter()
    conn = getattr(request.protocol, "guard_conn", None)
    connections: Connections | None = getattr(request.protocol, "connections", None)
    if conn is not None and connections is not None:
        connections.busy(conn)
    try:
        resp = await handler(request)
    except asyncio.CancelledError:
        raise
    except ConnectionError:
        resp = web.Response(status=GONE)  # nobody reads it: the line says the client went
    except Exception as exc:
        fault = _http_error(request, exc) if isinstance(exc, web.HTTPException) else exc
        status, body, headers = settle(fault)
        resp = web.json_response(body, status=status, headers=headers)
        if headers.get("Connection") == "close":
            resp.force_close()
    finally:
        if conn is not None and connections is not None:
            connections.idle(conn)
    record = access_record(
        request.method,
        request.path,
        request.query_string,
        resp.status,
        time.perf_counter() - t0,
        request.get(IDENTITY),
        request.get(CLAIMED),
        _client(request),
    )
    state.access_log.write(record)
    return resp


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """aiohttp's own refusals (no route, wrong method, body too large) in this API's words."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    path = request.raw_path.split("?", 1)[0]  # as sent: percent-encoded, one line
    shown = path if len(path) <= 200 else path[:200] + "..."
    if exc.status == 405:
        message = f"{request.method} is not allowed on {shown} (allowed: {headers.get('Allow', 'none')})"
    elif exc.status == 404:
        message = f"no such resource: {shown}"
    elif exc.status == 413:
        message = "the request body is too large"
    else:
        message = exc.reason or "error"
    return ApiError(exc.status, message, NotFound if exc.status == 404 else BadInput, headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who the request is: its certificate's CN (lower case; none: anonymous), the user a trusted service acts
    for, or an HTTP Basic user. Anonymous may only read."""
    if request.path in PUBLIC:
        return await handler(request)
    state = state_of(request)
    cn = auth.peer_common_name(request.transport)
    act_for = request.headers.get(auth.ACT_FOR)
    authorization = request.headers.get("Authorization")
    basic = auth.parse_basic(authorization)
    claimed = cn or (basic[0] if basic else None)
    if claimed:
        request[CLAIMED] = claimed
    if cn is None and not authorization:
        hint = "a client certificate" + (" or HTTP Basic credentials" if state.passwords else "")
        raise auth.AuthError(401, f"authentication required: present {hint}")
    if cn is not None:
        ident = auth.identify_certificate(cn, act_for, state.services)
    elif basic is None:
        raise auth.AuthError(
            401, "authentication required: the Authorization header is no HTTP Basic credentials"
        )
    elif state.passwords is None:
        raise auth.AuthError(
            401, "this server accepts client certificates only (it has no users file for HTTP Basic)"
        )
    else:
        ident = await state.passwords.identify(*basic, act_for, _client(request) or "-")
    if ident.user == auth.ANONYMOUS and request.method not in READS:
        raise auth.AuthError(
            403,
            f"anonymous (a certificate without a user) may only read: name your user ({auth.ACT_FOR}; "
            "python-grid5000: ssluser)",
        )
    request[IDENTITY] = ident
    return await handler(request)
