"""How a kavlan-api server is run: its options, the checks that they make a safe server, and its TLS."""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
from dataclasses import dataclass, field

from .limits import Limits

DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_MOVE_WAIT = 10.0
HEARTBEAT_SECONDS = 15.0


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: str = ""
    tls_key: str = ""
    client_ca: str = ""
    users_file: str = ""
    trusted_services: tuple[str, ...] = ()
    admin_services: tuple[str, ...] = ()
    """Trusted services that may act for administrators too (``--trusted-service-for-admins``)."""
    sites: tuple[str, ...] = ()
    insecure_http: bool = False
    move_wait: float = DEFAULT_MOVE_WAIT
    access_log: str = "-"
    audit_log: str = ""
    heartbeat: float = HEARTBEAT_SECONDS
    limits: Limits = field(default_factory=Limits)


def parse_listen(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]+)):(?P<port>[0-9]{1,5})", text.strip())
    if not m or int(m["port"]) > 65535:
        raise ValueError(f"--listen must be HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443), not {text!r}")
    return (m["v6"] or m["host"]), int(m["port"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: Options) -> None:
    """One sentence for each way the options cannot make a safe server."""
    options.limits.check()
    if not (0 <= options.move_wait < math.inf) or not (0 < options.heartbeat < math.inf):
        raise ValueError("--move-wait must be 0 or more and --heartbeat more than 0 seconds (finite)")
    if options.insecure_http:
        _check_plain_http(options)
        return
    if not options.tls_cert or not options.tls_key:
        raise ValueError(
            "HTTPS needs --tls-cert and --tls-key (make them with: kavlan-api ca DIR --server-name NAME), "
            "or use --insecure-http on a loopback address"
        )
    if not options.client_ca and not options.users_file:
        raise ValueError(
            "nobody could authenticate: give --client-ca (client certificates) and/or --users-file (HTTP Basic)"
        )


def _check_plain_http(options: Options) -> None:
    if not is_loopback(options.host):
        raise ValueError(
            f"--insecure-http serves plain HTTP on a loopback address only (127.0.0.1, ::1), not on {options.host}"
        )
    if options.tls_cert or options.client_ca:
        raise ValueError(
            "--insecure-http serves plain HTTP: drop --tls-cert and --client-ca, or drop --insecure-http"
        )
    if not options.users_file:
        raise ValueError(
            "--insecure-http needs --users-file: over plain HTTP users authenticate with HTTP Basic"
        )


def tls_context(options: Options) -> ssl.SSLContext:
    """The server's TLS: its certificate, and client certificates verified against ``--client-ca`` only (never
    the system's CAs, which would let any public certificate name any user)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # a TLS 1.2 client renegotiating again and again would make the server do a handshake's work each time
    # (OpenSSL 3 refuses it by default: said here for any build that would not)
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(options.tls_cert, options.tls_key)
    if options.client_ca:
        ctx.load_verify_locations(cafile=options.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
