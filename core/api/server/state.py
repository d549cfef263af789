"""What every handler of one server shares: the service, the served sites, the users file, the logs, the long
moves; kept on the application under ``STATE`` (aiohttp's typed keys), with the request's ``IDENTITY``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ... import events
from ...errors import BadInput
from ...model import vlan_label
from .. import auth, openapi
from .logs import AuditLog, JsonLines
from .longmoves import LongMoves
from .options import Options
from .passwords import Passwords

if TYPE_CHECKING:  # the service (SQLAlchemy, drivers) is imported when serving: option errors answer at once
    from ...service import KavlanService


class EventSites:
    """The sites an event is about (its switches', its nodes', its VLAN's); an event about no site in particular
    (a move's end, a job's start or end, a staged move's step) is about every site."""

    KEPT = 10_000

    def __init__(self, inventory: Any) -> None:
        self.inventory = inventory
        self._by_name: dict[str, str | None] = {}

    def readable(self, event: events.Event, sites: frozenset[str]) -> bool:
        about = self.of(event)
        return not about or not about.isdisjoint(sites)

    def of(self, event: events.Event) -> set[str]:
        if isinstance(event, events.DhcpChanged):
            return {event.site}
        if isinstance(event, (events.SwitchStarted, events.SwitchFinished, events.DriftFound)):
            sw = self.inventory.switches.get(event.switch)
            return {sw.site} if sw is not None else set()
        if isinstance(event, events.NodeMoved):
            return {s for s in (self._site(event.node),) if s}
        if isinstance(event, events.MoveStarted):
            return {s for s in map(self._site, event.nodes) if s}
        return set()

    def _site(self, name: str) -> str | None:
        if name not in self._by_name:
            if len(self._by_name) >= self.KEPT:
                self._by_name.clear()
            try:
                self._by_name[name] = self.inventory.resolve(name).node.site
            except (KeyError, ValueError):
                self._by_name[name] = None
        return self._by_name[name]


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
        self.passwords = Passwords(auth.UsersFile(options.users_file)) if options.users_file else None
        self.services = auth.Services.of(
            options.trusted_services, options.admin_services, service.settings.admins
        )
        self.access_log = JsonLines(options.access_log)
        self.audit = AuditLog(JsonLines(options.audit_log))
        self.streams: dict[str, int] = {}
        """Event streams open, by user."""
        self.event_sites = EventSites(self.inventory)
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

    def readable_sites(self, user: str) -> frozenset[str]:
        """The sites whose state ``user`` may read here: reads are open to everyone (anonymous included), on
        the sites this server serves."""
        return frozenset(self.sites)

    def close(self) -> None:
        self.access_log.close()
        self.audit.close()
        if self.passwords is not None:
            self.passwords.close()


STATE = web.AppKey("state", ServerState)
IDENTITY = web.RequestKey("identity", auth.Identity)
"""Who the request is, once the authentication middleware knows."""
CLAIMED = web.RequestKey("claimed", str)
"""Who the request said it was (a certificate's CN, a Basic user), for the access log of a refused one."""


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE]


def identity(request: web.Request) -> auth.Identity:
    return request[IDENTITY]
