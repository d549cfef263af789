"""What a remote client learns before it serves a face: the sites each configured server serves, the testbed
description (so that names, hostnames and SSH routes are computed here as embedded) and who this user is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...config import Settings
from ...errors import BadInput, KavlanError
from .transport import Transport


@dataclass(frozen=True, slots=True)
class Boot:
    home: str
    """The server that gave the testbed description..."""
    site: str
    """...under this site's path."""
    inventory: str
    whoami: dict[str, Any]
    served: dict[str, tuple[str, ...]]
    """The sites each server serves, by URL."""


async def boot(transport: Transport, settings: Settings) -> Boot:
    """Ask the configured servers (all at once) what they serve; the home one for the rest."""
    home = (
        transport.url(settings.site)
        if settings.site
        else settings.api or next(iter(settings.api_sites.values()))
    )
    home = home.rstrip("/")
    urls = list(
        dict.fromkeys([home, *(u.rstrip("/") for u in (settings.api, *settings.api_sites.values()) if u)])
    )
    answers = await asyncio.gather(*(_sites_of(transport, url) for url in urls), return_exceptions=True)
    served: dict[str, tuple[str, ...]] = {}
    for url, answer in zip(urls, answers, strict=True):
        if isinstance(answer, BaseException):
            if url == home or not isinstance(answer, KavlanError):
                raise answer
            answer = ()  # another site's server is down: its sites' requests will say so
        served[url] = answer
    site = settings.site if settings.site in served[home] else next(iter(served[home]), settings.site)
    if not site:
        raise BadInput(f"remote mode needs this frontend's site: set site (KAVLAN_SITE); {home} serves none")
    inventory, whoami = await asyncio.gather(
        transport.call(home, "GET", f"/sites/{site}/kavlan/inventory"),
        transport.call(home, "GET", f"/sites/{site}/kavlan/whoami"),
    )
    if not isinstance(inventory, str) or not isinstance(whoami, Mapping):
        raise KavlanError(f"{home} does not answer as a KaVLAN API server (testbed description, whoami)")
    return Boot(home, site, inventory, dict(whoami), served)


async def _sites_of(transport: Transport, base: str) -> tuple[str, ...]:
    """The sites a server serves (``GET /sites``)."""
    body = await transport.call(base, "GET", "/sites")
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise KavlanError(f"{base} does not answer as a KaVLAN API server (GET /sites)")
    return tuple(str(i.get("uid") if isinstance(i, Mapping) else i) for i in items)
