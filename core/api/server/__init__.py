"""kavlan-api: the REST API server that holds the switch credentials and serves one or more sites' KaVLAN.

One :class:`~kavlan_core.service.KavlanService` per process; each request's user (its client certificate's CN,
the user a trusted service acts for, or an HTTP Basic user) is passed as ``user=`` to the service, which checks
the rights and words the refusals exactly as the CLI shows them. The contract is ``docs/api.md``; the OpenAPI
document (``/openapi.json``) is :mod:`kavlan_core.api.openapi`.

Laid out as aiohttp's demos are: ``app`` (the factory, ``init_app``, and ``serve``), ``routes``, ``handlers/``
(one module per resource), ``middlewares`` (the error boundary and authentication), ``errors`` (what each error
answers), ``params`` (reading a request), ``shapes`` (the original's JSON), ``state`` (what the handlers share),
``longmoves``, ``logs`` (access and audit, secrets masked), ``options`` (and TLS), ``cli`` (``kavlan-api``).
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
