"""The server's JSON-lines logs: one line per request (access), one per change or refused change (audit); and
the masking that keeps every switch credential out of them and out of the answers."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..auth import Identity
from .errors import answer_of

SECRET_MIN = 4
"""Shorter strings of the credentials file are not masked: they would mask half of every line."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret, as it is and as JSON quotes it, replaced by ``***``."""
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
        quoted = json.dumps(s)[1:-1]
        if quoted != s and quoted in text:
            text = text.replace(quoted, "***")
    return text


def credential_strings(path: str) -> list[str]:
    """Every string value of the switch credentials file: what no log line or answer may carry."""
    if not path:
        return []
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    out: list[str] = []
    _strings(doc, out)
    return sorted({s for s in out if len(s) >= SECRET_MIN}, key=len, reverse=True)  # longest first


def _strings(v: Any, out: list[str]) -> None:
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, Mapping):
        for x in v.values():
            _strings(x, out)
    elif isinstance(v, list):
        for x in v:
            _strings(x, out)


class JsonLines:
    """One JSON object per line, to a file (appended) or stderr (``-``), or nowhere (empty); secrets masked."""

    def __init__(self, target: str, secrets: Sequence[str] = ()) -> None:
        self._fh: IO[str] | None
        if not target:
            self._fh = None
        elif target == "-":
            self._fh = sys.stderr
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (held for the process)
        self._secrets = secrets

    def write(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            return
        line = json.dumps({"time": now_iso(), **record}, default=str)
        self._fh.write(mask(line, self._secrets) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None and self._fh is not sys.stderr:
            self._fh.close()


def access_record(
    method: str,
    path: str,
    query: str,
    status: int,
    seconds: float,
    ident: Identity | None,
    claimed: str | None,
) -> dict[str, Any]:
    """The access log's line: who (or, refused before knowing, who the request said it was), what, how long."""
    record: dict[str, Any] = {
        "user": ident.user if ident else None,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    if ident and ident.via:
        record["via"] = ident.via
    if ident is None and claimed:
        record["claimed"] = claimed
    if query:
        record["query"] = query
    return record


@dataclass
class AuditEntry:
    """What a change did, filled in by the code that makes it: ``after`` and ``result`` once it succeeded."""

    before: Any = None
    after: Any = None
    result: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """The audit log: one line per change or refused change (who, via, what, site, objects, before, after, result)."""

    def __init__(self, lines: JsonLines) -> None:
        self.lines = lines

    @contextlib.asynccontextmanager
    async def audited(
        self,
        ident: Identity,
        what: str,
        *,
        before: Any = None,
        read_after: Callable[[], Awaitable[Any]] | None = None,
        **objects: Any,
    ) -> AsyncIterator[AuditEntry]:
        """Audit the change made in the block. A change that raises is recorded with its status and sentence
        (and ``after`` as ``before``, or as ``read_after`` reads it), then the exception goes on."""
        entry = AuditEntry(before=before)
        try:
            yield entry
        except Exception as exc:
            answer = answer_of(exc)
            entry.after = await read_after() if read_after else before
            entry.result = {"status": answer.status, "error": str(answer.error)}
            self._write(ident, what, objects, entry)
            raise
        if read_after is not None:
            entry.after = await read_after()
        self._write(ident, what, objects, entry)

    def _write(self, ident: Identity, what: str, objects: Mapping[str, Any], entry: AuditEntry) -> None:
        self.lines.write(
            {
                "who": ident.user,
                "via": ident.via,
                "what": what,
                **objects,
                "before": entry.before,
                "after": entry.after,
                "result": entry.result,
            }
        )

    def close(self) -> None:
        self.lines.close()
