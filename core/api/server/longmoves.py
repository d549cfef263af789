"""Moves that outlive ``--move-wait``: kept for their user to poll, and finished before the server stops."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

KEEP_SECONDS = 600.0
"""A finished long move's answer stays readable this long..."""
KEEP_COUNT = 1000
"""...and at most this many finished ones are kept."""
SHUTDOWN_WAIT = 30.0
"""Seconds a stopping server gives the moves in flight to finish (verify, roll back, record)."""

Outcome = tuple[int, Any]
"""A move's answer as the POST gives it: (status, JSON body)."""


@dataclass
class LongMove:
    """A move that outlived ``--move-wait``: polled at ``/sites/{site}/kavlan/moves/{id}``."""

    id: str
    site: str
    user: str
    task: asyncio.Task[Outcome]
    started: float
    finished: float | None = None


class LongMoves:
    """Every move in flight (the server waits for them at shutdown) and the long ones, by id."""

    def __init__(self) -> None:
        self.kept: dict[str, LongMove] = {}
        self._tasks: set[asyncio.Task[Outcome]] = set()

    def start(self, move: Awaitable[Outcome]) -> asyncio.Task[Outcome]:
        task = asyncio.ensure_future(move)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def keep(self, site: str, user: str, task: asyncio.Task[Outcome]) -> LongMove:
        """A move still running when its answer is due: its id, for its user to poll."""
        self.prune()
        move = LongMove(uuid.uuid4().hex, site, user, task, time.time())
        task.add_done_callback(lambda _t: setattr(move, "finished", time.time()))
        self.kept[move.id] = move
        return move

    def get(self, mid: str) -> LongMove | None:
        self.prune()
        return self.kept.get(mid)

    def prune(self) -> None:
        now = time.time()
        done = sorted(
            (m for m in self.kept.values() if m.finished is not None), key=lambda m: m.finished or 0
        )
        for m in done:
            if now - (m.finished or now) > KEEP_SECONDS:
                del self.kept[m.id]
        done = [m for m in done if m.id in self.kept]
        for m in done[: max(0, len(done) - KEEP_COUNT + 1)]:
            del self.kept[m.id]

    async def finish(self, timeout: float | None = None) -> int:
        """A move in flight finishes (verify, roll back, record) before the process goes, within ``timeout``
        (default SHUTDOWN_WAIT) seconds; how many did not (their intents stay in the database)."""
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(list(self._tasks), timeout=timeout or SHUTDOWN_WAIT)
        return len(pending)
