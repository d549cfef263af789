"""The application factory (``init_app``: state, middlewares, routes, what starts and stops with it) and
``serve``: listen until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from .middlewares import authenticate, boundary
from .options import MAX_BODY, Options, tls_context
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
    state.close_logs()
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
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        tcp = web.TCPSite(
            runner, options.host, options.port, ssl_context=ctx, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await tcp.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        if ready is not None:
            ready(f"{'http' if ctx is None else 'https'}://{shown}:{port}", app[STATE].sites)
        await stop.wait()
    finally:
        await runner.cleanup()
