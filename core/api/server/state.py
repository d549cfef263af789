"""What every handler of one server shares: the service, the served sites, the users file, the logs, the long
moves; kept on the application under ``STATE`` (aiohttp's typed keys), with the request's ``IDENTITY``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...errors import BadInput
from ...model import vlan_label
from .. import auth, openapi
from .logs import AuditLog, JsonLines, credential_strings
from .longmoves import LongMoves
from .options import Options

if TYPE_CHECKING:  # the service (SQLAlchemy, drivers) is imported when serving: option errors answer at once
    from ...service import KavlanService


class ServerState:
    """One server's shared objects; made before it listens, so that a bad ``--site`` answers at once."""

    def __init__(self, service: KavlanService, options: Options) -> None:
        self.service = service
        self.inventory = service.inventory
        self.options = options
        self.sites = tuple(options.sites) or (service.site,)
        for s in self.sites:
            if s not in self.inventory.sites:
                raise BadInput(
                    f"--site {s}: no such site in the testbed (sites: {', '.join(self.inventory.sites)})"
                )
        self.users = auth.UsersFile(options.users_file) if options.users_file else None
        self.secrets = credential_strings(service.settings.credentials)
        self.access_log = JsonLines(options.access_log, self.secrets)
        self.audit = AuditLog(JsonLines(options.audit_log, self.secrets))
        self.moves = LongMoves()
        self.closing = asyncio.Event()
        """Set when the server stops: the event streams end."""
        self.inventory_text: str | None = None
        """The public testbed description, made at its first request."""
        vlan_uids = [vlan_label(v) for v in self.inventory.vlan_ids(self.sites[0])]
        self.document: dict[str, Any] = openapi.document(
            self.sites, vlan_uids, insecure=options.insecure_http
        )

    def is_admin(self, user: str) -> bool:
        return user in self.service.settings.admins

    def close_logs(self) -> None:
        self.access_log.close()
        self.audit.close()


STATE = web.AppKey("state", ServerState)
IDENTITY = web.RequestKey("identity", auth.Identity)
"""Who the request is, once the authentication middleware knows."""
CLAIMED = web.RequestKey("claimed", str)
"""Who the request said it was (a certificate's CN, a Basic user), for the access log of a refused one."""


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE]


def identity(request: web.Request) -> auth.Identity:
    return request[IDENTITY]
