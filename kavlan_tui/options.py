"""Command-line options that several faces share: remote mode (``--api``) and the API client's certificates."""

from __future__ import annotations

import argparse


def add_api_arguments(parser: argparse.ArgumentParser, *, short: bool = False) -> None:
    """``--api URL`` and the certificate options of the original's ``kavlan`` (``-C/-c/-k`` with ``short``)."""
    parser.add_argument(
        "--api", metavar="URL", help="remote mode: the KaVLAN API server (https://host:port/)"
    )
    cert = (["-C"] if short else []) + ["--ca-cert"]
    parser.add_argument(*cert, dest="ca_cert", metavar="CA", help="CA certificate of the API server")
    parser.add_argument(
        *(["-c"] if short else []),
        "--client-cert",
        dest="client_cert",
        metavar="CERT",
        help="client certificate (its CN is the user)",
    )
    parser.add_argument(
        *(["-k"] if short else []), "--client-key", dest="client_key", metavar="KEY", help="client key"
    )


def api_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    """The settings the API options override (None: not given)."""
    return {
        "api": getattr(args, "api", None),
        "ca_cert": getattr(args, "ca_cert", None),
        "client_cert": getattr(args, "client_cert", None),
        "client_key": getattr(args, "client_key", None),
    }
