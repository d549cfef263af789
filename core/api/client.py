"""RemoteService: the service's interface over the KaVLAN REST API, for the faces in remote mode.

The faces hold it exactly as they hold an embedded ``KavlanService``: it loads the testbed description from the
server (so that names, hostnames and SSH routes are computed here as embedded), sends every read and change to
the API server of the site concerned, rebuilds the service's objects and exceptions with
:mod:`kavlan_core.api.wire`, and relays the server's event stream into a local :class:`EventBus`.

A node is always moved by its own site's server: a move naming nodes of several sites is split per site (each
part checked by a dry run first, so that a refusal changes nothing), and the reports are merged into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from .. import inventory as inventory_mod
from ..authz import PRIVILEGES
from ..config import Settings
from ..errors import BadInput, KavlanError, NotAllowed, NotFound, Unavailable
from ..events import Event, EventBus, MoveFinished
from ..interface import Service
from ..model import DEFAULT, Job, vlan_label
from ..plan import Plan
from ..reports import Drift, Lease, Member, MoveReport, NodeResult, Outcome, VlanInfo
from . import wire

T = TypeVar("T")

ACT_FOR = "X-Api-User-CN"
"""The header naming the user a request acts for (honoured by the server for trusted services only)."""
MOVE_POLL_LIMIT = 900.0
"""Seconds a client follows a long move (202 + Location) before it gives up waiting (the move goes on)."""
STREAM_READY_WAIT = 2.0
"""Seconds a move waits for the event streams to be connected, so that the live view sees all of it."""
STREAM_IDLE = 45.0
"""Seconds without a line (the server sends a heartbeat every 15 s) before the stream is reconnected."""
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0
"""Reconnection delays of the event stream, seconds (doubled, jittered)."""


class _Http:
    """One aiohttp session per API server (created in the loop that uses it), TLS, auth, timeouts, errors."""

    def __init__(self, settings: Settings, tls: ssl.SSLContext | None) -> None:
        self.settings = settings
        self.tls = tls
        self.timeout = aiohttp.ClientTimeout(
            total=settings.api_timeout, connect=min(10.0, settings.api_timeout)
        )
        # HTTP Basic for clients without a certificate: the configured user and KAVLAN_API_PASSWORD
        self.auth = (
            aiohttp.BasicAuth(settings.user, settings.api_password)
            if settings.api_password and not settings.client_cert
            else None
        )
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
        session = self.sessions.get(url)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(ssl=self.tls if self.tls is not None else True, limit=32)
            session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, auth=self.auth, raise_for_status=False
            )
            self.sessions[url] = session
        return session

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()

    async def send(
        self,
        base: str,
        method: str,
        target: str | URL,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, str | None]:
        """One request: (status, decoded body, Location); connection failures and timeouts as one sentence."""
        url = URL(base + target) if isinstance(target, str) else target
        try:
            async with self.session(base).request(
                method, url, json=body, params=params, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                location = resp.headers.get("Location")
                if status == 204 or method == "HEAD":
                    return status, None, location
                text = await resp.text()
                if resp.content_type in ("application/json", "application/problem+json") or text[:1] in (
                    "{",
                    "[",
                ):
                    try:
                        return status, json.loads(text), location
                    except ValueError:
                        pass
                return status, text, location
        except TimeoutError:
            raise Unavailable(
                f"the KaVLAN API server {base} did not answer within {self.settings.api_timeout:g} s "
                "(setting api_timeout)"
            ) from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise Unavailable(
                f"the KaVLAN API server {base} has a certificate this client does not trust "
                f"({_reason(exc.certificate_error)}): give its CA in the setting ca_cert",
                about="ca_cert",
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise Unavailable(f"TLS with the KaVLAN API server {base} failed: {_reason(exc)}") from None
        except aiohttp.ClientConnectionError as exc:
            raise Unavailable(f"cannot reach the KaVLAN API server {base}: {_reason(exc)}") from None
        except aiohttp.ClientError as exc:
            raise Unavailable(f"the KaVLAN API server {base} answered unreadably: {_reason(exc)}") from None

    def error(self, base: str, status: int, body: Any) -> KavlanError:
        """The exception the face would have seen embedded (same class, same sentence)."""
        if status == 401:
            message = body.get("message") if isinstance(body, Mapping) else None
            how = (
                "check the client certificate (-c/-k)"
                if self.settings.client_cert
                else "give a client certificate (-c/-k) or a password (KAVLAN_API_PASSWORD)"
            )
            return KavlanError(
                f"the KaVLAN API server {base} did not accept who you are ({message or '401'}): {how}"
            )
        return wire.error_from(status, body)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "os_error", None) or exc) or type(exc).__name__
    return text.split("] ", 1)[-1] if text.startswith("[") else text


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
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
        raise BadInput(f"cannot read the CA certificate {settings.ca_cert}: {_reason(exc)}") from None
    if cert:
        try:
            ctx.load_cert_chain(cert, key or None)
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(
                f"cannot use the client certificate {settings.client_cert}"
                + (f" with the key {settings.client_key}" if settings.client_key else "")
                + f": {_reason(exc)}"
            ) from None
    return ctx


def _blocking(make: Callable[[], Awaitable[T]], limit: float) -> T:
    """Run a coroutine to its end from synchronous code, inside or outside an event loop (in a thread of its own)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=target, name="kavlan-api-blocking", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise Unavailable(f"the KaVLAN API server did not answer within {limit:g} s")
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Boot:
    home: str
    """The server that gave the testbed description..."""
    site: str
    """...under this site's path."""
    inventory: str
    whoami: dict[str, Any]
    served: dict[str, tuple[str, ...]]
    """The sites each server serves, by URL."""


class _RemoteEvents(EventBus):
    """The local bus; the first subscriber or queue starts relaying the servers' event streams."""

    def __init__(self, start: Callable[[], None]) -> None:
        super().__init__()
        self._start = start

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(callback)
        self._start()
        return unsubscribe

    def queue(self, maxsize: int = 10_000) -> asyncio.Queue[Event]:
        q = super().queue(maxsize)
        self._start()
        return q


class RemoteService(Service):
    """The service's interface over HTTP: what the faces hold in remote mode (``connect`` builds it)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        if not (settings.api or settings.api_sites):
            raise BadInput("remote mode needs an API server: set api, or api_sites", about="api")
        self.clock = clock
        self._tls = _tls_context(settings)
        self._http = _Http(settings, self._tls)
        self._streams: list[asyncio.Task[None]] = []
        self._stream_ready: asyncio.Event | None = None
        self._moves_seen = 0
        self._stream_connects = 0
        """How often an event stream was (re)connected."""
        self._closed = False
        self.events: EventBus = _RemoteEvents(self._start_events)

        boot = _blocking(lambda: self._bootstrap(settings), settings.api_timeout * 2 + 5)
        source = f"{boot.home}/sites/{boot.site}/kavlan/inventory"
        try:
            self.inventory = inventory_mod.parse(boot.inventory, source=source)
        except inventory_mod.InventoryError as exc:
            raise KavlanError(f"the testbed description served by {boot.home} is unusable: {exc}") from None
        self.user = str(boot.whoami.get("uid") or settings.user)
        self._served = boot.served
        site = settings.site or boot.site
        if site not in self.inventory.sites:
            raise BadInput(
                f"unknown site {site!r} in the configuration (sites: {', '.join(self.inventory.sites)})"
            )
        self.site = site
        # the faces check rights with settings.admins (Rights.of): the server says whether this user is one
        admins = tuple(a for a in settings.admins if a != self.user)
        if boot.whoami.get("admin"):
            admins += (self.user,)
        self.settings = replace(settings, user=self.user, admins=admins, inventory=source)

    async def _bootstrap(self, settings: Settings) -> _Boot:
        """The sites each server serves, the testbed description and who this user is (this thread's own loop)."""
        http = _Http(settings, self._tls)
        try:
            home = (
                http.url(settings.site)
                if settings.site
                else (settings.api or next(iter(settings.api_sites.values())))
            )
            home = home.rstrip("/")
            urls = list(
                dict.fromkeys(
                    [home, *(u.rstrip("/") for u in (settings.api, *settings.api_sites.values()) if u)]
                )
            )
            answers = await asyncio.gather(
                *(self._sites_of(http, url) for url in urls), return_exceptions=True
            )
            served: dict[str, tuple[str, ...]] = {}
            for url, answer in zip(urls, answers, strict=True):
                if isinstance(answer, BaseException):
                    if url == home or not isinstance(answer, KavlanError):
                        raise answer
                    answer = ()  # another site's server is down: its sites' requests will say so
                served[url] = answer
            site = settings.site if settings.site in served[home] else next(iter(served[home]), settings.site)
            if not site:
                raise BadInput(
                    f"remote mode needs this frontend's site: set site (KAVLAN_SITE); {home} serves none"
                )
            (s1, inv, _), (s2, who, _) = await asyncio.gather(
                http.send(home, "GET", f"/sites/{site}/kavlan/inventory"),
                http.send(home, "GET", f"/sites/{site}/kavlan/whoami"),
            )
            for status, body in ((s1, inv), (s2, who)):
                if status >= 400:
                    raise http.error(home, status, body)
            if not isinstance(inv, str) or not isinstance(who, Mapping):
                raise KavlanError(
                    f"{home} does not answer as a KaVLAN API server (testbed description, whoami)"
                )
            return _Boot(home, site, inv, dict(who), served)
        finally:
            await http.close()

    @staticmethod
    async def _sites_of(http: _Http, base: str) -> tuple[str, ...]:
        """The sites a server serves (``GET /sites``)."""
        status, body, _ = await http.send(base, "GET", "/sites")
        if status >= 400:
            raise http.error(base, status, body)
        items = body.get("items") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise KavlanError(f"{base} does not answer as a KaVLAN API server (GET /sites)")
        return tuple(str(i.get("uid") if isinstance(i, Mapping) else i) for i in items)

    def _job_sites(self) -> list[str]:
        """The sites whose servers list jobs (a server lists the jobs touching its sites), this one first."""
        out = []
        for site in [self.site, *self.inventory.sites]:
            with contextlib.suppress(BadInput):
                if site not in out and site in self._served.get(self._http.url(site), ()):
                    out.append(site)
        return out or [self.site]

    # --- plumbing ---------------------------------------------------------------------------------------

    def reachable_sites(self) -> list[str]:
        out = []
        for site in self.inventory.sites:
            with contextlib.suppress(BadInput):
                if site in self._served.get(self._http.url(site), ()):
                    out.append(site)
        return out

    def describe(self) -> str:
        urls: dict[str, list[str]] = {}
        for site in self.inventory.sites:
            with contextlib.suppress(BadInput):
                urls.setdefault(self._http.url(site), []).append(site)
        if len(urls) == 1:
            return f"API server: {next(iter(urls))}"
        return "API servers: " + ", ".join(f"{url} ({', '.join(sites)})" for url, sites in urls.items())

    async def close(self) -> None:
        self._closed = True
        streams, self._streams = self._streams, []
        for task in streams:
            task.cancel()
        for task in streams:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._http.close()

    async def _call(
        self,
        site: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        user: str | None = None,
        follow: bool = False,
    ) -> Any:
        """A request to ``site``'s server; 202 + Location followed when ``follow``; errors as the service's."""
        base = self._http.url(site)
        headers = {ACT_FOR: user} if user and user != self.user else None
        status, answer, location = await self._http.send(
            base, method, path, body=body, params=params, headers=headers
        )
        if status == 202 and follow and location:
            status, answer = await self._follow(base, location, headers)
        if status >= 400:
            raise self._http.error(base, status, answer)
        return answer

    async def _follow(self, base: str, location: str, headers: Mapping[str, str] | None) -> tuple[int, Any]:
        """Poll a long move's location (bounded) until it answers with its result."""
        url = URL(base + "/").join(URL(location))
        deadline = time.monotonic() + MOVE_POLL_LIMIT
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            status, answer, _ = await self._http.send(base, "GET", url, headers=headers)
            if status != 202:
                return status, answer
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"the move at {url} still runs after {MOVE_POLL_LIMIT:g} s: it goes on on the server",
                    about="where",
                )
            delay = min(delay * 2, 1.0)

    async def _items(self, site: str, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a ``{total, offset, items}`` collection, following the offset when the server pages."""
        out: list[Any] = []
        query = dict(params or {})
        for _ in range(1000):
            answer = await self._call(site, "GET", path, params=query)
            if isinstance(answer, list):
                return answer
            items = list(answer.get("items", []))
            out += items
            total = answer.get("total")
            if not items or not isinstance(total, int) or len(out) >= total:
                return out
            query["offset"] = str(len(out))
        return out

    # --- the event stream -------------------------------------------------------------------------------

    def _start_events(self) -> None:
        if self._streams or self._closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: a later subscriber starts them
        self._stream_ready = asyncio.Event()
        servers: dict[str, str] = {}  # each server once, under a site it serves
        for site in self.inventory.sites:
            with contextlib.suppress(BadInput):
                url = self._http.url(site)
                if site in self._served.get(url, ()):
                    servers.setdefault(url, site)
        ready = [asyncio.Event() for _ in servers]
        self._streams = [
            asyncio.create_task(self._pump(base, site, flag), name=f"kavlan-events {base}")
            for (base, site), flag in zip(servers.items(), ready, strict=True)
        ]
        self._streams.append(asyncio.create_task(self._all_ready(ready), name="kavlan-events ready"))

    async def _all_ready(self, flags: list[asyncio.Event]) -> None:
        await asyncio.gather(*(f.wait() for f in flags))
        assert self._stream_ready is not None
        self._stream_ready.set()

    async def _pump(self, base: str, site: str, ready: asyncio.Event) -> None:
        """Relay one server's NDJSON event stream into the local bus; reconnect with a bounded, jittered backoff."""
        backoff = BACKOFF_FIRST
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(10.0, self._http.settings.api_timeout), sock_read=STREAM_IDLE
        )
        while not self._closed:
            try:
                session = self._http.session(base)
                async with session.get(f"{base}/sites/{site}/kavlan/events", timeout=timeout) as resp:
                    if resp.status == 200:
                        self._stream_connects += 1
                        ready.set()
                        backoff = BACKOFF_FIRST
                        async for line in resp.content:
                            self._relay(line)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass  # the server restarts or the network blips: try again
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _relay(self, line: bytes) -> None:
        try:
            data = json.loads(line)
            event = wire.decode_event(data) if isinstance(data, Mapping) else None
        except (ValueError, TypeError, KeyError):
            return  # a line this client cannot read (a newer server): skip it
        if event is None:
            return  # a heartbeat, or a type this client does not know
        if isinstance(event, MoveFinished):
            self._moves_seen += 1
        self.events.publish(event)

    async def _streams_ready(self) -> None:
        if self._stream_ready is not None and not self._stream_ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stream_ready.wait(), STREAM_READY_WAIT)

    async def _move_seen(self, before: int, moves: int) -> None:
        """After a move, give its last events a moment to arrive, so that a face sees them before it goes on."""
        if self._stream_ready is None or not self._stream_ready.is_set() or moves == 0:
            return
        deadline = time.monotonic() + 1.0
        while self._moves_seen < before + moves and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # --- jobs ----------------------------------------------------------------------------------------------

    def _job(self, item: Any) -> Job:
        data = item.get("job", item) if isinstance(item, Mapping) else item
        return wire.decode(Job, data)  # type: ignore[no-any-return]

    async def job(self, job_id: int) -> Job:
        return await self._job_call("GET", job_id)

    async def _job_call(self, method: str, job_id: int, user: str | None = None) -> Job:
        """A server knows the jobs touching its sites: ask this site's first, then the others'; the first
        refusal is the answer when none knows it (``job N does not exist``, as embedded)."""
        first: NotFound | None = None
        for site in self._job_sites():
            try:
                return self._job(await self._call(site, method, f"/sites/{site}/jobs/{job_id}", user=user))
            except NotFound as exc:
                first = first or exc
        assert first is not None
        raise first

    async def jobs(self, *, user: str | None = None, running: bool | None = True) -> list[Job]:
        params = {"state": "running" if running else "all"}
        if user is not None:
            params["user"] = user
        sites = self._job_sites()
        answers = await asyncio.gather(*(self._items(site, f"/sites/{site}/jobs", params) for site in sites))
        found: dict[int, Job] = {}
        for items in answers:
            for item in items:
                job = self._job(item)
                found.setdefault(job.id, job)
        jobs = [found[k] for k in sorted(found)]
        if running is False:
            jobs = [j for j in jobs if not j.running]
        return jobs

    async def submit(
        self,
        request: str,
        *,
        user: str | None = None,
        types: Sequence[str] = (),
        walltime: int | None = None,
        name: str = "",
        properties: str = "",
        site: str | None = None,
    ) -> Job:
        site = site or self.site
        body: dict[str, Any] = {"resources": request, "types": list(types), "name": name}
        if walltime is not None:
            body["walltime"] = walltime
        if properties:
            body["properties"] = properties
        return self._job(await self._call(site, "POST", f"/sites/{site}/jobs", body=body, user=user))

    async def delete_job(self, job_id: int, *, user: str | None = None) -> Job:
        return await self._job_call("DELETE", job_id, user)

    # --- VLANs and nodes ----------------------------------------------------------------------------------

    async def vlans(self, site: str | None = None) -> list[VlanInfo]:
        site = site or self.site
        if site not in self.inventory.sites:
            raise NotFound(f"unknown site {site!r} (sites: {', '.join(self.inventory.sites)})")
        return [_vlan_info(site, item) for item in await self._items(site, f"/sites/{site}/vlans")]

    async def vlan_of(self, names_: Iterable[str]) -> list[tuple[str, int]]:
        refs = self.resolve(names_)
        by_site: dict[str, list[str]] = {}
        for ref, name in refs:
            by_site.setdefault(ref.node.site, []).append(name)
        answers = await asyncio.gather(
            *(
                self._call(site, "POST", f"/sites/{site}/vlans/nodes", body=names)
                for site, names in by_site.items()
            )
        )
        found: dict[str, int] = {}
        for answer in answers:
            found.update(_node_vlans(answer))
        return [(name, found.get(name, DEFAULT)) for _ref, name in refs]

    async def members(self, vlan: int, site: str | None = None) -> list[Member]:
        self.check_vlan(vlan)
        site = site or self.site  # a global VLAN's members come from every site, whichever asks
        items = await self._items(site, f"/sites/{site}/vlans/{vlan_label(vlan)}/nodes")
        return [wire.decode(Member, {"name": i.get("uid"), **i}) for i in items]

    # --- moves ----------------------------------------------------------------------------------------------

    async def set_vlan(
        self, names_: Sequence[str], vlan: int, *, user: str | None = None, dry_run: bool = False
    ) -> MoveReport:
        """Each site's nodes go to their own site's server; with several sites, every part is checked (a dry run)
        before any moves, so that a refusal changes nothing; one report for all."""
        started = time.perf_counter()
        self.check_vlan(vlan)
        if not names_:
            raise BadInput("no node given", about="nodes")
        refs = self.resolve(names_)
        by_site: dict[str, list[str]] = {}
        for ref, name in refs:
            by_site.setdefault(ref.node.site, []).append(name)
        if dry_run or len(by_site) > 1:
            checks = await asyncio.gather(
                *(self._move(site, names, vlan, user, dry_run=True) for site, names in by_site.items()),
                return_exceptions=True,
            )
            _raise_refusals(checks, [name for _ref, name in refs])
            plans = [c for c in checks if isinstance(c, MoveReport)]
            if dry_run:
                return plans[0] if len(plans) == 1 else _merge(vlan, plans, started, dry_run=True)
        await self._streams_ready()
        before = self._moves_seen
        answers = await asyncio.gather(
            *(self._move(site, names, vlan, user) for site, names in by_site.items()), return_exceptions=True
        )
        reports = [a for a in answers if isinstance(a, MoveReport)]
        await self._move_seen(before, sum(1 for r in reports if r.switches))
        if len(answers) == 1 or not reports:
            _raise_refusals(answers, [name for _ref, name in refs])
            return reports[0] if len(answers) == 1 else _merge(vlan, reports, started)
        # a site's server failed after the checks while another moved its nodes: every node is reported
        for (site, names), answer in zip(by_site.items(), answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, KavlanError):
                    raise answer
                failed = MoveReport(vlan=vlan)
                failed.results = [NodeResult(n, Outcome.FAILURE, f"{site}'s server: {answer}") for n in names]
                reports.append(failed)
        return _merge(vlan, reports, started)

    async def _move(
        self, site: str, names: list[str], vlan: int, user: str | None, *, dry_run: bool = False
    ) -> MoveReport:
        params = {"dry_run": "true"} if dry_run else {"report": "full"}
        answer = await self._call(
            site,
            "POST",
            f"/sites/{site}/vlans/{vlan_label(vlan)}/nodes",
            body=names,
            params=params,
            user=user,
            follow=True,
        )
        if dry_run:
            plan: Plan = wire.decode(Plan, answer, self.inventory)
            report = MoveReport(vlan=vlan, plan=plan, dry_run=True)
            for ref, name in plan.unchanged:
                report.results.append(
                    NodeResult(
                        name,
                        Outcome.UNCHANGED,
                        f"already in VLAN {vlan_label(vlan)}",
                        ref.nic.switch,
                        ref.nic.port,
                        vlan,
                        vlan,
                    )
                )
            return report
        if isinstance(answer, Mapping) and "results" in answer:
            return wire.decode(MoveReport, answer, self.inventory)  # type: ignore[no-any-return]
        # a server that gave the original's per-node map only
        report = MoveReport(vlan=vlan)
        for name, result in (answer or {}).items():
            word, message = str(result.get("status")), str(result.get("message") or "")
            status = Outcome(word) if word in Outcome.__members__.values() else Outcome.FAILURE
            report.results.append(NodeResult(name, status, message))
        return report

    # --- DHCP -------------------------------------------------------------------------------------------------

    async def dhcp(self, vlan: int, enable: bool, *, user: str | None = None, site: str | None = None) -> str:
        """The VLAN's owner site's server starts or stops its DHCP server."""
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        path = f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd"
        await self._call(site, "PUT", path, body={"action": "start" if enable else "stop"}, user=user)
        return await self.dhcp_state(vlan, site)

    async def dhcp_state(self, vlan: int, site: str | None = None) -> str:
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        answer = await self._call(site, "GET", f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd")
        return str(answer.get("state") if isinstance(answer, Mapping) else answer)

    async def leases(self, vlan: int, site: str | None = None) -> list[Lease]:
        self.check_vlan(vlan)
        site = self._owner(site or self.site, vlan)
        answer = await self._call(site, "GET", f"/sites/{site}/vlans/{vlan_label(vlan)}/dhcpd/leases")
        return [wire.decode(Lease, item) for item in answer or []]

    # --- switches against the store -----------------------------------------------------------------------

    async def drift(self, site: str | None = None) -> list[Drift]:
        site = site or self.site
        answer = await self._call(site, "GET", f"/sites/{site}/kavlan/drift")
        return [wire.decode(Drift, item) for item in answer or []]

    async def repair(self, site: str | None = None, *, user: str | None = None) -> MoveReport:
        site = site or self.site
        answer = await self._call(site, "POST", f"/sites/{site}/kavlan/repair", user=user, follow=True)
        return wire.decode(MoveReport, answer, self.inventory)  # type: ignore[no-any-return]


# --- decoding the original's shapes -----------------------------------------------------------------------------


def _vlan_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    return DEFAULT if text.upper() == "DEFAULT" else int(text)


def _vlan_info(site: str, item: Mapping[str, Any]) -> VlanInfo:
    data = dict(item)
    data.setdefault("id", _vlan_id(item.get("uid")))
    data.setdefault("dhcp", item.get("dhcpd", "off"))
    data.setdefault("site", site)
    return wire.decode(VlanInfo, data)  # type: ignore[no-any-return]


def _node_vlans(answer: Any) -> dict[str, int]:
    """``POST /vlans/nodes`` as a map: ``{fqdn: vlan}``, ``{fqdn: {vlan}}`` or ``{items: [{uid, vlan}]}``."""
    if isinstance(answer, Mapping) and isinstance(answer.get("items"), list):
        answer = answer["items"]
    out: dict[str, int] = {}
    if isinstance(answer, list):
        for item in answer:
            if isinstance(item, Mapping) and item.get("uid") is not None and item.get("vlan") is not None:
                out[str(item["uid"])] = _vlan_id(item["vlan"])
        return out
    if isinstance(answer, Mapping):
        for name, value in answer.items():
            vlan = value.get("vlan") if isinstance(value, Mapping) else value
            if vlan is not None:
                out[str(name)] = _vlan_id(vlan)
    return out


def _raise_refusals(answers: Sequence[Any], order: Sequence[str]) -> None:
    """Raise what the parts of a move raised: refusals of several sites as one, in the order the nodes were
    named, with the sentence the embedded service gives; else the first error."""
    errors = [a for a in answers if isinstance(a, BaseException)]
    if not errors:
        return
    refused = [e for e in errors if isinstance(e, NotAllowed) and e.refusals]
    if len(errors) > 1 and len(refused) == len(errors):
        rank = {name: i for i, name in enumerate(order)}
        refusals = sorted((r for e in refused for r in e.refusals), key=lambda r: rank.get(r[0], len(rank)))
        detail = "; ".join(f"{n}: {w}" for n, w in refusals[:5])
        more = f" (and {len(refusals) - 5} more)" if len(refusals) > 5 else ""
        raise NotAllowed(f"{PRIVILEGES}: {detail}{more}", refusals)
    raise errors[0]


def _merge(vlan: int, reports: Sequence[MoveReport], started: float, *, dry_run: bool = False) -> MoveReport:
    merged = MoveReport(vlan=vlan, dry_run=dry_run)
    if dry_run:
        merged.plan = Plan(vlan=vlan)
    for r in reports:
        merged.results += r.results
        merged.switches += r.switches
        if merged.plan is not None and r.plan is not None:
            merged.plan.switches += r.plan.switches
            merged.plan.unchanged += r.plan.unchanged
    merged.seconds = time.perf_counter() - started
    return merged
