"""The server's side of each connection, under aiohttp: every connection admitted (or refused) by
:class:`~.connections.Connections` when it opens; a refused client certificate answered with its TLS alert
and logged; a request the HTTP parser refuses answered in JSON and logged; the listening site that puts them
together.

asyncio's TLS protocol closes a failed handshake without sending the alert OpenSSL wrote (the client then only
sees the connection drop): :class:`GuardedTLS` sends it first, so that a client can say why it was refused.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from asyncio import sslproto
from collections.abc import Callable, Mapping
from typing import Any, cast

from aiohttp import web, web_protocol
from aiohttp.web_request import BaseRequest

from ...errors import BadInput
from .. import wire
from .connections import Conn, Connections

Log = Callable[[Mapping[str, Any]], None]

TLS_BUFFER = 64 * 1024
"""Bytes of a TLS connection's read buffer (asyncio's default, 256 KiB, times a thousand idle connections is a
quarter of a gigabyte)."""


class GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's request handler with the guard's record of its connection (``guard_conn``) and this API's
    answer to a request the HTTP parser refuses."""

    def __init__(
        self, manager: web.Server, *, connections: Connections, log: Log, tls: bool, **kwargs: Any
    ) -> None:
        super().__init__(manager, loop=asyncio.get_running_loop(), **kwargs)
        self.connections = connections
        self.log = log
        self.guard_conn: Conn | None = None
        self._admits = not tls  # over TLS, GuardedTLS admits the connection when it opens
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._admits:
            transport = cast(asyncio.Transport, transport)
            self.guard_conn = self.connections.admit(transport, tls=False)
            if self.guard_conn is None:
                self._refused = True
                transport.abort()
                return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        if self._admits and self.guard_conn is not None:
            self.connections.release(self.guard_conn)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not read (or, never here, a handler that raised): one JSON sentence, and its
        access-log line; the connection closes after it."""
        if status >= 500:
            sentence = "internal error of the KaVLAN API server (see its log)"
        else:
            sentence = f"the request is not valid HTTP: {_first_line(message or str(exc or ''))}"
        body = wire.error_body(BadInput(sentence), status)
        resp = web.Response(status=status, text=json.dumps(body), content_type="application/json")
        resp.force_close()
        client = self.guard_conn.client if self.guard_conn else str(request.remote or "-")
        self.log(
            {
                "user": None,
                "client": client,
                "method": None,
                "path": None,
                "status": status,
                "duration_ms": 0.0,
                "error": sentence,
            }
        )
        return resp


def _first_line(text: str, limit: int = 120) -> str:
    """aiohttp's parser message, first line, printable, bounded (it may quote the client's bytes)."""
    line = (text.strip().splitlines() or ["unreadable request"])[0]
    clean = "".join(ch if ch.isprintable() else "?" for ch in line)
    return clean[:limit] + ("..." if len(clean) > limit else "")


class GuardedTLS(sslproto.SSLProtocol):
    """asyncio's TLS protocol, admitting each connection when it opens, and sending a failed handshake's alert
    (an expired or unknown client certificate) before closing; the refusal is logged."""

    max_size = TLS_BUFFER

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: GuardedHandler,
        context: ssl.SSLContext,
        connections: Connections,
        timeout: float,
    ) -> None:
        super().__init__(
            loop,
            handler,
            context,
            None,  # type: ignore[arg-type]  # no waiter: a server connection
            server_side=True,
            # a client that neither finishes its handshake nor answers a close keeps its socket this long
            ssl_handshake_timeout=timeout,  # type: ignore[arg-type]  # a float is what asyncio uses
            ssl_shutdown_timeout=timeout,  # type: ignore[arg-type]
        )
        self._handler = handler
        self._connections = connections
        self._conn: Conn | None = None
        self._opened = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._conn = self._connections.admit(transport, tls=True)
        if self._conn is None:
            transport.abort()
            return
        self._handler.guard_conn = self._conn
        super().connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._conn is not None:
            self._connections.release(self._conn)
        super().connection_lost(exc)

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is None:
            if self._conn is not None:
                self._conn.tls_done = True
        else:
            self._send_alert()
            if self._conn is not None:
                self._connections.refusals.note(self._conn.group, f"TLS: {_tls_reason(handshake_exc)}")
        super()._on_handshake_complete(handshake_exc)

    def _send_alert(self) -> None:
        """What OpenSSL wrote for the client (the alert saying why), before asyncio drops the connection."""
        try:
            data = self._outgoing.read()  # type: ignore[attr-defined]
            if data and self._transport is not None:
                cast(asyncio.Transport, self._transport).write(data)
        except (OSError, RuntimeError):
            pass

    def _check_handshake_timeout(self) -> None:
        handshaking = self._state == sslproto.SSLProtocolState.DO_HANDSHAKE  # type: ignore[attr-defined]
        if handshaking and self._conn is not None:
            self._connections.refusals.note(self._conn.group, "TLS: no handshake within the header timeout")
        super()._check_handshake_timeout()


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"client certificate refused ({exc.verify_message})"
    reason = getattr(exc, "reason", None)
    return str(reason or exc).lower().replace("_", " ")[:120]


class GuardedSite(web.BaseSite):
    """A listening socket whose connections go through :class:`Connections` (and :class:`GuardedTLS` with
    TLS), handled by :class:`GuardedHandler`."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        connections: Connections,
        log: Log,
        handler_options: Mapping[str, Any],
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port = host, port
        self._connections = connections
        self._log = log
        self._options = dict(handler_options)

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        tls = self._ssl_context is not None
        handler = GuardedHandler(
            server, connections=self._connections, log=self._log, tls=tls, **self._options
        )
        if self._ssl_context is None:
            return handler
        loop = asyncio.get_running_loop()
        timeout = self._connections.limits.header_timeout
        return GuardedTLS(loop, handler, self._ssl_context, self._connections, timeout)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
