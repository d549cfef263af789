"""The switch pool: one driver per switch (with its credentials and its driver context), per-switch locks in this
process and across processes, reads and writes retried with jittered backoff, and the one place where a
driver's failure becomes the core's :class:`~kavlan_core.errors.SwitchUnavailable`.

The pool decides nothing about a move: :mod:`kavlan_core.moves` drives it, :mod:`kavlan_core.service` owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Settings
from .drivers.base import (
    DriverContext,
    PortChange,
    PortState,
    SwitchDriver,
    SwitchError,
    SwitchTimeout,
    driver_class,
)
from .errors import KavlanError, SwitchUnavailable, Unavailable
from .inventory import Inventory

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")

LOCK_WAIT = 300.0
"""Seconds a move waits for a switch another move holds, before it gives up having changed nothing."""


def jitter(base: float, attempt: int) -> float:
    """The pause before retry ``attempt + 1``: exponential, jittered so that moves retrying together spread out."""
    return base * (2**attempt) * random.uniform(0.5, 1.5)


def unavailable(exc: SwitchError, sentence: str = "", ports: Sequence[str] = ()) -> SwitchUnavailable:
    """A driver's failure as the core's error: the switch, the ports (those the driver named, else ``ports``),
    and one sentence (by default the driver's: ``switch NAME: REASON``)."""
    return SwitchUnavailable(sentence or str(exc), switch=exc.switch, ports=exc.ports or tuple(ports))


class StorePorts:
    """The simulated switches' ports, kept in the store: every process (CLI, TUI, API server) sees one testbed."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, switch: str, ports: Sequence[str]) -> dict[str, int]:
        with self.store.read() as tx:
            return tx.sim_read(switch, ports)

    def write(self, switch: str, tags: Mapping[str, int]) -> None:
        with self.store.write() as tx:
            tx.sim_write(switch, dict(tags))


class SwitchPool:
    """The switches a service drives: their drivers (built on first use, kept until ``close``), their locks, and
    the retries of what is sent to them."""

    def __init__(self, settings: Settings, inventory: Inventory, store: Store) -> None:
        self.settings = settings
        self.inventory = inventory
        self.store = store
        self._ports = StorePorts(store)
        self._locks: dict[str, asyncio.Lock] = {}
        self._drivers: dict[str, SwitchDriver] = {}
        self._credentials: dict[str, Any] | None = None

    async def close(self) -> None:
        for drv in self._drivers.values():
            with contextlib.suppress(Exception):
                await drv.close()
        self._drivers.clear()

    # --- drivers -------------------------------------------------------------------------------------------

    def driver(self, switch: str) -> SwitchDriver:
        """The driver of ``switch``; a driver refusing its configuration raises its ``SwitchError``."""
        drv = self._drivers.get(switch)
        if drv is None:
            sw = self.inventory.switches[switch]
            context = DriverContext(default_tag=self.inventory.sites[sw.site].default_tag, ports=self._ports)
            drv = driver_class(sw.driver)(sw, self.credentials(sw.credentials), context)
            self._drivers[switch] = drv
        return drv

    def credentials(self, ref: str) -> dict[str, Any]:
        """The table ``ref`` of the switch credentials file (read once), empty when the switch names none."""
        if not ref:
            return {}
        if self._credentials is None:
            self._credentials = self._read_credentials()
        return dict(self._credentials.get(ref, {}))

    def _read_credentials(self) -> dict[str, Any]:
        if not self.settings.credentials:
            return {}
        import tomllib

        try:
            with open(os.path.expanduser(self.settings.credentials), "rb") as fh:
                return tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise KavlanError(
                f"cannot read the switch credentials file {self.settings.credentials}: {exc}"
            ) from None

    def describe(self, switch: str, changes: Sequence[PortChange]) -> list[str]:
        """What the driver would send for ``changes`` (a dry run shows it)."""
        try:
            return self.driver(switch).describe(changes)
        except SwitchError as exc:
            raise unavailable(exc) from None

    # --- locks ---------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, switch: str) -> AsyncIterator[None]:
        """Two moves on one switch never interleave: in this process (asyncio) and across processes (the store's
        named lock: an advisory lock on PostgreSQL, a flock file in the data dir with SQLite)."""
        lock = self._locks.setdefault(switch, asyncio.Lock())
        async with lock:
            flock_file = self.settings.data_path / "locks" / f"{switch}.lock"  # used with SQLite
            held = self.store.lock(f"switch:{switch}", file=flock_file)
            if not await held.acquire(timeout=LOCK_WAIT):
                raise Unavailable(
                    f"switch {switch} is busy: another move held it for 5 minutes; nothing was changed"
                )
            try:
                yield
            finally:
                held.release()

    @contextlib.asynccontextmanager
    async def hold(self, switches: Iterable[str]) -> AsyncIterator[None]:
        """Lock every switch (in name order: two moves never wait on each other in a circle) and open each
        driver's batch session, from a move's first read to its last read-back, so that what it read is still
        true when it writes."""
        names = sorted(set(switches))
        async with contextlib.AsyncExitStack() as held:
            for switch in names:
                await held.enter_async_context(self.lock(switch))
            try:
                for switch in names:
                    await held.enter_async_context(self.driver(switch).batch())
            except SwitchError as exc:
                raise unavailable(exc) from None
            yield

    # --- talking to switches -------------------------------------------------------------------------------

    def bound(self) -> asyncio.Semaphore:
        """How many switches one operation talks to at once (setting ``switch_concurrency``)."""
        return asyncio.Semaphore(self.settings.switch_concurrency)

    async def retry(self, what: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """``what()`` and how many tries it took: a switch that timed out is asked again (setting
        ``switch_retries``), after a jittered pause; any other failure is final."""
        tries = 0
        while True:
            tries += 1
            try:
                return await what(), tries
            except SwitchTimeout:
                if tries > self.settings.switch_retries:
                    raise
                await asyncio.sleep(jitter(self.settings.retry_backoff, tries - 1))

    async def read_ports(self, switch: str, ports: Sequence[str]) -> dict[str, PortState]:
        """The state of ``ports`` on ``switch``, retried; raises the driver's ``SwitchError`` (a move turns it
        into the outcome of each NIC concerned)."""
        states, _ = await self.retry(lambda: self.driver(switch).read_ports(ports))
        return states

    async def inspect(self, switch: str, ports: Sequence[str]) -> dict[str, PortState]:
        """The state of ``ports`` on ``switch`` for a report that needs them all (drift): a switch that cannot be
        read raises ``SwitchUnavailable``, ``cannot read switch NAME: REASON``."""
        try:
            return await self.read_ports(switch, ports)
        except SwitchError as exc:
            raise unavailable(exc, f"cannot read switch {switch}: {exc.reason}", ports) from None
