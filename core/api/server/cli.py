"""The ``kavlan-api`` command line: ``serve``, ``ca`` (certificates for mTLS) and ``passwd`` (HTTP Basic users)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ... import config as config_mod
from ...errors import KavlanError
from .. import auth
from .limits import Limits
from .options import (
    DEFAULT_LISTEN,
    DEFAULT_MOVE_WAIT,
    HEARTBEAT_SECONDS,
    Options,
    check_options,
    parse_listen,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"ca": _ca, "passwd": _passwd, "serve": _serve}
    if args.command not in commands:
        sys.stderr.write("kavlan-api: give a command: serve, ca or passwd (see kavlan-api --help)\n")
        return 2
    try:
        status = commands[args.command](args)
        sys.stdout.flush()
        return status
    except (
        BrokenPipeError
    ):  # its output closed early (kavlan-api ca ... | head -1): quietly, as SIGPIPE would
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, OSError, ssl.SSLError, KavlanError) as exc:
        sys.stderr.write(f"kavlan-api: {_sentence(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def _sentence(exc: BaseException) -> str:
    """An OS error as its reason and file; anything else as its message."""
    if isinstance(exc, OSError):
        plain = exc.strerror if exc.strerror and not isinstance(exc, ssl.SSLError) else str(exc)
        return f"{plain} ({exc.filename})" if getattr(exc, "filename", None) else plain
    return str(exc)


def _serve(args: argparse.Namespace) -> int:
    options = _options(args)
    check_options(options)
    settings = config_mod.load()

    def ready(url: str, sites: Sequence[str]) -> None:
        print(f"kavlan-api: serving {url} (sites: {', '.join(sites)})", flush=True)

    from .app import serve  # the service (SQLAlchemy, drivers) only once the options are right

    asyncio.run(serve(options, settings, ready=ready))
    return 0


def _ca(args: argparse.Namespace) -> int:
    from .. import ca

    for path in ca.make_all(args.dir, args.server_name, args.user, args.service, days=args.days):
        print(f"kavlan-api: wrote {path}")
    d = Path(args.dir)
    services = "".join(f" --trusted-service {s}" for s in args.service)
    print(
        f"kavlan-api: serve with: kavlan-api serve --listen 127.0.0.1:8443 --tls-cert {d / 'server.pem'} "
        f"--tls-key {d / 'server.key'} --client-ca {d / 'ca.pem'}{services}"
    )
    return 0


def _passwd(args: argparse.Namespace) -> int:
    new = auth.set_password(args.file, args.user, _read_password(), args.scheme)
    print(f"kavlan-api: user {args.user} {'added to' if new else 'changed in'} {args.file}")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _options(args: argparse.Namespace) -> Options:
    host, port = parse_listen(args.listen)
    return Options(
        host=host,
        port=port,
        tls_cert=args.tls_cert or "",
        tls_key=args.tls_key or "",
        client_ca=args.client_ca or "",
        users_file=args.users_file or "",
        trusted_services=tuple(args.trusted_service or ()),
        admin_services=tuple(args.trusted_service_for_admins or ()),
        sites=tuple(args.site or ()),
        insecure_http=args.insecure_http,
        move_wait=args.move_wait,
        access_log=args.access_log,
        audit_log=args.audit_log or "",
        heartbeat=args.heartbeat,
        limits=Limits(
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
            max_per_client=args.max_connections_per_client,
            max_streams=args.max_streams,
            max_streams_per_user=args.max_streams_per_user,
        ),
    )


# --- the parser --------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A refused command line is one line, as with the other console scripts (the words it quotes escaped)."""

    def error(self, message: str) -> NoReturn:
        shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
        sys.stderr.write(f"{self.prog}: {shown} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kavlan-api",
        description="The KaVLAN REST API server (and its certificate and password helpers).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _serve_parser(sub)
    _ca_parser(sub)
    _passwd_parser(sub)
    return p


def _serve_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    s = sub.add_parser(
        "serve",
        help="run the server",
        description="Serve the KaVLAN REST API (docs/api.md). The service "
        "itself is configured as for kavlan: config.toml and the KAVLAN_* variables (inventory, database, "
        "credentials, admins).",
    )
    s.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN}; port 0: any free port)",
    )
    _who_arguments(s)
    s.add_argument(
        "--site",
        action="append",
        metavar="SITE",
        help="a site this server serves (repeatable; default: the settings' site)",
    )
    s.add_argument(
        "--insecure-http", action="store_true", help="plain HTTP, on a loopback address only (HTTP Basic)"
    )
    s.add_argument(
        "--move-wait",
        type=float,
        default=DEFAULT_MOVE_WAIT,
        metavar="SECONDS",
        help=f"a move taking longer answers 202 and a location to poll (default {DEFAULT_MOVE_WAIT:g})",
    )
    s.add_argument(
        "--access-log",
        default="-",
        metavar="FILE",
        help="JSON lines, one per request (default: stderr; empty: none)",
    )
    s.add_argument(
        "--audit-log", metavar="FILE", help="JSON lines, one per change (who, what, before, after, result)"
    )
    s.add_argument(
        "--heartbeat", type=float, default=HEARTBEAT_SECONDS, metavar="SECONDS", help=argparse.SUPPRESS
    )
    _limit_arguments(s)


def _who_arguments(s: argparse.ArgumentParser) -> None:
    """TLS, and who may authenticate how."""
    s.add_argument("--tls-cert", metavar="PEM", help="the server's certificate (chain)")
    s.add_argument("--tls-key", metavar="PEM", help="the server's private key")
    s.add_argument(
        "--client-ca", metavar="PEM", help="CA whose client certificates are accepted (the user is the CN)"
    )
    s.add_argument(
        "--users-file", metavar="FILE", help="users and password hashes for HTTP Basic (kavlan-api passwd)"
    )
    s.add_argument(
        "--trusted-service",
        action="append",
        metavar="CN",
        help="a certificate CN that may act for users (X-Api-User-CN); repeatable",
    )
    s.add_argument(
        "--trusted-service-for-admins",
        action="append",
        metavar="CN",
        help="a trusted service that may act for administrators too (by default none may); repeatable",
    )


def _limit_arguments(s: argparse.ArgumentParser) -> None:
    """The bounds an operator may change (docs/api.md, Limits)."""
    d = Limits()
    for flag, kind, default, what in (
        (
            "--header-timeout",
            float,
            d.header_timeout,
            "seconds for a request's headers (TLS included) to arrive",
        ),
        ("--body-timeout", float, d.body_timeout, "seconds for a request's body to arrive"),
        ("--max-connections", int, d.max_connections, "open connections in total"),
        ("--max-connections-per-client", int, d.max_per_client, "open connections from one address"),
        ("--max-streams", int, d.max_streams, "event streams in total"),
        ("--max-streams-per-user", int, d.max_streams_per_user, "event streams of one user"),
    ):
        s.add_argument(flag, type=kind, default=default, metavar="N", help=f"{what} (default {default:g})")


def _ca_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    c = sub.add_parser(
        "ca",
        help="make a CA, the server's certificate, users' and services' certificates",
        description="Make (or reuse) a CA in DIR and issue the server's and clients' certificates, so that mTLS works at once.",
    )
    c.add_argument("dir", metavar="DIR")
    c.add_argument(
        "--server-name",
        required=True,
        metavar="NAME",
        help="the server's DNS name (also valid for 127.0.0.1)",
    )
    c.add_argument(
        "--user", action="append", default=[], metavar="USER", help="a user certificate (CN=USER); repeatable"
    )
    c.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="CN",
        help="a trusted service's certificate (e.g. oar); repeatable",
    )
    c.add_argument("--days", type=int, default=825, help="validity of the issued certificates (default 825)")


def _passwd_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    w = sub.add_parser(
        "passwd",
        help="add or change a user in a users file (password from stdin)",
        description="Add or change USER in FILE; the password is read from the terminal, or from stdin's first line.",
    )
    w.add_argument("file", metavar="FILE")
    w.add_argument("user", metavar="USER")
    w.add_argument("--scheme", choices=("scrypt", "pbkdf2_sha256"), default="scrypt")
