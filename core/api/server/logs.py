"""The server's JSON-lines logs: one line per request or refused connection (access), one per change or refused
change (audit), each bounded in size.

No line is masked: switch credentials are scrubbed where a switch's failure enters the core
(:mod:`kavlan_core.scrub`), and passwords and ``Authorization`` headers are never written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..auth import Identity
from .errors import answer_of
from .limits import AUDIT_ITEMS, CLAIMED_MAX

TEXT_MAX = 1024
"""Characters of one string in an audit line (a resource request is refused beyond 4,096 anyway)."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines:
    """One JSON object per line, to a file (appended) or stderr (``-``), or nowhere (empty)."""

    def __init__(self, target: str) -> None:
        self._fh: IO[str] | None
        if not target:
            self._fh = None
        elif target == "-":
            self._fh = sys.stderr
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (held for the process)

    def write(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            return
        line = json.dumps({"time": now_iso(), **record}, default=str)
        self._fh.write(line + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Later lines go nowhere (a connection closing as the server stops may still have one)."""
        fh, self._fh = self._fh, None
        if fh is not None and fh is not sys.stderr:
            fh.close()


def access_record(
    method: str,
    path: str,
    query: str,
    status: int,
    seconds: float,
    ident: Identity | None,
    claimed: str | None,
    client: str | None = None,
) -> dict[str, Any]:
    """The access log's line: who (or, refused before knowing, who the request said it was), from where, what,
    how long. The request line's parts are bounded by the HTTP parser (8,190 bytes); a claimed name is cut."""
    record: dict[str, Any] = {
        "user": ident.user if ident else None,
        "client": client,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    if ident and ident.via:
        record["via"] = ident.via
    if ident is None and claimed:
        record["claimed"] = claimed[:CLAIMED_MAX]
    if query:
        record["query"] = query
    return record


def bounded(value: Any, key: str, out: dict[str, Any]) -> Any:
    """``value`` for an audit line: a list or map cut to ``AUDIT_ITEMS`` entries (``KEY_total`` then counts
    them all), a string to ``TEXT_MAX`` characters."""
    if isinstance(value, str) and len(value) > TEXT_MAX:
        return value[:TEXT_MAX] + "..."
    if isinstance(value, (list, tuple)) and len(value) > AUDIT_ITEMS:
        out[f"{key}_total"] = len(value)
        return list(value[:AUDIT_ITEMS])
    if isinstance(value, Mapping):
        if len(value) > AUDIT_ITEMS:
            out[f"{key}_total"] = len(value)
        items = list(value.items())[:AUDIT_ITEMS]
        return {k: bounded(v, f"{key}.{k}", out) for k, v in items}
    return value


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
        record: dict[str, Any] = {"who": ident.user, "via": ident.via, "what": what}
        totals: dict[str, Any] = {}
        fields = {**objects, "before": entry.before, "after": entry.after, "result": entry.result}
        for key, value in fields.items():
            record[key] = bounded(value, key, totals)
        self.lines.write({**record, **totals})

    def close(self) -> None:
        self.lines.close()
