"""The application factory (``init_app``: state, middlewares, routes, what starts and stops with it) and
``serve``: listen until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from .connections import Connections
from .handlers import deployments
from .limits import MAX_BODY
from .middlewares import authenticate, boundary, meeting_expectations
from .options import Options, tls_context
from .protocols import GuardedSite
from .routes import setup_routes
from .state import STATE, ServerState

if TYPE_CHECKING:
    from ...config import Settings
    from ...service import KavlanService

SETTLE_EVERY = 30.0
"""Seconds between the server's rounds of settling what killed processes left unfinished (see service.watch)."""
SHUTDOWN_TIMEOUT = 5.0
"""Seconds open connections get to finish when the server stops (moves in flight get longer: longmoves)."""


def init_app(service: KavlanService, options: Options) -> web.Application:
    """The API over ``service``; the application closes the service (and the logs) when it is cleaned up."""
    app = web.Application(middlewares=[boundary, authenticate], client_max_size=MAX_BODY)
    app[STATE] = ServerState(service, options)
    app.on_shutdown.append(_stopping)
    app.cleanup_ctx.append(_lifetime)
    setup_routes(app)
    deployments.setup(app)
    return app


async def _stopping(app: web.Application) -> None:
    state = app[STATE]
    state.closing.set()  # the event streams end
    left = await state.moves.finish()
    if left:
        sys.stderr.write(
            f"kavlan-api: {left} move(s) still under way at shutdown: their intents stay in the database, and "
            "the next kavlan command (or this server, started again) completes or rolls them back\n"
        )


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    # unfinished moves and jobs' ends (a killed process's) are settled at start, then every SETTLE_EVERY seconds
    watch = asyncio.ensure_future(state.service.watch(SETTLE_EVERY, _log_fault))
    yield
    watch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watch
    state.close()
    await state.service.close()


def _log_fault(exc: Exception) -> None:
    sys.stderr.write(f"kavlan-api: settling unfinished moves failed: {type(exc).__name__}: {exc}\n")


async def serve(
    options: Options, settings: Settings, *, ready: Callable[[str, Sequence[str]], None] | None = None
) -> None:
    """Run until SIGTERM or SIGINT; ``ready`` gets the URL and the served sites once the socket listens."""
    from ...service import KavlanService

    ctx = None if options.insecure_http else tls_context(options)
    service = KavlanService(settings)
    try:
        app = init_app(service, options)
    except BaseException:
        await service.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with listening(app, options, ctx) as url:
        if ready is not None:
            ready(url, app[STATE].sites)
        await stop.wait()


@contextlib.asynccontextmanager
async def listening(
    app: web.Application, options: Options, ctx: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """``app`` listening on ``--listen`` behind the connection guard (with TLS when ``ctx``), until the block
    ends; yields its URL. The application (and its service) is cleaned up after."""
    limits = options.limits
    runner = web.AppRunner(
        app,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=limits.header_timeout,
    )
    await runner.setup()
    log = app[STATE].access_log.write
    assert runner.server is not None
    runner.server.request_handler = meeting_expectations(runner.server.request_handler, log)
    connections = Connections(limits, log)
    if connections.max_total < limits.max_connections:
        sys.stderr.write(
            f"kavlan-api: the open-files limit allows {connections.max_total} connections, not "
            f"{limits.max_connections} (--max-connections): raise it with ulimit -n\n"
        )
    sweeper = asyncio.create_task(connections.run())
    try:
        site = GuardedSite(
            runner,
            options.host,
            options.port,
            ssl_context=ctx,
            connections=connections,
            log=log,
            handler_options={
                "access_log": None,
                "keepalive_timeout": limits.header_timeout,
                # bodies are read as sent: no client of this API compresses them (nor does g5k-api read
                # compressed ones), and a decompressor is work and memory an attacker would choose
                "auto_decompress": False,
            },
        )
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        yield f"{'http' if ctx is None else 'https'}://{shown}:{port}"
    finally:
        sweeper.cancel()
        connections.refusals.flush(everything=True)
        await runner.cleanup()
        connections.close_all()
