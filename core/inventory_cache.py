"""The parsed testbed description kept on disk, keyed by the file's content and the parser's own source, so that a
command starts without parsing the same TOML again; any trouble with the cache falls back to parsing.

The cache is a pickle in the user's own cache directory (``$KAVLAN_CACHE_DIR``, else the platform's, e.g.
``~/.cache/kavlan-tui/testbeds``): a directory that is not the user's own, or that others may write, is not used, so
that nobody else's file is ever unpickled here. Only a description that parsed is kept: a malformed one is parsed
(and refused, with the same sentence) every time.
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import os
import pickle
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, model
from . import inventory as inventory_mod

KEEP = 32
"""Entries kept (the newest): enough for every testbed a user switches between, bounded for a test suite's many."""

_VALUE_CLASSES: tuple[type, ...] = (
    model.Node,
    model.Nic,
    model.Cluster,
    model.Switch,
    model.Site,
    inventory_mod.NicRef,
    inventory_mod.GatewaySpec,
    inventory_mod.DhcpPlacement,
    inventory_mod.DeploySpec,
)


def cache_dir() -> Path:
    override = os.environ.get("KAVLAN_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs  # the configuration imports it too: no cost of its own

    return Path(platformdirs.user_cache_dir("kavlan-tui")) / "testbeds"


def _parser_version() -> bytes:
    """What the parsed form depends on besides the text: the parser's and the model's source, the package's version
    and the interpreter's (a pickle of another Python's objects is not trusted to load the same)."""
    digest = hashlib.sha256(f"{__version__} {sys.version}".encode())
    for module in (inventory_mod, model, sys.modules[__name__]):
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:  # installed without its source: the package's version stands for it
            digest.update(module.__name__.encode())
    return digest.digest()


_LOADED_PARSER = _parser_version()
"""The parser this process runs, read when it was imported: a process that outlives an upgrade of the files must not
write its objects under the new parser's key (a later command would load objects of the old shape)."""


def key(text: str) -> str:
    return hashlib.sha256(_LOADED_PARSER + text.encode()).hexdigest()


def _private(path: Path) -> bool:
    """The user's own directory or file, written by nobody else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path) -> inventory_mod.Inventory | None:
    try:
        if not (_private(path.parent) and _private(path)):
            return None
        value = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, and is replaced
        return None
    return value if isinstance(value, inventory_mod.Inventory) else None


def _fields_of(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    """Pickle a frozen dataclass as its constructor's arguments: loading is then several times faster than the
    dataclass's own ``__setstate__``, which is what makes the cache worth reading."""
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return lambda obj: (cls, tuple(getattr(obj, n) for n in names))


def _dumps(inv: inventory_mod.Inventory) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table | {c: _fields_of(c) for c in _VALUE_CLASSES}
    pickler.dump(inv)
    return out.getvalue()


def _write(path: Path, inv: inventory_mod.Inventory) -> None:
    """Write atomically (another process may read it meanwhile), then keep the newest entries only."""
    import tempfile  # a miss only: a hit starts without it

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent):
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_dumps(inv))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(path.parent)
    except Exception:  # noqa: BLE001 - an unwritable cache costs the next start a parse, nothing else
        return


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)


def load(text: str, source: str) -> inventory_mod.Inventory:
    """The testbed ``text`` describes (named ``source`` in messages), from the cache when it holds it."""
    try:
        path = cache_dir() / f"{key(text)}.pickle"
    except Exception:  # noqa: BLE001 - no usable cache directory: parse
        return inventory_mod.parse(text, source)
    cached = _read(path)
    if cached is not None:
        cached.source = source  # the key is the content: the same file may be met under another name
        return cached
    inv = inventory_mod.parse(text, source)
    _write(path, inv)
    return inv
