"""SIGTERM and SIGINT in the console scripts: outside a move the command stops at once; during a move, the move is
asked to stop at its next step (it finishes or rolls back the switches it began) and its per-node report is printed,
within the setting ``stop_deadline``; a second Ctrl-C does not cut it short. Past the deadline the process exits
anyway, leaving the move's intent in the database for the next command to complete or roll back, and says so.

OAR, systemd and ``timeout`` send SIGTERM; a user presses Ctrl-C, often twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kavlan_core.interface import Service

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""A shell's status for a command ended by each signal."""

_current: contextvars.ContextVar[Stopper | None] = contextvars.ContextVar("stopper", default=None)


def attach(service: Service) -> None:
    """The command's service, once made: the signals ask its moves to stop (nothing when no Stopper runs)."""
    stopper = _current.get()
    if stopper is not None:
        stopper.service = service


class Stopper:
    """Runs a command's coroutine with SIGTERM (and SIGINT, unless the face handles it) turned into a stop."""

    def __init__(self, prog: str, *, sigint: bool = True) -> None:
        self.prog = prog
        self.signals = (signal.SIGTERM, signal.SIGINT) if sigint else (signal.SIGTERM,)
        self.service: Service | None = None
        self.received: signal.Signals | None = None
        self._task: asyncio.Task[int] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    async def run(self, body: Callable[[], Awaitable[int]]) -> int:
        """``body``'s exit status, or the signal's when one came (after the move's report was printed)."""
        loop = asyncio.get_running_loop()
        token = _current.set(self)
        self._task = asyncio.ensure_future(body())
        for sig in self.signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            status = await self._task
        except asyncio.CancelledError:
            if self.received is None:
                raise
            self._say("interrupted")
            return EXIT_STATUS[self.received]
        finally:
            for sig in self.signals:
                loop.remove_signal_handler(sig)
            if self._deadline is not None:
                self._deadline.cancel()
            _current.reset(token)
        if self.received is not None:
            self._say(f"stopped by {self.received.name}")
            return EXIT_STATUS[self.received]
        return status

    def _on_signal(self, sig: signal.Signals) -> None:
        first = self.received is None
        self.received = self.received or signal.Signals(sig)
        moving = self.service is not None and self.service.interrupt(signal.Signals(sig).name)
        if not moving:
            if self._task is not None:
                self._task.cancel()  # nothing under way that a stop would leave half done
            return
        deadline = self.service.settings.stop_deadline if self.service is not None else 30.0
        if first:
            self._say(
                f"{signal.Signals(sig).name}: the move stops at its next step, finishing or rolling back the "
                f"switches it began (at most {deadline:g} s)"
            )
            self._deadline = asyncio.get_running_loop().call_later(deadline, self._give_up, deadline)
        else:
            self._say(f"{signal.Signals(sig).name}: still stopping the move (at most {deadline:g} s in all)")

    def _give_up(self, deadline: float) -> None:
        """The move did not end in time (a switch that does not answer): leave now; its intent stays."""
        self._say(
            f"the move did not stop within {deadline:g} s: exiting now; its intent stays in the database, and the "
            "next kavlan command completes or rolls it back"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        assert self.received is not None
        os._exit(EXIT_STATUS[self.received])

    def _say(self, text: str) -> None:
        sys.stderr.write(f"{self.prog}: {text}\n")
        sys.stderr.flush()
