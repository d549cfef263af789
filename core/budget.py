"""The share of each switch's request rate that monitoring may use: a monitoring read of a switch waits until the
switch's budget has room again, and is charged with every request the switch was sent while it ran.

The budget is ``switch_request_rate * monitor_share`` requests per second per switch, kept per process (a TUI and
an API server each stay within theirs). It is a debt, not a bucket of tokens: the first read of a switch never
waits, and a read that cost ``n`` requests makes the next one of that switch wait ``n / budget`` seconds from its
start. Moves never go through it: monitoring gives way, a move never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from .drivers.base import SwitchDriver


class Budget:
    """Per switch: when its monitoring budget has room again, and what monitoring sent it (for the figures)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self.free_at: dict[str, float] = {}
        self.sent: dict[str, int] = {}
        """Requests charged to monitoring, by switch."""
        self.waited = 0.0
        """Seconds monitoring reads waited for the budget, in all."""
        self._locks: dict[str, asyncio.Lock] = {}

    def wait_for(self, switch: str) -> float:
        """Seconds before a monitoring read of ``switch`` may start."""
        return max(0.0, self.free_at.get(switch, 0.0) - self.clock())

    def charge(self, switch: str, started: float, requests: int) -> None:
        """A read that started at ``started`` cost ``requests`` (at least one: a driver that counts none)."""
        requests = max(1, requests)
        self.sent[switch] = self.sent.get(switch, 0) + requests
        self.free_at[switch] = max(self.free_at.get(switch, 0.0), started) + requests / self.per_second

    @contextlib.asynccontextmanager
    async def spend(self, switch: str, driver: SwitchDriver) -> AsyncIterator[None]:
        """One monitoring read of ``switch``: after the budget's wait, charged with what the driver sent during
        it (a move's requests sent meanwhile included: the budget errs on the switch's side). Reads of one switch
        queue for it in turn."""
        async with self._locks.setdefault(switch, asyncio.Lock()):
            wait = self.wait_for(switch)
            if wait > 0:
                self.waited += wait
                await self.sleep(wait)
            started, before = self.clock(), driver.requests_sent()
            try:
                yield
            finally:
                self.charge(switch, started, driver.requests_sent() - before)
