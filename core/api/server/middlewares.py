"""The two middlewares: the error boundary (every error becomes one answer, every request one access line), and
authentication (who the request is). ``settle`` is the one way an error becomes an answer."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from ...errors import BadInput, NotFound
from .. import auth, wire
from .errors import ApiError, answer_of
from .logs import access_record, mask
from .state import CLAIMED, IDENTITY, state_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def settle(exc: BaseException, secrets: Sequence[str]) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    """The answer to ``exc`` as (status, JSON body, headers), secrets masked; an internal fault's detail goes to
    the server's log only."""
    answer = answer_of(exc)
    if answer.log:
        sys.stderr.write(mask(answer.log, secrets))
    body = wire.error_body(answer.error, answer.status)
    body["message"] = mask(body["message"], secrets)
    return answer.status, body, answer.headers


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes its answer here, and every request its access log line."""
    state = state_of(request)
    t0 = time.perf_counter()
    try:
        resp = await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        fault = _http_error(request, exc) if isinstance(exc, web.HTTPException) else exc
        status, body, headers = settle(fault, state.secrets)
        resp = web.json_response(body, status=status, headers=headers)
    record = access_record(
        request.method,
        request.path,
        request.query_string,
        resp.status,
        time.perf_counter() - t0,
        request.get(IDENTITY),
        request.get(CLAIMED),
    )
    state.access_log.write(record)
    return resp


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """aiohttp's own refusals (no route, wrong method, body too large) in this API's words."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    if exc.status == 405:
        message = (
            f"{request.method} is not allowed on {request.path} (allowed: {headers.get('Allow', 'none')})"
        )
    elif exc.status == 404:
        message = f"no such resource: {request.path}"
    elif exc.status == 413:
        message = "the request body is too large"
    else:
        message = exc.reason or "error"
    return ApiError(exc.status, message, NotFound if exc.status == 404 else BadInput, headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who the request is: its certificate's CN, the user a trusted service acts for, or an HTTP Basic user."""
    if request.path == "/openapi.json":
        return await handler(request)
    state = state_of(request)
    cn = auth.peer_common_name(request.transport)
    authorization = request.headers.get("Authorization")
    basic = auth.parse_basic(authorization)
    claimed = cn or (basic[0] if basic else None)
    if claimed:
        request[CLAIMED] = claimed
    identify = functools.partial(
        auth.identify,
        cn=cn,
        authorization=authorization,
        act_for=request.headers.get(auth.ACT_FOR),
        trusted=state.options.trusted_services,
        users=state.users,
    )
    # checking a password costs a key derivation: keep it off the event loop
    request[IDENTITY] = identify() if cn or not authorization else await asyncio.to_thread(identify)
    return await handler(request)
