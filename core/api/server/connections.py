"""The server's connections: how many are open in total and per client address, the oldest idle one closed when
the server is full, an answer its client does not read ended, and every refusal logged (once, then counted).

A connection is *busy* while one of its requests is being handled (the error boundary marks it), *idle*
otherwise: in its TLS handshake, while its request's headers arrive, between keep-alive requests, or while its
answer is written. Idle connections are what an attacker without a certificate can hold; they are bounded in
time (``header_timeout``: the TLS handshake's and aiohttp's keep-alive timeouts) and are the first to go when
the server is full, so that a client with a request to make always gets in.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .limits import FD_RESERVE, REFUSAL_LOG_SECONDS, STALLED_HEADER_TIMEOUTS, Limits, client_group

Log = Callable[[Mapping[str, Any]], None]

FULL = "the server is full: every connection has a request in progress"
TOO_MANY = "too many connections from this address"
EVICTED = "closed while idle to make room (the server is full)"
STALLED = "closed: the client did not read its answer"
NO_REQUEST = "closed: no complete request"
REFUSALS_KEPT = 1000
"""Kinds of refusal from distinct addresses counted at once; beyond, they are counted under the address ``*``."""


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_bound(wanted: int, soft_limit: int | None = None) -> int:
    """``--max-connections``, lowered so that ``FD_RESERVE`` file descriptors stay free for the rest."""
    soft = open_files_limit() if soft_limit is None else soft_limit
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


@dataclass(eq=False)
class Conn:
    """One client connection, as the guard sees it."""

    client: str
    """Its address (the access log's ``client``)."""
    group: str
    """What the bound per address counts it in (``limits.client_group``)."""
    transport: asyncio.Transport
    opened: float
    since: float
    """When it last became idle (its opening, or the end of its last request)."""
    busy: int = 0
    requests: int = 0
    tls_done: bool = True
    closing: str = ""
    """Why the guard closes it (logged when it goes)."""


@dataclass
class _Count:
    first: float
    count: int = 0


class RefusalLog:
    """Refusals as access-log lines: the first of a kind from an address at once, the next ones counted and
    logged as one line every ``REFUSAL_LOG_SECONDS`` (an attacker cannot make the log grow faster)."""

    def __init__(self, log: Log, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._clock = clock
        self._counts: dict[tuple[str, str], _Count] = {}

    def note(self, client: str, reason: str, **extra: Any) -> None:
        key = (client, reason)
        if key not in self._counts and len(self._counts) >= REFUSALS_KEPT:
            key = ("*", reason)
        seen = self._counts.get(key)
        if seen is None:
            self._counts[key] = _Count(self._clock())
            self._log({"event": "refused", "client": client, "reason": reason, **extra})
        else:
            seen.count += 1

    def flush(self, *, everything: bool = False) -> None:
        now = self._clock()
        for key, seen in list(self._counts.items()):
            if everything or now - seen.first >= REFUSAL_LOG_SECONDS:
                del self._counts[key]
                if seen.count:
                    client, reason = key
                    self._log(
                        {
                            "event": "refused",
                            "client": client,
                            "reason": reason,
                            "count": seen.count,
                            "seconds": round(now - seen.first, 1),
                        }
                    )


@dataclass
class Connections:
    """Every open connection of one server: admitted or refused at its opening, marked busy and idle by the
    error boundary, closed when it stalls or when the server needs its place."""

    limits: Limits
    log: Log
    clock: Callable[[], float] = time.monotonic
    max_total: int = 0
    refusals: RefusalLog = field(init=False)
    _open: set[Conn] = field(default_factory=set)
    _idle: OrderedDict[Conn, None] = field(default_factory=OrderedDict)
    _per_client: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.max_total = self.max_total or connection_bound(self.limits.max_connections)
        self.refusals = RefusalLog(self.log, self.clock)

    @property
    def count(self) -> int:
        return len(self._open)

    def admit(self, transport: asyncio.Transport, *, tls: bool) -> Conn | None:
        """A new connection's record, or None: refused (its address holds too many, or the server is full of
        busy ones; logged). When the server is full, the connection idle for longest is closed instead."""
        client = _client(transport)
        group = client_group(client)
        if self._per_client[group] >= self.limits.max_per_client:
            self.refusals.note(group, TOO_MANY, limit=self.limits.max_per_client)
            return None
        if len(self._open) >= self.max_total and not self._evict():
            self.refusals.note(group, FULL, limit=self.max_total)
            return None
        now = self.clock()
        conn = Conn(client, group, transport, now, now, tls_done=not tls)
        self._open.add(conn)
        self._idle[conn] = None
        self._per_client[group] += 1
        return conn

    def _evict(self) -> bool:
        """Close the connection idle for longest (its place is free once it is gone)."""
        while self._idle:
            oldest, _ = self._idle.popitem(last=False)
            if oldest in self._open:
                self._close(oldest, EVICTED)
                return True
        return False

    def _close(self, conn: Conn, why: str) -> None:
        conn.closing = why
        self._forget(conn)
        conn.transport.abort()

    def _forget(self, conn: Conn) -> None:
        if conn in self._open:
            self._open.discard(conn)
            self._idle.pop(conn, None)
            self._per_client[conn.group] -= 1
            if self._per_client[conn.group] <= 0:
                del self._per_client[conn.group]

    def release(self, conn: Conn) -> None:
        """The connection is gone: its place is free; a connection that never made a request is logged."""
        self._forget(conn)
        why = conn.closing or (NO_REQUEST if conn.requests == 0 and conn.tls_done else "")
        if why == NO_REQUEST and self.clock() - conn.opened < 0.9 * self.limits.header_timeout:
            why = ""  # the client went by itself (a port check, a client giving up): nothing to say
        if why:
            self.refusals.note(conn.group, why)

    def busy(self, conn: Conn) -> None:
        conn.busy += 1
        conn.requests += 1
        self._idle.pop(conn, None)

    def idle(self, conn: Conn) -> None:
        conn.busy -= 1
        if conn.busy <= 0 and conn in self._open:
            conn.busy, conn.since = 0, self.clock()
            self._idle[conn] = None
            self._idle.move_to_end(conn)

    def sweep(self) -> None:
        """Close connections idle for much longer than aiohttp keeps an idle one (the header timeout): they are
        writing answers nobody reads."""
        deadline = self.clock() - STALLED_HEADER_TIMEOUTS * self.limits.header_timeout
        while self._idle:
            oldest = next(iter(self._idle))
            if oldest.since > deadline:
                break
            self._close(oldest, STALLED)
        self.refusals.flush()

    async def run(self, period: float = 1.0) -> None:
        """Sweep every ``period`` seconds until cancelled."""
        while True:
            await asyncio.sleep(period)
            self.sweep()

    def close_all(self) -> None:
        for conn in list(self._open):
            self._forget(conn)
            conn.transport.abort()


def _client(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "-")
