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

from . import textfile
from .config import Settings
from .drivers.base import (
    DriverContext,
    FdbTable,
    PortChange,
    PortCounters,
    PortState,
    SwitchDriver,
    SwitchError,
    SwitchTimeout,
    driver_class,
)
from .errors import Misconfigured, StoreError, SwitchUnavailable, Unavailable
from .inventory import Inventory
from .scrub import ScrubbedDriver, scrubbed, secret_strings

# the store and its locks load SQLAlchemy: a command that only reads does without them (store_quick)
if TYPE_CHECKING:
    from .locks import NamedLock
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


class Busy(Exception):
    """A switch asked for without waiting is held by a move now (see ``SwitchPool.hold``)."""

    def __init__(self, switch: str) -> None:
        super().__init__(f"switch {switch} is held by a running move")
        self.switch = switch


class Held:
    """The locks of the switches a move holds."""

    def __init__(self, locks: Sequence[NamedLock]) -> None:
        self.locks = list(locks)

    def check(self) -> None:
        """Raise StoreError if one of them may have been lost (its database connection broke): the move must not
        record then, its intent is left for the next command."""
        for lock in self.locks:
            lock.check()


class StorePorts:
    """The simulated switches' ports, kept in the store: every process (CLI, TUI, API server) sees one testbed. A
    database that fails makes them a switch that fails (its reason the database's sentence)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, switch: str, ports: Sequence[str]) -> dict[str, int]:
        try:
            with self.store.read() as tx:
                return tx.sim_read(switch, ports)
        except StoreError as exc:
            raise SwitchError(switch, f"its ports are kept in the database, which failed: {exc}") from None

    def write(self, switch: str, tags: Mapping[str, int]) -> None:
        try:
            with self.store.write() as tx:
                tx.sim_write(switch, dict(tags))
        except StoreError as exc:
            raise SwitchError(switch, f"its ports are kept in the database, which failed: {exc}") from None


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
            cabled = {r.nic.port: r.nic.mac for r in self.inventory.switch_ports(switch)}
            context = DriverContext(
                default_tag=self.inventory.sites[sw.site].default_tag, ports=self._ports, cabled=cabled
            )
            credentials = self.credentials(sw.credentials)
            # its failures are scrubbed of its credentials here, where they enter the core
            secrets = secret_strings(credentials)
            try:
                inner = driver_class(sw.driver)(sw, credentials, context)
            except SwitchError as exc:
                raise scrubbed(exc, secrets) from None
            drv = ScrubbedDriver(inner, secrets)
            self._drivers[switch] = drv
        return drv

    def credentials(self, ref: str) -> dict[str, Any]:
        """The table ``ref`` of the switch credentials file (read once), empty when the switch names none."""
        if not ref:
            return {}
        if self._credentials is None:
            self._credentials = self._read_credentials()
        table = self._credentials.get(ref, {})
        if not isinstance(table, dict):
            raise Misconfigured(
                f"the switch credentials file {self.settings.credentials}: '{ref}' must be a table "
                f"([{ref}]), not a {type(table).__name__}"
            )
        return dict(table)

    def _read_credentials(self) -> dict[str, Any]:
        if not self.settings.credentials:
            return {}
        return read_credentials(self.settings.credentials, strict=self.settings.strict_credentials)

    def describe(self, switch: str, changes: Sequence[PortChange]) -> list[str]:
        """What the driver would send for ``changes`` (a dry run shows it)."""
        try:
            return self.driver(switch).describe(changes)
        except SwitchError as exc:
            raise unavailable(exc) from None

    # --- locks ---------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, switch: str, *, wait: float = LOCK_WAIT) -> AsyncIterator[NamedLock]:
        """Two moves on one switch never interleave: in this process (asyncio) and across processes (the store's
        named lock: an advisory lock on PostgreSQL, a flock file in the data dir with SQLite). ``wait`` 0: only if
        it is free now (else Busy)."""
        lock = self._locks.setdefault(switch, asyncio.Lock())
        if wait <= 0 and lock.locked():
            raise Busy(switch)
        async with lock:
            flock_file = self.settings.data_path / "locks" / f"{switch}.lock"  # used with SQLite
            held = self.store.lock(f"switch:{switch}", file=flock_file)
            if not await held.acquire(timeout=wait):
                if wait <= 0:
                    raise Busy(switch)
                raise Unavailable(
                    f"switch {switch} is busy: another move held it for 5 minutes; nothing was changed"
                )
            try:
                yield held
            finally:
                held.release()

    @contextlib.asynccontextmanager
    async def hold(self, switches: Iterable[str], *, wait: float = LOCK_WAIT) -> AsyncIterator[Held]:
        """Lock every switch (in name order: two moves never wait on each other in a circle) and open each
        driver's batch session, from a move's first read to its last read-back, so that what it read is still
        true when it writes. ``wait`` 0: every switch free now, or Busy and none held."""
        names = sorted(set(switches))
        async with contextlib.AsyncExitStack() as stack:
            locks = [await stack.enter_async_context(self.lock(switch, wait=wait)) for switch in names]
            try:
                for switch in names:
                    await stack.enter_async_context(self.driver(switch).batch())
            except SwitchError as exc:
                raise unavailable(exc) from None
            yield Held(locks)

    async def wait_for(self, switches: Iterable[str]) -> None:
        """Wait until no move holds any of ``switches`` (each lock taken and let go, in name order)."""
        for switch in sorted(set(switches)):
            async with self.lock(switch):
                pass

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

    async def counters(self, switch: str, ports: Sequence[str]) -> dict[str, PortCounters]:
        """Link and traffic counters of ``ports``, retried; a switch that cannot be read raises
        ``SwitchUnavailable``. Never under the switch's move lock: a monitoring read must not hold up a move."""
        try:
            found, _ = await self.retry(lambda: self.driver(switch).read_counters(ports))
        except SwitchError as exc:
            raise unavailable(exc, f"cannot read switch {switch}: {exc.reason}", ports) from None
        return found

    async def fdb(self, switch: str) -> FdbTable:
        """The switch's forwarding table, retried; ``SwitchUnavailable`` when it cannot be read."""
        try:
            found, _ = await self.retry(lambda: self.driver(switch).read_fdb())
        except SwitchError as exc:
            raise unavailable(exc, f"cannot read switch {switch}: {exc.reason}") from None
        return found


def read_credentials(path: str, *, strict: bool = True) -> dict[str, Any]:
    """The switch credentials file; ``strict``: refused when group or others may read it (as OpenSSH refuses a
    private key), since it holds every switch's write community or password."""
    import stat
    import tomllib

    where = os.path.expanduser(path)
    try:
        with open(where, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise Misconfigured(f"the switch credentials file {path} is not a file")
            if strict and mode & 0o077:
                raise Misconfigured(
                    f"the switch credentials file {path} may be read by group or others (mode "
                    f"{stat.S_IMODE(mode):04o}): chmod 600 it, or set strict_credentials = false"
                )
            data = fh.read()
        return tomllib.loads(textfile.decode(data, path, "the switch credentials file"))
    except OSError as exc:
        raise Misconfigured(f"cannot read the switch credentials file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise Misconfigured(f"cannot read the switch credentials file {path}: {exc}") from None
