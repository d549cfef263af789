"""The client's HTTP: one session per API server, TLS (the server's CA, the client's certificate), HTTP Basic,
timeouts, a long move's 202 followed to its end, paged collections; a failure to talk as one sentence, an error
answer as the exception the service would have raised.

aiohttp is imported when the first request is made, not with this module: a face that never talks to a server
(or has not yet) does not pay for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...config import Settings
from ...errors import BadInput, KavlanError, Unavailable
from .. import wire

if TYPE_CHECKING:
    import aiohttp

ACT_FOR = "X-Api-User-CN"
"""The header naming the user a request acts for (honoured by the server for trusted services only)."""
MOVE_POLL_LIMIT = 900.0
"""Seconds a client follows a long move (202 + Location) before it gives up waiting (the move goes on)."""
PAGES_MAX = 1000
"""Pages of one collection a client follows at most (a server that pages for ever is cut short)."""


def check_urls(settings: Settings) -> None:
    """Every configured server URL is ``http(s)://HOST[:PORT][/PATH]``, or one sentence says which is not: a
    URL that is none would fail deep in the HTTP client, and one holding credentials would show them in every
    message that names its server."""
    named = [("api", settings.api)] if settings.api else []
    named += [(f"api_sites.{site}", url) for site, url in settings.api_sites.items()]
    for setting, url in named:
        why = _url_problem(url)
        if why:
            shown = "(not shown: it holds credentials)" if "credentials" in why else ascii(url[:100])
            raise BadInput(
                f"the KaVLAN API server URL {shown} of the setting {setting} is no server URL: {why}; "
                "set api, or api_sites, to https://HOST[:PORT]",
                about="api",
            )


def _url_problem(url: str) -> str:
    if not url.isprintable() or not url.isascii():
        return "it holds characters a URL does not (write a host name in its ASCII form)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is no number or out of range raises here)
    except ValueError as exc:
        return str(exc)
    if parts.username is not None or parts.password is not None:
        return "it holds credentials (user:password@): give the password in KAVLAN_API_PASSWORD"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "it must start with https:// (or http://) and name a host"
    if parts.query or parts.fragment:
        return "it may not hold a query or a fragment"
    return ""


class Transport:
    """The API servers as this client reaches them: a URL per site, a session per URL (made in the loop that
    uses it), the client's TLS and credentials."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tls = tls_context(settings)
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    def url(self, site: str) -> str:
        url = self.settings.api_sites.get(site) or self.settings.api
        if not url:
            known = ", ".join(self.settings.api_sites)
            raise BadInput(
                f"no API server for site {site}: set api, or api_sites.{site} (servers are set for {known})"
            )
        return url.rstrip("/")

    def session(self, url: str) -> aiohttp.ClientSession:
        import aiohttp

        session = self.sessions.get(url)
        if session is None or session.closed:
            s = self.settings
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.tls if self.tls is not None else True, limit=32),
                timeout=aiohttp.ClientTimeout(total=s.api_timeout, connect=min(10.0, s.api_timeout)),
                headers=self._basic(),
                raise_for_status=False,
            )
            self.sessions[url] = session
        return session

    def _basic(self) -> dict[str, str]:
        """HTTP Basic for clients without a certificate: the configured user and KAVLAN_API_PASSWORD."""
        s = self.settings
        if not s.api_password or s.client_cert:
            return {}
        token = base64.b64encode(f"{s.user}:{s.api_password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()

    async def send(
        self,
        base: str,
        method: str,
        target: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, str | None]:
        """One request: (status, decoded body, Location); connection failures and timeouts as one sentence."""
        import aiohttp
        from yarl import URL

        # a target is a path under base, or a URL the server gave (already encoded)
        url = URL(target, encoded=True) if "://" in target else URL(base + target)
        try:
            async with self.session(base).request(
                method, url, json=body, params=params, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status == 204 or method == "HEAD":
                    return resp.status, None, resp.headers.get("Location")
                text = await resp.text()
                return resp.status, _decoded(resp.content_type, text), resp.headers.get("Location")
        except TimeoutError:
            raise Unavailable(
                f"the KaVLAN API server {base} did not answer within {self.settings.api_timeout:g} s "
                "(setting api_timeout)"
            ) from None
        except aiohttp.ClientError as exc:
            raise refused_certificate(base, exc, self.settings) or _unreachable(base, exc) from None

    def error(self, base: str, status: int, body: Any) -> KavlanError:
        """The exception the face would have seen embedded (same class, same sentence)."""
        if status == 401:
            message = body.get("message") if isinstance(body, Mapping) else None
            how = (
                "check the client certificate (settings client_cert, client_key)"
                if self.settings.client_cert
                else "give a client certificate (settings client_cert, client_key) or a password (KAVLAN_API_PASSWORD)"
            )
            return KavlanError(
                f"the KaVLAN API server {base} did not accept who you are ({message or '401'}): {how}",
                about="client_cert",
            )
        return wire.error_from(status, body)

    async def call(
        self,
        base: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
    ) -> Any:
        """A request whose error answer raises; a 202 + Location (a long move) followed when ``follow``."""
        status, answer, location = await self.send(
            base, method, path, body=body, params=params, headers=headers
        )
        if status == 202 and follow and location:
            status, answer = await self._follow(base, location, headers)
        if status >= 400:
            raise self.error(base, status, answer)
        return answer

    async def _follow(self, base: str, location: str, headers: Mapping[str, str] | None) -> tuple[int, Any]:
        """Poll a long move's location (bounded, backing off) until it answers with its result."""
        from yarl import URL

        url = str(URL(base + "/").join(URL(location)))
        deadline = time.monotonic() + MOVE_POLL_LIMIT
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            status, answer, _ = await self.send(base, "GET", url, headers=headers)
            if status != 202:
                return status, answer
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"the move at {url} still runs after {MOVE_POLL_LIMIT:g} s: it goes on on the server",
                    about="where",
                )
            delay = min(delay * 2, 1.0)

    async def items(self, base: str, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a ``{total, offset, items}`` collection, following the offset when the server pages."""
        out: list[Any] = []
        query = dict(params or {})
        for _ in range(PAGES_MAX):
            answer = await self.call(base, "GET", path, params=query)
            if isinstance(answer, list):
                return answer
            items = list(answer.get("items", []))
            out += items
            total = answer.get("total")
            if not items or not isinstance(total, int) or len(out) >= total:
                return out
            query["offset"] = str(len(out))
        return out


def _decoded(content_type: str, text: str) -> Any:
    """JSON when it says so or looks so; else the text (the testbed description)."""
    if content_type in ("application/json", "application/problem+json") or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _unreachable(base: str, exc: aiohttp.ClientError) -> Unavailable:
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Unavailable(
            f"the KaVLAN API server {base} has a certificate this client does not trust "
            f"({reason(exc.certificate_error)}): give its CA in the setting ca_cert",
            about="ca_cert",
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return Unavailable(f"TLS with the KaVLAN API server {base} failed: {reason(exc)}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return Unavailable(f"cannot reach the KaVLAN API server {base}: {reason(exc)}")
    return Unavailable(f"the KaVLAN API server {base} answered unreadably: {reason(exc)}")


ALERTS = {
    "certificate expired": "expired",
    "unknown ca": "unknown CA",
    "bad certificate": "bad",
    "certificate unknown": "bad",
    "unsupported certificate": "bad",
    "certificate revoked": "revoked",
    "access denied": "denied",
}
"""The TLS alerts a server sends for a client certificate it refuses (OpenSSL's words, lower case)."""


def refused_certificate(base: str, exc: BaseException, settings: Settings) -> Unavailable | None:
    """The server's TLS alert about this client's certificate as what happened, in one sentence; None for any
    other failure."""
    text = reason(exc).lower().replace("_", " ")
    kind = next((k for alert, k in ALERTS.items() if f"alert {alert}" in text), None)
    if kind is None or not settings.client_cert:
        return None
    why = _why_refused(kind, os.path.expanduser(settings.client_cert))
    return Unavailable(
        f"the KaVLAN API server {base} refused your certificate: {why} (settings client_cert, client_key)",
        about="client_cert",
    )


def _why_refused(kind: str, path: str) -> str:
    """What is wrong with the certificate at ``path``, as far as this client can tell (its dates, its issuer)."""
    import datetime as dt

    from cryptography import x509

    try:
        with open(path, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError):
        cert = None
    now = dt.datetime.now(dt.UTC)
    if cert is not None and cert.not_valid_after_utc < now:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if cert is not None and cert.not_valid_before_utc > now:
        return f"it is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if kind == "expired":
        return "it has expired, says the server (check this machine's clock)"
    if kind == "unknown CA":
        issuer = cert.issuer.rfc4514_string() if cert is not None else "an unknown issuer"
        return f"it is signed by {issuer}, which is not a CA the server trusts"
    return f"the server does not accept it ({kind} certificate)"


def reason(exc: BaseException) -> str:
    text = str(getattr(exc, "os_error", None) or exc) or type(exc).__name__
    return text.split("] ", 1)[-1] if text.startswith("[") else text


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's CA (-C) and the client certificate (-c/-k); None: the system's CAs, no client certificate."""
    if not (settings.ca_cert or settings.client_cert):
        return None
    ca, cert, key = (
        os.path.expanduser(p) if p else ""
        for p in (settings.ca_cert, settings.client_cert, settings.client_key)
    )
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca or None)
    except (OSError, ssl.SSLError) as exc:
        raise BadInput(f"cannot read the CA certificate {settings.ca_cert}: {reason(exc)}") from None
    if cert:
        try:
            ctx.load_cert_chain(cert, key or None)
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(
                f"cannot use the client certificate {settings.client_cert}"
                + (f" with the key {settings.client_key}" if settings.client_key else "")
                + f": {reason(exc)}"
            ) from None
    return ctx
