"""The operator's text files read as input (the configuration, the testbed description, the switch credentials):
UTF-8 with or without a byte-order mark; a directory, binary bytes or a file that cannot be read is one sentence
naming the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

from .errors import KavlanError


def read_text(path: Path, what: str, error: type[KavlanError] = KavlanError) -> str:
    """The text of ``path``, ``what`` naming it in the sentences (``the configuration``)."""
    if path.is_dir():
        raise error(f"{what} {path} is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    return decode(data, path, what, error)


def decode(data: bytes, path: Path | str, what: str, error: type[KavlanError] = KavlanError) -> str:
    """``data`` as text: a UTF-8 byte-order mark (an editor on Windows writes one) is dropped; binary bytes (not
    UTF-8, or a NUL) are refused."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise error(f"cannot read {what} {path}: it is not UTF-8 text (a binary file?)")
    return text
