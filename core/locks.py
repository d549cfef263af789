"""Named locks held across processes that share a store: a flock file with SQLite, a session-level advisory lock on
PostgreSQL (a switch's lock, a job's end); one that may have been lost (its connection broke) says so."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa

from .errors import LockTimeout, StoreError

_PG_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(CAST(:key AS bigint))")
_PG_UNLOCK = sa.text("SELECT pg_advisory_unlock_all()")
_PG_ALIVE = sa.text("SELECT 1")


def driver_reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's own first line (psycopg's is one clear sentence), without SQLAlchemy's statement dump."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


class NamedLock:
    """A lock held across processes: ``await acquire(timeout)`` then ``release()``, or ``async with held(timeout)``.

    Polled with asyncio.sleep, so the event loop keeps running while another process holds it.
    """

    poll = 0.02

    def __init__(self, name: str) -> None:
        self.name = name

    async def acquire(self, timeout: float) -> bool:
        """Wait for the lock up to ``timeout`` seconds; False if someone else held it all that time."""
        deadline = time.monotonic() + timeout
        self._open()
        try:
            while not self._try():
                if time.monotonic() >= deadline:
                    self._close()
                    return False
                await asyncio.sleep(self.poll)
        except BaseException:  # cancelled while waiting: leave nothing behind
            self._close()
            raise
        return True

    def release(self) -> None:
        self._close()

    def check(self) -> None:
        """Raise StoreError when the lock, still believed held, may have been lost (its database connection
        broke, its file was removed): another process may then hold it too."""

    @asynccontextmanager
    async def held(self, timeout: float) -> AsyncIterator[None]:
        if not await self.acquire(timeout):
            raise LockTimeout(
                f"the lock {self.name!r} stayed held by another process for {timeout:g} seconds"
            )
        try:
            yield
        finally:
            self.release()

    def _open(self) -> None:
        raise NotImplementedError

    def _try(self) -> bool:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class FileLock(NamedLock):
    """SQLite: flock on a file beside the data (the file is the lock's identity; ``name`` is for messages)."""

    def __init__(self, name: str, file: Path) -> None:
        super().__init__(name)
        self.file = file
        self._fd: int | None = None

    def _open(self) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except FileExistsError:  # mkdir found a file where the locks' directory goes
            raise StoreError(
                f"cannot take the lock {self.name!r}: {self.file.parent} is a file, not a directory"
            ) from None
        except OSError as exc:
            try:  # a read-only or full disk: an existing lock file locks as well when opened for reading
                self._fd = os.open(self.file, os.O_RDONLY)
            except OSError:
                raise StoreError(
                    f"cannot take the lock {self.name!r}: cannot open {self.file}: {exc.strerror}"
                ) from None

    def _try(self) -> bool:
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the flock
            self._fd = None

    def check(self) -> None:
        if self._fd is None:
            return
        try:
            same = os.fstat(self._fd).st_ino == os.stat(self.file).st_ino
        except OSError:
            same = False
        if not same:
            raise StoreError(
                f"lost the lock {self.name!r}: its file {self.file} was removed while it was held"
            )


class AdvisoryLock(NamedLock):
    """PostgreSQL: a session-level advisory lock on a connection of its own, held for the lock's life.

    The key is a stable 64-bit hash of the name (Python's hash() differs between processes). The connection
    runs in autocommit: a session lock needs no transaction, and an idle-in-transaction session would hold
    back vacuum for as long as the lock is held.
    """

    def __init__(self, name: str, engine: sa.Engine) -> None:
        super().__init__(name)
        self.engine = engine
        self.key = int.from_bytes(
            hashlib.blake2b(f"kavlan:{name}".encode(), digest_size=8).digest(), "big", signed=True
        )
        self._conn: sa.Connection | None = None
        self._held = False

    def _open(self) -> None:
        try:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot take the lock {self.name!r}: {driver_reason(exc)}") from None

    def _try(self) -> bool:
        assert self._conn is not None
        try:
            self._held = bool(self._conn.execute(_PG_TRY_LOCK, {"key": self.key}).scalar())
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot take the lock {self.name!r}: {driver_reason(exc)}") from None
        return self._held

    def check(self) -> None:
        if self._conn is None or not self._held:
            return
        try:
            self._conn.execute(_PG_ALIVE)
        except sa.exc.DBAPIError as exc:
            raise StoreError(
                f"lost the lock {self.name!r}: its connection to the database broke ({driver_reason(exc)})"
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"lost the lock {self.name!r}: its connection to the database broke ({exc})"
            ) from None

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._held:
                self._held = False
                conn.execute(_PG_UNLOCK)
        except sa.exc.SQLAlchemyError:  # the connection failed (or had): drop it
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.invalidate()  # the server ends the session, and the lock with it
        finally:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()
