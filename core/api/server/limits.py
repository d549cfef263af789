"""The bounds of one kavlan-api server: what a request may carry, how long it may take to arrive, how many
connections and event streams it may hold, how often a password may be guessed. docs/api.md lists them.

Every bound is checked before the work it bounds starts: a request over a limit is refused (413, 400, 408,
429 or 503, one sentence) having cost the server little more than reading its headers.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

# --- what one request may carry ------------------------------------------------------------------------------

MAX_BODY = 1024 * 1024
"""Bytes a request body may hold: a move of every NIC of a 5,000-node testbed is far less. Parsing the largest
body allowed takes about 2 ms."""
MAX_NODES = 5000
"""Names one request (a move, ``POST /vlans/nodes``) may carry, duplicates included."""
MAX_VALUES = 2 * MAX_NODES
"""Values (commas, counted before parsing) one JSON body may hold: parsing and checking the most allowed takes
a few milliseconds, whatever the values are."""
MAX_NAME = 255
"""Characters of one node name (a DNS name's bound): a longer one is no node."""
MAX_JSON_DEPTH = 32
"""Nesting of a request's JSON: no request of this API nests more than 3 levels."""
RESOLVE_CHUNK = 500
"""Names resolved before the server lets other requests run: a request never holds the event loop for long."""
AUDIT_ITEMS = 200
"""Entries of one list or map in an audit line; the rest is counted (``nodes_total``...), so that a line stays
bounded."""
CLAIMED_MAX = 64
"""Characters of a claimed user name kept in the access log."""

# --- jobs listing (the original's paging) --------------------------------------------------------------------

JOBS_LIMIT = 50
"""Jobs one page holds when ``limit`` is not given (as g5k-api)."""
JOBS_LIMIT_MAX = 500
"""The largest page: a larger ``limit`` is cut to this (as g5k-api)."""

# --- time, connections, streams --------------------------------------------------------------------------------

HEADER_SECONDS = 10.0
"""From a connection's opening (TLS handshake included) or the end of its previous answer, to the end of the
next request's headers; an idle keep-alive connection is closed then too."""
BODY_SECONDS = 30.0
"""For a request's body to arrive, once its headers have."""
STALLED_HEADER_TIMEOUTS = 6
"""A connection idle (no request in progress) for this many header timeouts (a minute by default) is writing an
answer its client does not read: it ends."""
MAX_CONNECTIONS = 1024
"""Open connections in total (at most the open-files limit less ``FD_RESERVE``)."""
MAX_PER_CLIENT = 256
"""Open connections from one client address (a frontend's users share its address)."""
FD_RESERVE = 128
"""File descriptors kept for what is not a client connection: the store, logs, switches, DHCP servers."""
MAX_STREAMS = 256
"""Event streams open at once, in total..."""
MAX_STREAMS_PER_USER = 8
"""...and per user."""
STREAM_WRITE_SECONDS = 30.0
"""An event stream whose reader takes longer than this to accept a line is ended."""
REFUSAL_LOG_SECONDS = 10.0
"""Refused connections of one kind from one address are logged once, then counted in one line this often."""


IPV6_CLIENT_PREFIX = 64
"""An IPv6 client is its /64: a host is commonly given a whole /64, and could otherwise take a new address for
every connection or every password guess."""


def client_group(address: str) -> str:
    """What a bound per client address counts: an IPv4 address (an IPv4-mapped IPv6 one too), or an IPv6
    address's /64; anything else (a Unix socket's name) as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Limits:
    """The bounds an operator may change (``kavlan-api serve --max-connections`` ...)."""

    header_timeout: float = HEADER_SECONDS
    body_timeout: float = BODY_SECONDS
    max_connections: int = MAX_CONNECTIONS
    max_per_client: int = MAX_PER_CLIENT
    max_streams: int = MAX_STREAMS
    max_streams_per_user: int = MAX_STREAMS_PER_USER

    def check(self) -> None:
        """One sentence for a bound that makes no server."""
        if not (0 < self.header_timeout < math.inf) or not (0 < self.body_timeout < math.inf):
            raise ValueError("--header-timeout and --body-timeout must be more than 0 seconds (finite)")
        if self.max_connections < 1 or self.max_per_client < 1:
            raise ValueError("--max-connections and --max-connections-per-client must be at least 1")
        if self.max_streams < 0 or self.max_streams_per_user < 0:
            raise ValueError("--max-streams and --max-streams-per-user must be 0 or more")
