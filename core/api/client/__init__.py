"""The remote client: the service's interface over the REST API (:class:`RemoteService`), its HTTP
(``transport``), the relay of the servers' event streams (``stream``), what it learns at start (``boot``) and
how it reads the original's answers (``shapes``). It imports no store, and aiohttp only once it talks."""

from __future__ import annotations

from .service import RemoteService

__all__ = ["RemoteService"]
