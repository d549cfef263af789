"""Switch credentials kept out of every message at their source: a driver's failure is scrubbed of its switch's
credentials where the switch pool receives it, before any report, event, log line or answer is made of it.

Nothing else is ever scrubbed: a user's own input is never run through this (it would confirm a guess by
masking it), and a message made of scrubbed parts needs no second pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .drivers.base import FdbTable, PortChange, PortCounters, PortState, SwitchDriver, SwitchError

SECRET_MIN = 4
"""Shorter values (a version "2c", a port 22) are not secrets and would blank half of every sentence."""
HIDDEN = "***"


def secret_strings(credentials: Mapping[str, Any]) -> tuple[str, ...]:
    """Every string of a switch's credentials table, longest first (so that a secret containing another goes
    whole)."""
    found: list[str] = []
    _collect(credentials, found)
    return tuple(sorted({s for s in found if len(s) >= SECRET_MIN}, key=len, reverse=True))


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _collect(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, out)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, HIDDEN)
    return text


def scrubbed(exc: SwitchError, secrets: Sequence[str]) -> SwitchError:
    """The driver's own exception (its class kept: a timeout is still retried), its words scrubbed."""
    if secrets:
        exc.reason = scrub(exc.reason, secrets)
        exc.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in exc.args)
        for name in ("command",):  # the SSH driver's failed command line
            value = getattr(exc, name, None)
            if isinstance(value, str):
                setattr(exc, name, scrub(value, secrets))
    return exc


class ScrubbedDriver(SwitchDriver):
    """A driver whose failures never carry its credentials: a ``SwitchError`` is scrubbed, any other exception
    (a driver's bug, a library's error quoting its arguments) becomes one, scrubbed."""

    def __init__(self, inner: SwitchDriver, secrets: Sequence[str]) -> None:
        super().__init__(inner.switch, {}, inner.context)
        self.inner = inner
        self._secrets = tuple(secrets)

    def requests_sent(self) -> int:
        return self.inner.requests_sent()

    def _clean(self, exc: Exception) -> SwitchError:
        if isinstance(exc, SwitchError):
            return scrubbed(exc, self._secrets)
        reason = f"driver error: {type(exc).__name__}: {scrub(str(exc), self._secrets)}"
        return SwitchError(self.switch.name, reason)

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        try:
            return await self.inner.read_ports(ports)
        except Exception as exc:
            raise self._clean(exc) from None

    async def apply(self, changes: Sequence[PortChange]) -> None:
        try:
            await self.inner.apply(changes)
        except Exception as exc:
            raise self._clean(exc) from None

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        try:
            counters = await self.inner.read_counters(ports)
        except Exception as exc:
            raise self._clean(exc) from None
        return {
            p: replace(c, refused=scrub(c.refused, self._secrets)) if c.refused else c
            for p, c in counters.items()
        }

    async def read_fdb(self) -> FdbTable:
        try:
            table = await self.inner.read_fdb()
        except Exception as exc:
            raise self._clean(exc) from None
        if table.missing:  # a driver's reason may quote what it sent (a community string)
            return FdbTable(table.entries, scrub(table.missing, self._secrets))
        return table

    async def ensure_vlan(self, tag: int, name: str) -> None:
        try:
            await self.inner.ensure_vlan(tag, name)
        except Exception as exc:
            raise self._clean(exc) from None

    def describe(self, changes: Sequence[PortChange]) -> list[str]:
        try:
            return [scrub(line, self._secrets) for line in self.inner.describe(changes)]
        except Exception as exc:
            raise self._clean(exc) from None

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        try:
            async with self.inner.batch():
                yield
        except SwitchError as exc:
            raise scrubbed(exc, self._secrets) from None

    def end_batch(self) -> None:
        self.inner.end_batch()

    async def close(self) -> None:
        await self.inner.close()
