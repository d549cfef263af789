"""HTTP Basic that cannot be ground down: password checks in a small thread pool of their own, verified
credentials remembered briefly, identical checks at once made once, and failed attempts rate limited per user
and per client address (429 with ``Retry-After``, the wait doubling with each failure).

A client certificate never comes here: a locked-out user (or an attacker's lockout of a user) leaves
certificate access alone.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import auth
from .limits import client_group

FREE_FAILURES = 5
"""Failed attempts a user name (or a client address) makes before it must wait..."""
FIRST_WAIT = 1.0
"""...first this many seconds, then twice as long after each further failure..."""
MAX_WAIT = 900.0
"""...at most this long."""
FORGET_SECONDS = 900.0
"""A name or address without a failure for this long starts again from nothing."""
REMEMBER_SECONDS = 120.0
"""A verified user and password pair is believed again without a key derivation for this long (and until the
users file changes)."""
KEYS_MAX = 10_000
"""Names and addresses whose failures are kept (the oldest are forgotten first), and verified pairs kept."""
AT_ONCE = 2
"""Password checks one client address, or one user name, may have waiting or running at once; more answer 429
at once (identical checks are made once, so a client's burst of requests costs one)."""


def hash_workers() -> int:
    """Threads deriving keys: half the cores, so that the event loop keeps one (scrypt releases the GIL)."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class _Failures:
    count: int
    last: float
    until: float = 0.0


class Throttle:
    """Failed attempts by key (``user:NAME``, ``client:ADDRESS``): beyond ``FREE_FAILURES``, each failure
    makes the key wait ``FIRST_WAIT * 2**k`` seconds (at most ``MAX_WAIT``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        """Keys kept (at most ``KEYS_MAX``)."""
        return len(self._keys)

    def wait(self, key: str) -> float:
        """Seconds ``key`` must still wait (0: it may try)."""
        seen = self._keys.get(key)
        if seen is None:
            return 0.0
        now = self._clock()
        if now - seen.last > FORGET_SECONDS:
            del self._keys[key]
            return 0.0
        return max(0.0, seen.until - now)

    def failed(self, key: str) -> None:
        now = self._clock()
        seen = self._keys.pop(key, None)
        if seen is None or now - seen.last > FORGET_SECONDS:
            seen = _Failures(0, now)
        seen.count += 1
        seen.last = now
        beyond = seen.count - FREE_FAILURES
        if beyond > 0:
            seen.until = now + min(MAX_WAIT, FIRST_WAIT * 2 ** (beyond - 1))
        self._keys[key] = seen
        while len(self._keys) > KEYS_MAX:
            self._forget_one(now)

    def _forget_one(self, now: float) -> None:
        """Forget the key that failed longest ago among those not waiting, so that an attacker cannot flush a
        user's wait with failures under new names from new addresses (each one a key derivation); the oldest
        key only when every one waits."""
        oldest = next(iter(self._keys))
        victim = next((k for k, seen in self._keys.items() if seen.until <= now), oldest)
        del self._keys[victim]


class Passwords:
    """The server's HTTP Basic checks against its users file."""

    def __init__(
        self,
        users: auth.UsersFile,
        *,
        workers: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.throttle = Throttle(clock)
        self._clock = clock
        self._pool = ThreadPoolExecutor(
            max_workers=workers or hash_workers(), thread_name_prefix="kavlan-kdf"
        )
        self._pepper = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._stamp: tuple[float, int] | None = None
        self._pending: dict[bytes, asyncio.Future[bool]] = {}
        self._at_once: dict[str, int] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def identify(self, user: str, password: str, act_for: str | None, client: str) -> auth.Identity:
        """The request's identity once ``password`` is ``user``'s; else AuthError (401 wrong, 429 wait)."""
        if not auth.USER_NAME.fullmatch(user):
            raise auth.AuthError(401, "wrong user name or password")
        if not await self._check(user, password, client):
            raise auth.AuthError(401, "wrong user name or password")
        return auth.password_identity(user, act_for)

    async def _check(self, user: str, password: str, client: str) -> bool:
        self.users.load()
        if self.users.stamp != self._stamp:  # a changed users file: nothing verified before holds
            self._verified.clear()
            self._stamp = self.users.stamp
        digest = hmac.digest(self._pepper, f"{user}\0{password}".encode(), "sha256")
        if self._remembered(digest):
            return True
        client = client_group(client)
        self._refuse_if_locked(user, client)
        pending = self._pending.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        keys = (f"user:{user}", f"client:{client}")
        if any(self._at_once.get(k, 0) >= AT_ONCE for k in keys):
            raise auth.AuthError(
                429,
                "too many password checks at once for this user or from this address: wait for the answers "
                "(a client certificate is not limited)",
                {"Retry-After": "1"},
            )
        return await self._derive(digest, user, password, keys)

    def _remembered(self, digest: bytes) -> bool:
        until = self._verified.get(digest)
        if until is None:
            return False
        if until < self._clock():
            del self._verified[digest]
            return False
        return True

    def _refuse_if_locked(self, user: str, client: str) -> None:
        wait = max(self.throttle.wait(f"user:{user}"), self.throttle.wait(f"client:{client}"))
        if wait > 0:
            seconds = math.ceil(wait)
            raise auth.AuthError(
                429,
                f"too many failed password attempts for this user or from this address: retry in {seconds} s "
                "(a client certificate is not limited)",
                {"Retry-After": str(seconds)},
            )

    async def _derive(self, digest: bytes, user: str, password: str, keys: tuple[str, ...]) -> bool:
        """One key derivation in the pool; whoever asks the same meanwhile waits for this one."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending[digest] = future
        for k in keys:
            self._at_once[k] = self._at_once.get(k, 0) + 1
        try:
            ok = await loop.run_in_executor(self._pool, self.users.check, user, password)
            future.set_result(ok)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[digest]
            for k in keys:
                self._at_once[k] -= 1
                if self._at_once[k] <= 0:
                    del self._at_once[k]
        if ok:
            self._verified[digest] = self._clock() + REMEMBER_SECONDS
            while len(self._verified) > KEYS_MAX:
                self._verified.popitem(last=False)
        else:
            for k in keys:
                self.throttle.failed(k)
        return ok
