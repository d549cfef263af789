"""The servers' event streams relayed into the local bus: started by the first subscriber, one stream per
server, reconnected with a bounded, jittered backoff; a move can wait until its own events have arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ...events import Event, EventBus, MoveFinished
from .. import wire

if TYPE_CHECKING:
    from .transport import Transport

READY_WAIT = 2.0
"""Seconds a move waits for the event streams to be connected, so that the live view sees all of it."""
MOVE_EVENTS_WAIT = 1.0
"""Seconds a move waits, after its answer, for its last events to arrive."""
IDLE = 45.0
"""Seconds without a line (the server sends a heartbeat every 15 s) before the stream is reconnected."""
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0
"""Reconnection delays of the event stream, seconds (doubled, jittered)."""


class RemoteEvents(EventBus):
    """The local bus; the first subscriber or queue starts relaying the servers' event streams."""

    def __init__(self, start: Callable[[], None]) -> None:
        super().__init__()
        self._start = start

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(callback)
        self._start()
        return unsubscribe

    def queue(self, maxsize: int = 10_000) -> asyncio.Queue[Event]:
        q = super().queue(maxsize)
        self._start()
        return q


class Count:
    """A count that can be waited on: ``await count.reach(n)`` wakes as soon as it is ``n``, without polling."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = asyncio.Event()

    def add(self) -> None:
        self.value += 1
        # wake every waiter, then give the next ones an event of their own
        self._changed.set()
        self._changed = asyncio.Event()

    async def reach(self, n: int) -> None:
        while self.value < n:
            await self._changed.wait()


class EventStreams:
    """The relay of every server's ``/kavlan/events`` into ``bus``; each server once, under a site it serves."""

    def __init__(self, transport: Transport, servers: Mapping[str, str]) -> None:
        self.transport = transport
        self.servers = dict(servers)
        """A site each server serves, by URL."""
        self.bus = RemoteEvents(self.start)
        self.connects = Count()
        """How often a stream was (re)connected."""
        self.moves_seen = Count()
        """MoveFinished events relayed so far."""
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: asyncio.Event | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        if self._tasks or self._closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: a later subscriber starts them
        flags = [asyncio.Event() for _ in self.servers]
        self._ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._pump(base, site, flag), name=f"kavlan-events {base}")
            for (base, site), flag in zip(self.servers.items(), flags, strict=True)
        ]
        self._tasks.append(asyncio.create_task(self._all_ready(flags), name="kavlan-events ready"))

    async def close(self) -> None:
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def ready(self, timeout: float = READY_WAIT) -> None:
        """Wait (bounded) until every stream is connected, if they were started."""
        if self._ready is not None and not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)

    async def moves_arrived(self, count: int, timeout: float = MOVE_EVENTS_WAIT) -> None:
        """After moves, give their last events a moment to arrive (until ``count`` MoveFinished were relayed),
        so that a face sees them before it goes on; nothing to wait for when no stream runs."""
        if self._ready is None or not self._ready.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.moves_seen.reach(count), timeout)

    async def _all_ready(self, flags: list[asyncio.Event]) -> None:
        await asyncio.gather(*(f.wait() for f in flags))
        assert self._ready is not None
        self._ready.set()

    async def _pump(self, base: str, site: str, ready: asyncio.Event) -> None:
        """Relay one server's NDJSON event stream into the local bus; reconnect with a bounded, jittered backoff."""
        import aiohttp

        backoff = BACKOFF_FIRST
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(10.0, self.transport.settings.api_timeout), sock_read=IDLE
        )
        while not self._closed:
            try:
                session = self.transport.session(base)
                async with session.get(f"{base}/sites/{site}/kavlan/events", timeout=timeout) as resp:
                    if resp.status == 200:
                        self.connects.add()
                        ready.set()
                        backoff = BACKOFF_FIRST
                        async for line in resp.content:
                            self._relay(line)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass  # the server restarts or the network blips: try again
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _relay(self, line: bytes) -> None:
        try:
            data = json.loads(line)
            event = wire.decode_event(data) if isinstance(data, Mapping) else None
        except (ValueError, TypeError, KeyError):
            return  # a line this client cannot read (a newer server): skip it
        if event is None:
            return  # a heartbeat, or a type this client does not know
        if isinstance(event, MoveFinished):
            self.moves_seen.add()
        self.bus.publish(event)
