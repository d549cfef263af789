"""The project's one TOML writer: a document (the testbed description, the lab's files) or one value (a setting).

``tomllib`` reads TOML but does not write it. What is written here reads back equal with ``tomllib``: strings
are TOML basic strings (JSON's escapes are TOML's; DEL is escaped as well, which JSON leaves raw), keys are bare
when TOML allows it, tables of plain values short enough for one line are written inline (``options = {
latency_ms = 15 }``), other tables and arrays of tables under headers.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

INLINE_WIDTH = 80
"""A table of plain values is written on one line when it fits in this many characters."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(doc: Mapping[str, Any], comment: str = "") -> str:
    """``doc`` as a TOML document, ``comment`` (lines) as ``#`` lines above it; TypeError for what TOML cannot hold."""
    out = [f"# {line}" for line in comment.splitlines()]
    _table(out, [], doc, "")
    return "\n".join(out).lstrip("\n") + "\n"


def value(v: Any) -> str:
    """One value as TOML writes it on the right of ``key =``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)  # nan, inf and -inf are TOML's spellings too
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def key(k: str) -> str:
    if not isinstance(k, str):
        raise TypeError(f"a TOML key is a string, not {type(k).__name__}")
    return k if _BARE_KEY.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    if any("\ud800" <= c <= "\udfff" for c in s):
        raise TypeError("cannot write a lone surrogate as TOML (not a Unicode scalar value)")
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _inline(v: Any) -> bool:
    return (
        isinstance(v, Mapping)
        and all(not isinstance(x, Mapping) and not _is_table_array(x) for x in v.values())
        and len(value(v)) <= INLINE_WIDTH
    )


def _table(out: list[str], path: list[str], table: Mapping[str, Any], header: str) -> None:
    plain = {
        k: v for k, v in table.items() if _inline(v) or not isinstance(v, Mapping) and not _is_table_array(v)
    }
    # a table holding only tables needs no header of its own: theirs define it
    if header and (plain or header.startswith("[[") or not table):
        out += ["", header]
    out += [f"{key(k)} = {value(v)}" for k, v in plain.items()]
    for k, v in table.items():
        if isinstance(v, Mapping) and k not in plain:
            sub = [*path, key(k)]
            _table(out, sub, v, f"[{'.'.join(sub)}]")
    for k, v in table.items():
        if _is_table_array(v):
            sub = [*path, key(k)]
            for item in v:
                _table(out, sub, item, f"[[{'.'.join(sub)}]]")
