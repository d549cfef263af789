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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""What a user name (a certificate's CN, a users file's name, X-Api-User-CN) may be."""

ACT_FOR = "X-Api-User-CN"
"""The header a trusted service (OAR, Kadeploy) names the user it acts for in."""
ANONYMOUS = "anonymous"
"""Who a certificate without a user is (python-grid5000 names it when no user is given): it may only read."""
NO_USER = frozenset({"", "unknown", "(unknown)", ANONYMOUS})
"""Names meaning no user, as g5k-api reads its user header."""

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000
_KEY_LEN = 32


class AuthError(Exception):
    """A refused request: ``status`` (401, 403, or 429 for too many password guesses) and one sentence."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


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
    """The server's users file, read again when it changes (``stamp`` says when it did)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stamp: tuple[float, int] | None = None
        self._hashes: dict[str, str] = {}

    def load(self) -> None:
        """Read the file again if it changed (a stat per call)."""
        try:
            st = self.path.stat()
        except OSError:
            self._hashes, self.stamp = {}, None
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp != self.stamp:
            self._hashes = read_users(self.path)
            self.stamp = stamp

    def hash_of(self, user: str) -> str | None:
        return self._hashes.get(user)

    def check(self, user: str, password: str) -> bool:
        """A key derivation, whether the user exists or not (the time does not tell who exists): call it off
        the event loop."""
        self.load()
        encoded = self._hashes.get(user)
        ok = verify_password(password, encoded if encoded is not None else _DUMMY_HASH)
        return ok and encoded is not None


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
    if not USER_NAME.fullmatch(user):
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
    except (ValueError, binascii.Error):  # not base64 (a header's non-ASCII bytes too), not UTF-8
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def cert_common_name(peercert: Any) -> str | None:
    """The CN of a verified peer certificate as ``ssl.SSLSocket.getpeercert()`` gives it; ``""`` for a
    certificate without one, None for no certificate."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def peer_common_name(transport: Any) -> str | None:
    """The CN of the client certificate that the TLS layer verified on this connection (None: none sent)."""
    if transport is None:
        return None
    peercert = transport.get_extra_info("peercert")
    if not peercert:
        sslobj = transport.get_extra_info("ssl_object")
        peercert = sslobj.getpeercert() if sslobj is not None else None
    return cert_common_name(peercert)


def user_of(name: str) -> str:
    """A certificate's or ``X-Api-User-CN``'s user as the original compares them: lower case, and no user
    (empty, ``unknown``, ``(unknown)``) as ``anonymous``."""
    text = name.strip().lower()
    return ANONYMOUS if text in NO_USER else text


@dataclass(frozen=True, slots=True)
class Services:
    """The certificates that may act for others: ``trusted`` for users, ``for_admins`` for administrators too."""

    trusted: frozenset[str] = frozenset()
    for_admins: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, trusted: Iterable[str], for_admins: Iterable[str], admins: Iterable[str]) -> Services:
        low = [t.lower() for t in for_admins]
        return cls(frozenset([t.lower() for t in trusted] + low), frozenset(low), frozenset(admins))


def identify_certificate(cn: str, act_for: str | None, services: Services) -> Identity:
    """Who a request with a verified certificate whose CN is ``cn`` is, or AuthError 403 for acting for
    someone it may not act for."""
    user = user_of(cn)
    wanted = _acting_for(act_for)
    if user == ANONYMOUS:
        if wanted in (None, ANONYMOUS):
            return Identity(ANONYMOUS, "certificate")
        raise AuthError(403, f"a certificate without a user may not act for {wanted} ({ACT_FOR})")
    if not USER_NAME.fullmatch(user):
        raise AuthError(403, f"the client certificate's CN {cn!r} is not a user name")
    if wanted is None or wanted == user:
        return Identity(user, "certificate")
    if wanted == ANONYMOUS:
        return Identity(ANONYMOUS, "certificate")  # reading as nobody is harmless (python-grid5000's default)
    if user not in services.trusted:
        raise AuthError(
            403, f"{user} is not a trusted service: its certificate may not act for {wanted} ({ACT_FOR})"
        )
    if wanted in services.admins and user not in services.for_admins:
        raise AuthError(
            403,
            f"{user} may act for users, not for {wanted}, an administrator "
            "(the server's --trusted-service-for-admins names the services that may)",
        )
    return Identity(wanted, "service", via=user)


def _acting_for(act_for: str | None) -> str | None:
    if act_for is None:
        return None
    wanted = user_of(act_for)
    if wanted != ANONYMOUS and not USER_NAME.fullmatch(wanted):
        raise AuthError(
            403, f"{ACT_FOR} must name a user (letters, digits, '.', '_', '@', '-'), not {act_for[:64]!r}"
        )
    return wanted


def password_identity(user: str, act_for: str | None) -> Identity:
    """Who a request whose password was verified is (its user may name itself, or nobody, in ``X-Api-User-CN``)."""
    wanted = _acting_for(act_for)
    if wanted is not None and wanted not in (user.lower(), ANONYMOUS):
        raise AuthError(
            403,
            f"only a trusted service's certificate may act for another user ({ACT_FOR}), not {user}'s password",
        )
    return Identity(ANONYMOUS if wanted == ANONYMOUS else user, "password")
