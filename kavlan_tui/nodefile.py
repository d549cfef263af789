"""Reading a nodefile (``-f``): any file a user may hand over, OAR's or not, gives its node names or one sentence.

A nodefile is text, one node a line, as OAR writes it (each node once per core); a UTF-8 byte order mark and
Windows line ends are read as well. Anything else (a binary file, text that is not UTF-8, a directory, a file of
gigabytes) is one sentence naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

from kavlan_core import names
from kavlan_core.errors import BadInput

MAX_BYTES = 64 * 1024 * 1024
"""A nodefile of 10,000 nodes of 64 cores is 25 MB; a larger file is no nodefile (``-f /dev/zero``)."""
BOM = b"\xef\xbb\xbf"


def read_nodefile(raw_path: str) -> list[str]:
    """Node names from a nodefile, in order; duplicates kept for the service to fold."""
    path = raw_path if raw_path.isprintable() else repr(raw_path)  # as the sentence shows it
    text = _text(path, _bytes(raw_path, path))
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        try:
            names.parse(word)
        except names.BadHostname:
            raise BadInput(f"nodefile {path}, line {number}: {word[:60]!r} is not a node name") from None
        out.append(word)
    if not out:
        raise BadInput(f"nodefile {path} lists no node")
    return out


def _bytes(raw_path: str, path: str) -> bytes:
    try:
        with Path(raw_path).open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise BadInput(f"cannot read nodefile {path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"cannot read nodefile {path}: it is a directory") from None
    except OSError as exc:
        raise BadInput(f"cannot read nodefile {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise BadInput(f"nodefile {path} is larger than {MAX_BYTES // (1024 * 1024)} MiB: it is no nodefile")
    return data


def _text(path: str, data: bytes) -> str:
    if b"\0" in data:
        raise BadInput(f"nodefile {path} is not a text file (it holds NUL bytes): give one node name a line")
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"nodefile {path}, line {line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})"
        ) from None
