"""Who is asking: the verified client certificate's CN, a trusted service acting for a user, or HTTP Basic.

The users file holds one ``user:hash`` line per user (``#`` comments and blank lines allowed). A hash is one of

- ``scrypt$N$r$p$SALT$KEY`` (hashlib.scrypt; SALT and KEY in unpadded URL-safe base64), the default;
- ``pbkdf2_sha256$ITERATIONS$SALT$KEY`` (hashlib.pbkdf2_hmac with SHA-256).

``kavlan-api passwd FILE USER`` adds or changes a user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
"""What a user name (a certificate's CN, a users file's name, X-Api-User-CN) may be."""

ACT_FOR = "X-Api-User-CN"
"""The header a trusted service (OAR, Kadeploy) names the user it acts for in."""

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000
_KEY_LEN = 32


class AuthError(Exception):
    """A refused request: ``status`` (401 or 403) and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    """Whom the request acts for: the service methods' ``user=``."""
    method: str
    """``certificate``, ``service`` (a trusted service acting for ``user``) or ``password``."""
    via: str | None = None
    """The trusted service's CN when it acts for someone."""


# --- password hashes -----------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, scheme: str = "scrypt") -> str:
    """A users-file hash of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    if scheme == "scrypt":
        key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_KEY_LEN)
        return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"
    if scheme == "pbkdf2_sha256":
        key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS, _KEY_LEN)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(key)}"
    raise ValueError(f"unknown password hash scheme {scheme!r} (scrypt or pbkdf2_sha256)")


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; a malformed hash matches nothing."""
    parts = encoded.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, key = _unb64(parts[4]), _unb64(parts[5])
            got = hashlib.scrypt(
                password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=256 * 1024 * 1024
            )
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations, salt, key = int(parts[1]), _unb64(parts[2]), _unb64(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, len(key))
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(got, key)


# an unknown user costs the same work as a known one: the answer's timing does not tell who exists
_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(b'kavlan-dummy-salt')}${_b64(bytes(_KEY_LEN))}"


class UsersFile:
    """The server's users file, re-read when it changes; successful checks are remembered (a KDF per request
    would cost tens of milliseconds)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[float, int] | None = None
        self._hashes: dict[str, str] = {}
        self._good: dict[tuple[str, bytes], str] = {}
        self._pepper = secrets.token_bytes(16)

    def _load(self) -> None:
        try:
            st = self.path.stat()
        except OSError:
            self._hashes, self._stamp = {}, None
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        self._hashes = read_users(self.path)
        self._stamp = stamp
        self._good.clear()

    def check(self, user: str, password: str) -> bool:
        self._load()
        encoded = self._hashes.get(user)
        key = (user, hmac.digest(self._pepper, password.encode(), "sha256"))
        if encoded is not None and self._good.get(key) == encoded:
            return True
        ok = (
            verify_password(password, encoded if encoded is not None else _DUMMY_HASH) and encoded is not None
        )
        if ok:
            if len(self._good) > 10_000:
                self._good.clear()
            self._good[key] = encoded  # type: ignore[assignment]
        return ok


def read_users(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, _, encoded = line.partition(":")
        out[user.strip()] = encoded.strip()
    return out


def set_password(path: str | Path, user: str, password: str, scheme: str = "scrypt") -> bool:
    """Add or change ``user`` in the users file (created 0600); True if the user was new."""
    if not USER_NAME.match(user):
        raise ValueError(f"{user!r} is not a user name (letters, digits, '.', '_', '@', '-'; at most 64)")
    if not password:
        raise ValueError("the password is empty")
    path = Path(path)
    lines = path.read_text().splitlines() if path.exists() else []
    entry = f"{user}:{hash_password(password, scheme)}"
    new = True
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#") and line.partition(":")[0].strip() == user:
            lines[i] = entry
            new = False
    if new:
        lines.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new


# --- requests ------------------------------------------------------------------------------------------------


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, None if there is none or it is garbled."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def cert_common_name(peercert: Any) -> str | None:
    """The CN of a verified peer certificate as ``ssl.SSLSocket.getpeercert()`` gives it."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def peer_common_name(transport: Any) -> str | None:
    """The CN of the client certificate that the TLS layer verified on this connection (None: none sent)."""
    if transport is None:
        return None
    peercert = transport.get_extra_info("peercert")
    if not peercert:
        sslobj = transport.get_extra_info("ssl_object")
        peercert = sslobj.getpeercert() if sslobj is not None else None
    return cert_common_name(peercert)


def identify(
    *,
    cn: str | None,
    authorization: str | None,
    act_for: str | None,
    trusted: Iterable[str],
    users: UsersFile | None,
) -> Identity:
    """Who the request is from, or AuthError: 401 without usable credentials, 403 for acting for someone else."""
    if act_for is not None:
        act_for = act_for.strip()
        if not USER_NAME.match(act_for):
            raise AuthError(
                403, f"{ACT_FOR} must name a user (letters, digits, '.', '_', '@', '-'), not {act_for!r}"
            )
    if cn is not None:
        if not USER_NAME.match(cn):
            raise AuthError(403, f"the client certificate's CN {cn!r} is not a user name")
        if act_for is None or act_for == cn:
            return Identity(cn, "certificate")
        if cn in set(trusted):
            return Identity(act_for, "service", via=cn)
        raise AuthError(
            403, f"{cn} is not a trusted service: its certificate may not act for {act_for} ({ACT_FOR})"
        )
    basic = parse_basic(authorization)
    if basic is None:
        hint = (
            "a client certificate or HTTP Basic credentials" if users is not None else "a client certificate"
        )
        raise AuthError(401, f"authentication required: present {hint}")
    user, password = basic
    if users is None:
        raise AuthError(
            401, "this server accepts client certificates only (it has no users file for HTTP Basic)"
        )
    if not USER_NAME.match(user) or not users.check(user, password):
        raise AuthError(401, "wrong user name or password")
    if act_for is not None and act_for != user:
        raise AuthError(
            403,
            f"only a trusted service's certificate may act for another user ({ACT_FOR}), not {user}'s password",
        )
    return Identity(user, "password")
