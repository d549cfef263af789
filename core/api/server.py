"""kavlan-api: the REST API server that holds the switch credentials and serves one or more sites' KaVLAN.

One :class:`~kavlan_core.service.KavlanService` per process; each request's user (its client certificate's CN,
the user a trusted service acts for, or an HTTP Basic user) is passed as ``user=`` to the service, which checks
the rights and words the refusals exactly as the CLI shows them. The contract is ``docs/api.md``; the OpenAPI
document (``/openapi.json``) is :mod:`kavlan_core.api.openapi`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import getpass
import ipaddress
import json
import math
import os
import re
import signal
import ssl
import sys
import time
import tomllib
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aiohttp import web

from .. import config as config_mod
from .. import names as names_mod
from ..authz import Rights
from ..errors import BadInput, KavlanError, NotAllowed, NotFound
from ..inventory import DEMO, InventoryError, NicRef
from ..model import DEFAULT, GLOBAL_IDS, Job, VlanKind, vlan_label
from . import auth, openapi, wire

if TYPE_CHECKING:  # the service (SQLAlchemy, drivers) is imported when serving: option errors answer at once
    from ..service import KavlanService, VlanInfo

DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_MOVE_WAIT = 10.0
MOVE_KEEP_SECONDS = 600.0
"""A finished long move's answer stays readable this long..."""
MOVE_KEEP_COUNT = 1000
"""...and at most this many finished ones are kept."""
HEARTBEAT_SECONDS = 15.0

JSON = "application/json"
NDJSON = "application/x-ndjson"
ITEM = "application/vnd.grid5000.item+json"
COLLECTION = "application/vnd.grid5000.collection+json"
_VLAN_ID = re.compile(r"^[1-9][0-9]{0,2}$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


class ApiError(Exception):
    """An answer other than the service's own errors: status, one sentence, the error class the client rebuilds."""

    def __init__(
        self,
        status: int,
        message: str,
        error: type[KavlanError] = BadInput,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.headers = dict(headers or {})


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: str = ""
    tls_key: str = ""
    client_ca: str = ""
    users_file: str = ""
    trusted_services: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    insecure_http: bool = False
    move_wait: float = DEFAULT_MOVE_WAIT
    access_log: str = "-"
    audit_log: str = ""
    heartbeat: float = HEARTBEAT_SECONDS


@dataclass
class MoveRecord:
    """A move that outlived ``--move-wait``: polled at ``/sites/{site}/kavlan/moves/{id}``."""

    id: str
    site: str
    user: str
    task: asyncio.Task[tuple[int, Any]]
    started: float
    finished: float | None = None


# --- logs ------------------------------------------------------------------------------------------------------


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines:
    """One JSON object per line, to a file (appended) or stderr; every known secret is masked first."""

    def __init__(self, target: str, secrets: Iterable[str] = ()) -> None:
        self._fh: IO[str] | None
        if not target:
            self._fh = None
        elif target == "-":
            self._fh = sys.stderr
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (held for the process)
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def write(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            return
        line = json.dumps({"time": _now_iso(), **record}, sort_keys=False, default=str)
        self._fh.write(mask(line, self._secrets) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None and self._fh is not sys.stderr:
            self._fh.close()


def mask(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
        quoted = json.dumps(s)[1:-1]
        if quoted != s and quoted in text:
            text = text.replace(quoted, "***")
    return text


def credential_strings(path: str) -> list[str]:
    """Every string value of the switch credentials file: what no log line or answer may carry."""
    if not path:
        return []
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for table in doc.values():
        walk(table)
    return out


# --- the testbed description, without switch credentials and options --------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def public_inventory(source: str) -> str:
    """The testbed description the server uses, as TOML, with every switch's ``credentials`` and ``options`` removed."""
    if not source or source == DEMO:
        text = resources.files("kavlan_core").joinpath("data/demo.toml").read_text()
    else:
        text = Path(source).expanduser().read_text()
    doc = tomllib.loads(text)
    for site in doc.get("site", []):
        for sw in site.get("switch", []) if isinstance(site, dict) else []:
            if isinstance(sw, dict):
                sw.pop("credentials", None)
                sw.pop("options", None)
    return dump_toml(doc)


def dump_toml(doc: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _toml_table(lines, doc, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_table(lines: list[str], table: Mapping[str, Any], path: list[str]) -> None:
    for k, v in table.items():
        if not isinstance(v, Mapping) and not _is_table_array(v):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in table.items():
        here = [*path, _toml_key(k)]
        if isinstance(v, Mapping):
            lines += ["", f"[{'.'.join(here)}]"]
            _toml_table(lines, v, here)
        elif _is_table_array(v):
            for item in v:
                lines += ["", f"[[{'.'.join(here)}]]"]
                _toml_table(lines, item, here)


# --- the application -----------------------------------------------------------------------------------------------


class Api:
    """The routes and handlers over one service; the served sites; the long moves; the logs."""

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
        self.audit_log = JsonLines(options.audit_log, self.secrets)
        self.moves: dict[str, MoveRecord] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._inventory_text: str | None = None
        self.document = openapi.document(self.sites, self._vlan_uids(), insecure=options.insecure_http)

    # --- app -------------------------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._outer, self._authenticate], client_max_size=4 * 1024 * 1024)
        r = app.router
        get: Callable[..., Any] = lambda p, h: r.add_get(p, h, allow_head=False)  # noqa: E731
        get("/openapi.json", self.openapi_json)
        get("/sites", self.list_sites)
        get("/sites/{site}", self.get_site)
        get("/sites/{site}/vlans", self.list_vlans)
        # the literal segments before /vlans/{id}: the router tries resources in this order
        get("/sites/{site}/vlans/nodes", self.list_nodes)
        r.add_post("/sites/{site}/vlans/nodes", self.nodes_vlans)
        get("/sites/{site}/vlans/nodes/{node}", self.get_node)
        get("/sites/{site}/vlans/users", self.list_users)
        get("/sites/{site}/vlans/users/{uid}", self.get_user)
        get("/sites/{site}/vlans/{id}", self.get_vlan)
        get("/sites/{site}/vlans/{id}/nodes", self.vlan_nodes)
        r.add_post("/sites/{site}/vlans/{id}/nodes", self.move)
        get("/sites/{site}/vlans/{id}/users", self.vlan_users)
        get("/sites/{site}/vlans/{id}/users/{uid}", self.vlan_user)
        get("/sites/{site}/vlans/{id}/dhcpd", self.get_dhcpd)
        r.add_put("/sites/{site}/vlans/{id}/dhcpd", self.put_dhcpd)
        get("/sites/{site}/vlans/{id}/dhcpd/leases", self.leases)
        get("/sites/{site}/jobs", self.list_jobs)
        r.add_post("/sites/{site}/jobs", self.submit_job)
        get("/sites/{site}/jobs/{job}", self.get_job)
        r.add_delete("/sites/{site}/jobs/{job}", self.delete_job)
        get("/sites/{site}/kavlan/inventory", self.get_inventory)
        get("/sites/{site}/kavlan/whoami", self.whoami)
        get("/sites/{site}/kavlan/drift", self.drift)
        r.add_post("/sites/{site}/kavlan/repair", self.repair)
        get("/sites/{site}/kavlan/moves/{mid}", self.get_move)
        get("/sites/{site}/kavlan/events", self.events)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._closing.set()
        if self._tasks:
            # a move in flight finishes (verify, roll back, record) before the process goes
            await asyncio.wait(list(self._tasks), timeout=30)

    async def close(self) -> None:
        self.access_log.close()
        self.audit_log.close()
        await self.service.close()

    # --- middlewares: access log and errors, then authentication --------------------------------------------

    @web.middleware
    async def _outer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        t0 = time.perf_counter()
        try:
            resp = await handler(request)
        except ApiError as exc:
            resp = self._error(exc.status, str(exc), exc.error, exc.headers)
        except auth.AuthError as exc:
            headers = (
                {"WWW-Authenticate": 'Basic realm="kavlan", charset="UTF-8"'} if exc.status == 401 else {}
            )
            resp = self._error(exc.status, str(exc), NotAllowed, headers)
        except KavlanError as exc:
            resp = self._kavlan_error(exc)
        except web.HTTPException as exc:
            resp = self._http_exception(request, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            sys.stderr.write(mask(traceback.format_exc(), self.secrets))
            resp = self._error(500, "internal error of the KaVLAN API server (see its log)", KavlanError)
        ident: auth.Identity | None = request.get("identity")
        record: dict[str, Any] = {
            "user": ident.user if ident else None,
            "method": request.method,
            "path": request.path,
            "status": resp.status,
            "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
        }
        if ident and ident.via:
            record["via"] = ident.via
        if ident is None and request.get("claimed"):
            record["claimed"] = request["claimed"]  # who a refused request said it was
        if request.query_string:
            record["query"] = request.query_string
        self.access_log.write(record)
        return resp

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/openapi.json":
            return await handler(request)
        cn = auth.peer_common_name(request.transport)
        authorization = request.headers.get("Authorization")
        basic = auth.parse_basic(authorization)
        request["claimed"] = cn or (basic[0] if basic else None)
        identify = functools.partial(
            auth.identify,
            cn=cn,
            authorization=authorization,
            act_for=request.headers.get(auth.ACT_FOR),
            trusted=self.options.trusted_services,
            users=self.users,
        )
        # checking a password costs a key derivation: keep it off the event loop
        ident = identify() if cn or not authorization else await asyncio.to_thread(identify)
        request["identity"] = ident
        return await handler(request)

    def _error(
        self, status: int, message: str, error: type[KavlanError], headers: Mapping[str, str] | None = None
    ) -> web.Response:
        body = wire.error_body(error(mask(message, self.secrets)), status)
        return web.json_response(body, status=status, headers=headers)

    def _kavlan_error(self, exc: KavlanError) -> web.Response:
        status = wire.error_status(exc)
        body = wire.error_body(exc, status)
        body["message"] = mask(body["message"], self.secrets)
        if status == 500:
            sys.stderr.write(mask(f"kavlan-api: {type(exc).__name__}: {exc}\n", self.secrets))
        return web.json_response(body, status=status)

    def _http_exception(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        if exc.status == 405:
            message = (
                f"{request.method} is not allowed on {request.path} (allowed: {headers.get('Allow', 'none')})"
            )
        elif exc.status == 404:
            message = f"no such resource: {request.path}"
        elif exc.status == 413:
            message = "the request body is too large"
        else:
            message = exc.reason or "error"
        error = NotFound if exc.status == 404 else BadInput
        return self._error(exc.status, message, error, headers)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _ident(self, request: web.Request) -> auth.Identity:
        ident: auth.Identity = request["identity"]
        return ident

    def _site(self, request: web.Request) -> str:
        site = request.match_info["site"]
        if site in self.sites:
            return site
        served = ", ".join(self.sites)
        if site in self.inventory.sites:
            raise ApiError(
                404,
                f"site {site} is not served by this server (it serves {served}): ask {site}'s KaVLAN server",
                NotFound,
            )
        raise ApiError(
            404,
            f"unknown site {site!r} (sites of this testbed: {', '.join(self.inventory.sites)}; served here: {served})",
            NotFound,
        )

    def _vlan_uids(self) -> list[str]:
        site = self.sites[0]
        return [vlan_label(v) for v in self.inventory.vlan_ids(site)]

    def _vlan(self, site: str, raw: str) -> int:
        if raw == "DEFAULT":
            return DEFAULT
        if _VLAN_ID.match(raw) and int(raw) in self.inventory.vlan_ids(site):
            return int(raw)
        globals_ = ", ".join(str(v) for v in sorted(self.inventory.global_owner))
        raise ApiError(
            404,
            f"no VLAN {raw!r} at {site} (VLANs: DEFAULT, local 1-3, routed 4-9, global {globals_})",
            NotFound,
        )

    def _type(self, site: str, vid: int) -> str:
        kind = VlanKind.of(vid)
        if kind is VlanKind.DEFAULT:
            return "NULL"
        if kind is VlanKind.GLOBAL:
            return "kavlan-global" if self.inventory.global_owner.get(vid) == site else "kavlan-global-remote"
        return kind.value

    @staticmethod
    def _link(rel: str, href: str, kind: str = ITEM, title: str | None = None) -> dict[str, str]:
        out = {"rel": rel, "href": href, "type": kind}
        if title:
            out["title"] = title
        return out

    def _collection(self, items: list[Any], self_href: str, parent_href: str) -> dict[str, Any]:
        return {
            "total": len(items),
            "offset": 0,
            "items": items,
            "links": [self._link("self", self_href, COLLECTION), self._link("parent", parent_href)],
        }

    def _vlan_item(self, site: str, info: VlanInfo) -> dict[str, Any]:
        uid = vlan_label(info.id)
        base = f"/sites/{site}/vlans/{uid}"
        return {
            "uid": uid,
            "type": self._type(site, info.id),
            "links": [
                self._link("dhcpd", f"{base}/dhcpd", ITEM, "dhcpd"),
                self._link("nodes", f"{base}/nodes", COLLECTION, "nodes"),
                self._link("users", f"{base}/users", COLLECTION, "users"),
                self._link("self", base),
                self._link("parent", f"/sites/{site}"),
            ],
            "kind": info.kind.value,
            "site": info.site,
            "owner": info.owner,
            "subnet": info.subnet,
            "tag": info.tag,
            "job": info.job,
            "user": info.user,
            "dhcpd": info.dhcp,
            "members": info.members,
        }

    def _ref(self, name: str) -> NicRef | None:
        try:
            return self.inventory.resolve(name)
        except (KeyError, names_mod.BadHostname):
            return None

    def _uid(self, ref: NicRef) -> str:
        return self.inventory.hostname(ref, DEFAULT)

    def _site_nics(self, site: str) -> list[str]:
        return [self._uid(NicRef(n, nic)) for n in self.inventory.site_nodes(site) for nic in n.nics]

    async def _json_body(self, request: web.Request) -> Any:
        if request.content_type != JSON:
            raise ApiError(
                415,
                f"the request body must be JSON (Content-Type: {JSON}), not {request.content_type or 'none'}",
            )
        try:
            return json.loads(await request.text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None

    async def _node_list(self, request: web.Request) -> list[str]:
        body = await self._json_body(request)
        if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
            raise ApiError(400, "the request body must be a JSON array of node names (FQDNs)")
        return body

    @staticmethod
    def _flag(request: web.Request, name: str) -> bool:
        raw = request.query.get(name)
        if raw is None:
            return False
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ApiError(400, f"query parameter {name} must be true or false, not {raw!r}")

    def _audit(self, ident: auth.Identity, what: str, **record: Any) -> None:
        self.audit_log.write({"who": ident.user, "via": ident.via, "what": what, **record})

    async def _labels(self, names: Sequence[str]) -> dict[str, str] | None:
        try:
            return {n: vlan_label(v) for n, v in await self.service.vlan_of(names)}
        except KavlanError:
            return None

    # --- sites -------------------------------------------------------------------------------------------------

    async def openapi_json(self, request: web.Request) -> web.Response:
        return web.json_response(self.document)

    def _site_item(self, site: str) -> dict[str, Any]:
        base = f"/sites/{site}"
        return {
            "uid": site,
            "name": site,
            "links": [
                self._link("vlans", f"{base}/vlans", COLLECTION, "vlans"),
                self._link("jobs", f"{base}/jobs", COLLECTION, "jobs"),
                self._link("self", base),
                self._link("parent", "/sites", COLLECTION),
            ],
        }

    async def list_sites(self, request: web.Request) -> web.Response:
        return web.json_response(self._collection([self._site_item(s) for s in self.sites], "/sites", "/"))

    async def get_site(self, request: web.Request) -> web.Response:
        return web.json_response(self._site_item(self._site(request)))

    # --- VLANs --------------------------------------------------------------------------------------------------

    async def list_vlans(self, request: web.Request) -> web.Response:
        site = self._site(request)
        items = [self._vlan_item(site, v) for v in await self.service.vlans(site)]
        return web.json_response(self._collection(items, f"/sites/{site}/vlans", f"/sites/{site}"))

    async def get_vlan(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        info = next(v for v in await self.service.vlans(site) if v.id == vid)
        return web.json_response(self._vlan_item(site, info))

    async def vlan_nodes(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        items = []
        for m in await self.service.members(vid, site):
            node = self.inventory.nodes[m.node]
            nic = node.nic(m.nic) or node.primary_nic
            items.append({"uid": self._uid(NicRef(node, nic)), "vlan": vlan_label(vid), **wire.encode(m)})
        return web.json_response(
            self._collection(
                items,
                f"/sites/{site}/vlans/{vlan_label(vid)}/nodes",
                f"/sites/{site}/vlans/{vlan_label(vid)}",
            )
        )

    async def list_nodes(self, request: web.Request) -> web.Response:
        site = self._site(request)
        items = [
            {"uid": n, "vlan": vlan_label(v)} for n, v in await self.service.vlan_of(self._site_nics(site))
        ]
        return web.json_response(
            self._collection(items, f"/sites/{site}/vlans/nodes", f"/sites/{site}/vlans")
        )

    async def get_node(self, request: web.Request) -> web.Response:
        site = self._site(request)
        raw = request.match_info["node"]
        ref = self._ref(raw)
        if ref is None:
            raise ApiError(404, f"unknown node {raw!r}: no such node in the testbed", NotFound)
        if ref.node.site != site:
            raise ApiError(404, f"{self._uid(ref)} is a node of {ref.node.site}, not of {site}", NotFound)
        ((uid, vid),) = await self.service.vlan_of([self._uid(ref)])
        return web.json_response({"uid": uid, "vlan": vlan_label(vid)})

    async def nodes_vlans(self, request: web.Request) -> web.Response:
        site = self._site(request)
        known = []
        for name in await self._node_list(request):
            ref = self._ref(name)
            if ref is not None and ref.node.site == site:
                known.append(self._uid(ref))
        items = (
            [{"uid": n, "vlan": vlan_label(v)} for n, v in await self.service.vlan_of(known)] if known else []
        )
        return web.json_response(
            self._collection(items, f"/sites/{site}/vlans/nodes", f"/sites/{site}/vlans")
        )

    # --- moves ------------------------------------------------------------------------------------------------------

    async def move(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        ident = self._ident(request)
        dry_run = self._flag(request, "dry_run")
        report = request.query.get("report", "nodes")
        if report not in ("nodes", "full"):
            raise ApiError(400, f"query parameter report must be nodes or full, not {report!r}")
        names = await self._node_list(request)
        if not names:
            raise ApiError(
                400, "no node given: the request body must name at least one node (a JSON array of FQDNs)"
            )
        elsewhere = []
        for name in names:
            ref = self._ref(name)
            if ref is not None and ref.node.site != site:
                elsewhere.append(f"{self._uid(ref)} is a node of {ref.node.site}")
        if elsewhere:
            other = elsewhere[0].rsplit(" ", 1)[-1]
            more = " (and more)" if len(elsewhere) > 3 else ""
            raise ApiError(
                400,
                f"{'; '.join(elsewhere[:3])}{more}: a node is always moved by its own site's server "
                f"({other}'s, under /sites/{other}/)",
            )
        if dry_run:
            plan = await self.service.plan(names, vid, user=ident.user)
            return web.json_response(wire.encode(plan))
        task = asyncio.ensure_future(self._run_move(ident, site, vid, names, report == "full"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            status, body = await asyncio.wait_for(asyncio.shield(task), self.options.move_wait)
        except TimeoutError:
            self._prune_moves()
            mid = uuid.uuid4().hex
            rec = MoveRecord(mid, site, ident.user, task, time.time())
            task.add_done_callback(lambda _t: setattr(rec, "finished", time.time()))
            self.moves[mid] = rec
            location = f"/sites/{site}/kavlan/moves/{mid}"
            return web.json_response(
                {"id": mid, "status": "running"}, status=202, headers={"Location": location}
            )
        return web.json_response(body, status=status)

    async def _run_move(
        self, ident: auth.Identity, site: str, vid: int, names: list[str], full: bool
    ) -> tuple[int, Any]:
        """The move and its audit line; never raises: the answer is (status, body) as the POST gives it."""
        before = await self._labels(names)
        try:
            report = await self.service.set_vlan(names, vid, user=ident.user)
        except KavlanError as exc:
            status = wire.error_status(exc)
            body = wire.error_body(exc, status)
            body["message"] = mask(body["message"], self.secrets)
            self._audit(
                ident,
                "vlan.set",
                site=site,
                vlan=vlan_label(vid),
                nodes=names,
                before=before,
                after=await self._labels(names),
                result={"status": status, "error": body["message"]},
            )
            return status, body
        except Exception:
            sys.stderr.write(mask(traceback.format_exc(), self.secrets))
            body = wire.error_body(KavlanError("internal error of the KaVLAN API server (see its log)"), 500)
            self._audit(
                ident,
                "vlan.set",
                site=site,
                vlan=vlan_label(vid),
                nodes=names,
                before=before,
                after=await self._labels(names),
                result={"status": 500, "error": body["message"]},
            )
            return 500, body
        failed = {r.name: r.message for r in report.failed}
        self._audit(
            ident,
            "vlan.set",
            site=site,
            vlan=vlan_label(vid),
            nodes=names,
            before=before,
            after=await self._labels(names),
            result={"status": 200, **report.counts(), "failed": failed},
        )
        if full:
            return 200, wire.encode(report)
        return 200, {r.name: {"status": r.status, "message": r.message} for r in report.results}

    def _prune_moves(self) -> None:
        now = time.time()
        done = sorted(
            (r for r in self.moves.values() if r.finished is not None), key=lambda r: r.finished or 0
        )
        for r in done:
            if now - (r.finished or now) > MOVE_KEEP_SECONDS:
                del self.moves[r.id]
        done = [r for r in done if r.id in self.moves]
        for r in done[: max(0, len(done) - MOVE_KEEP_COUNT + 1)]:
            del self.moves[r.id]

    async def get_move(self, request: web.Request) -> web.Response:
        site = self._site(request)
        ident = self._ident(request)
        self._prune_moves()
        mid = request.match_info["mid"]
        rec = self.moves.get(mid)
        if (
            rec is None
            or rec.site != site
            or (rec.user != ident.user and ident.user not in self.service.settings.admins)
        ):
            raise ApiError(
                404,
                f"no move {mid} at {site} (answers are kept {int(MOVE_KEEP_SECONDS // 60)} minutes)",
                NotFound,
            )
        if not rec.task.done():
            return web.json_response(
                {"id": mid, "status": "running"}, status=202, headers={"Location": request.path}
            )
        status, body = rec.task.result()
        return web.json_response(body, status=status)

    # --- DHCP --------------------------------------------------------------------------------------------------------

    async def get_dhcpd(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        return web.json_response({"state": await self.service.dhcp_state(vid, site)})

    async def put_dhcpd(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        ident = self._ident(request)
        body = await self._json_body(request)
        action = body.get("action") if isinstance(body, dict) else None
        if action not in ("start", "stop"):
            raise ApiError(
                422,
                f'the body must be {{"action": "start"}} or {{"action": "stop"}}, not {json.dumps(body)[:80]}',
            )
        owner = self.inventory.global_owner.get(vid, site)
        if owner not in self.sites:
            raise ApiError(
                400, f"VLAN {vid} belongs to {owner}: its DHCP server is switched by {owner}'s KaVLAN server"
            )
        before = await self.service.dhcp_state(vid, site)
        try:
            state = await self.service.dhcp(vid, action == "start", user=ident.user, site=site)
        except KavlanError as exc:
            self._audit(
                ident,
                f"dhcp.{action}",
                site=owner,
                vlan=vlan_label(vid),
                before=before,
                after=before,
                result={"status": wire.error_status(exc), "error": str(exc)},
            )
            raise
        self._audit(
            ident,
            f"dhcp.{action}",
            site=owner,
            vlan=vlan_label(vid),
            before=before,
            after=state,
            result={"status": 204},
        )
        return web.Response(status=204)

    async def leases(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        return web.json_response(wire.encode(await self.service.leases(vid, site)))

    # --- users -----------------------------------------------------------------------------------------------------

    def _relevant(self, site: str, site_of_vlan: str, vid: int) -> bool:
        return site_of_vlan == site or vid in GLOBAL_IDS

    async def _held(self, site: str, user: str | None = None) -> dict[str, list[str]]:
        out: dict[str, set[int]] = {}
        for job in await self.service.jobs(user=user, running=True):
            for v in job.vlans:
                if self._relevant(site, v.site, v.vlan):
                    out.setdefault(job.user, set()).add(v.vlan)
        return {u: [vlan_label(v) for v in sorted(vs)] for u, vs in sorted(out.items())}

    def _user_name(self, raw: str) -> str:
        if not auth.USER_NAME.match(raw):
            raise ApiError(404, f"{raw!r} is not a user name", NotFound)
        return raw

    async def list_users(self, request: web.Request) -> web.Response:
        site = self._site(request)
        items = [
            {"uid": u, "vlans": vs, "links": [self._link("self", f"/sites/{site}/vlans/users/{u}")]}
            for u, vs in (await self._held(site)).items()
        ]
        return web.json_response(
            self._collection(items, f"/sites/{site}/vlans/users", f"/sites/{site}/vlans")
        )

    async def get_user(self, request: web.Request) -> web.Response:
        site = self._site(request)
        uid = self._user_name(request.match_info["uid"])
        vlans = (await self._held(site, uid)).get(uid, [])
        return web.json_response(
            {
                "uid": uid,
                "vlans": vlans,
                "links": [
                    self._link("self", f"/sites/{site}/vlans/users/{uid}"),
                    self._link("parent", f"/sites/{site}/vlans/users", COLLECTION),
                ],
            }
        )

    async def vlan_users(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        owner = self.inventory.global_owner.get(vid, site)
        holders = sorted(
            {
                j.user
                for j in await self.service.jobs(running=True)
                for v in j.vlans
                if (v.site, v.vlan) == (owner, vid)
            }
        )
        base = f"/sites/{site}/vlans/{vlan_label(vid)}/users"
        items = [
            {"uid": u, "status": "authorized", "links": [self._link("self", f"{base}/{u}")]} for u in holders
        ]
        return web.json_response(self._collection(items, base, f"/sites/{site}/vlans/{vlan_label(vid)}"))

    async def vlan_user(self, request: web.Request) -> web.Response:
        site = self._site(request)
        vid = self._vlan(site, request.match_info["id"])
        uid = self._user_name(request.match_info["uid"])
        owner = self.inventory.global_owner.get(vid, site)
        rights = Rights.of(uid, await self.service.jobs(user=uid, running=True), self.service.settings.admins)
        status = "authorized" if rights.may_use_vlan(owner, vid) is None else "unauthorized"
        return web.json_response({"uid": uid, "status": status})

    # --- jobs --------------------------------------------------------------------------------------------------------

    def _job_sites(self, job: Job) -> set[str]:
        sites = {v.site for v in job.vlans}
        sites |= {self.inventory.nodes[n].site for n in job.nodes if n in self.inventory.nodes}
        return sites

    def _job_json(self, site: str, job: Job) -> dict[str, Any]:
        nodes = [
            self.inventory.node_fqdn(self.inventory.nodes[n]) if n in self.inventory.nodes else n
            for n in job.nodes
        ]
        return {
            "uid": job.id,
            "user": job.user,
            "state": job.state.value.lower(),
            "name": job.name,
            "types": list(job.types),
            "assigned_nodes": nodes,
            "walltime": job.walltime,
            "submitted_at": int(job.submitted),
            "started_at": int(job.started),
            "stopped_at": int(job.ended) if job.ended is not None else None,
            "resources_by_type": {"vlans": [vlan_label(v.vlan) for v in job.vlans], "nodes": nodes},
            "job": wire.encode(job),
            "links": [
                self._link("self", f"/sites/{site}/jobs/{job.id}"),
                self._link("parent", f"/sites/{site}"),
            ],
        }

    _STATES = {"running": "Running", "terminated": "Terminated", "error": "Error"}
    _OAR_STATES = {
        "waiting",
        "hold",
        "tolaunch",
        "toerror",
        "toackreservation",
        "launching",
        "finishing",
        "suspended",
        "resuming",
    }

    async def list_jobs(self, request: web.Request) -> web.Response:
        site = self._site(request)
        user = request.query.get("user") or None
        wanted = {s.strip().lower() for s in request.query.get("state", "running").split(",") if s.strip()}
        unknown = wanted - set(self._STATES) - self._OAR_STATES - {"all"}
        if unknown:
            raise ApiError(
                400, f"unknown job state(s) {', '.join(sorted(unknown))} (running, terminated, error, all)"
            )
        running = True if wanted <= {"running"} | self._OAR_STATES else None
        jobs = await self.service.jobs(user=user, running=running)
        keep = [
            j
            for j in jobs
            if site in self._job_sites(j) and ("all" in wanted or j.state.value.lower() in wanted)
        ]
        items = [self._job_json(site, j) for j in keep]
        return web.json_response(self._collection(items, f"/sites/{site}/jobs", f"/sites/{site}"))

    async def _site_job(self, site: str, raw: str) -> Job:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise ApiError(404, f"no job {raw!r} (job ids are numbers)", NotFound)
        job = await self.service.job(int(raw))
        if site not in self._job_sites(job):
            raise ApiError(404, f"job {job.id} is not a job of {site}", NotFound)
        return job

    async def get_job(self, request: web.Request) -> web.Response:
        site = self._site(request)
        job = await self._site_job(site, request.match_info["job"])
        return web.json_response(self._job_json(site, job))

    _JOB_FIELDS = {"resources", "types", "name", "walltime", "command", "properties", "directory", "project"}

    async def submit_job(self, request: web.Request) -> web.Response:
        site = self._site(request)
        ident = self._ident(request)
        body = await self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(
                400, 'the request body must be a JSON object: {"resources": "<oarsub -l request>", ...}'
            )
        unknown = sorted(set(body) - self._JOB_FIELDS)
        if unknown:
            raise ApiError(
                400,
                f"unknown job field(s): {', '.join(unknown)} (known: {', '.join(sorted(self._JOB_FIELDS))})",
            )
        resources = body.get("resources")
        types = body.get("types", [])
        name = body.get("name", "")
        walltime = body.get("walltime")
        properties = body.get("properties", "")
        if not isinstance(resources, str) or not resources.strip():
            raise ApiError(
                400, "resources must be the oarsub -l request, e.g. {\"type='kavlan'\"}/vlan=1+/nodes=2"
            )
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ApiError(400, 'types must be a list of job types (e.g. ["deploy"])')
        strings = ("name", "properties", "command", "directory", "project")
        if not all(isinstance(body.get(k, ""), str) for k in strings):
            raise ApiError(400, f"{', '.join(strings)} must be strings")
        if "walltime" in body and (
            isinstance(walltime, bool)
            or not isinstance(walltime, int)
            or not 0 < walltime <= 10 * 365 * 86400
        ):
            raise ApiError(400, "walltime must be a positive number of seconds")
        try:
            job = await self.service.submit(
                resources,
                user=ident.user,
                types=types,
                walltime=walltime,
                name=name,
                properties=properties,
                site=site,
            )
        except KavlanError as exc:
            self._audit(
                ident,
                "job.submit",
                site=site,
                request=resources,
                before=None,
                after=None,
                result={"status": wire.error_status(exc), "error": str(exc)},
            )
            raise
        self._audit(
            ident,
            "job.submit",
            site=site,
            request=resources,
            before=None,
            after={"job": job.id, "nodes": list(job.nodes), "vlans": [vlan_label(v.vlan) for v in job.vlans]},
            result={"status": 201},
        )
        return web.json_response(
            self._job_json(site, job), status=201, headers={"Location": f"/sites/{site}/jobs/{job.id}"}
        )

    async def delete_job(self, request: web.Request) -> web.Response:
        site = self._site(request)
        ident = self._ident(request)
        job = await self._site_job(site, request.match_info["job"])
        try:
            done = await self.service.delete_job(job.id, user=ident.user)
        except KavlanError as exc:
            self._audit(
                ident,
                "job.delete",
                site=site,
                job=job.id,
                before=job.state.value,
                after=job.state.value,
                result={"status": wire.error_status(exc), "error": str(exc)},
            )
            raise
        self._audit(
            ident,
            "job.delete",
            site=site,
            job=job.id,
            before=job.state.value,
            after=done.state.value,
            result={"status": 202},
        )
        return web.json_response(self._job_json(site, done), status=202)

    # --- extensions ----------------------------------------------------------------------------------------------------

    async def get_inventory(self, request: web.Request) -> web.Response:
        self._site(request)
        if self._inventory_text is None:
            self._inventory_text = public_inventory(self.service.settings.inventory)
        return web.Response(text=self._inventory_text, content_type="text/plain")

    async def whoami(self, request: web.Request) -> web.Response:
        self._site(request)
        ident = self._ident(request)
        return web.json_response(
            {
                "uid": ident.user,
                "admin": ident.user in self.service.settings.admins,
                "via": ident.via,
                "method": ident.method,
            }
        )

    async def drift(self, request: web.Request) -> web.Response:
        site = self._site(request)
        return web.json_response(wire.encode(await self.service.drift(site)))

    async def repair(self, request: web.Request) -> web.Response:
        site = self._site(request)
        ident = self._ident(request)
        try:
            report = await self.service.repair(site, user=ident.user)
        except KavlanError as exc:
            self._audit(
                ident,
                "repair",
                site=site,
                before=None,
                after=None,
                result={"status": wire.error_status(exc), "error": str(exc)},
            )
            raise
        self._audit(
            ident,
            "repair",
            site=site,
            before={
                r.name: vlan_label(r.old_vlan) if r.old_vlan is not None else None for r in report.results
            },
            after={
                r.name: vlan_label(r.new_vlan) if r.new_vlan is not None else None for r in report.results
            },
            result={"status": 200, **report.counts()},
        )
        return web.json_response(wire.encode(report))

    async def events(self, request: web.Request) -> web.StreamResponse:
        self._site(request)
        resp = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-cache"})
        await resp.prepare(request)
        queue = self.service.events.queue(maxsize=1000)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await resp.write(b'{"type": "Heartbeat", "at": %.3f}\n' % time.time())
            while not self._closing.is_set():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, closing}, timeout=self.options.heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    line = json.dumps(wire.encode_event(getter.result()))
                    await resp.write(mask(line, self.secrets).encode() + b"\n")
                else:
                    getter.cancel()
                    if closing in done:
                        break
                    await resp.write(b'{"type": "Heartbeat", "at": %.3f}\n' % time.time())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            closing.cancel()
            self.service.events.unqueue(queue)
        return resp


# --- serving -------------------------------------------------------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    m = re.match(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]+)):(?P<port>[0-9]{1,5})$", text.strip())
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


def tls_context(options: Options) -> ssl.SSLContext:
    """The server's TLS: its certificate, and client certificates verified against ``--client-ca`` only (never
    the system's CAs, which would let any public certificate name any user)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(options.tls_cert, options.tls_key)
    if options.client_ca:
        ctx.load_verify_locations(cafile=options.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def check_options(options: Options) -> None:
    """One sentence for each way the options cannot make a safe server."""
    if options.insecure_http:
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
    if options.move_wait < 0 or options.heartbeat <= 0:
        raise ValueError("--move-wait must be 0 or more and --heartbeat more than 0 seconds")


async def serve(
    options: Options,
    settings: config_mod.Settings,
    *,
    ready: Callable[[str, Sequence[str]], None] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; ``ready`` gets the URL and the served sites once the socket listens."""
    from ..service import KavlanService

    ctx = None if options.insecure_http else tls_context(options)
    service = KavlanService(settings)
    api = Api(service, options)
    runner = web.AppRunner(api.application(), access_log=None, shutdown_timeout=5.0, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        tcp = web.TCPSite(runner, options.host, options.port, ssl_context=ctx, shutdown_timeout=5.0)
        await tcp.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"{'http' if ctx is None else 'https'}://{shown}:{port}"
        if ready is not None:
            ready(url, api.sites)
        await stop.wait()
    finally:
        await runner.cleanup()
        await api.close()


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
        sites=tuple(args.site or ()),
        insecure_http=args.insecure_http,
        move_wait=args.move_wait,
        access_log=args.access_log,
        audit_log=args.audit_log or "",
        heartbeat=args.heartbeat,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kavlan-api",
        description="The KaVLAN REST API server (and its certificate and password helpers).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
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
    w = sub.add_parser(
        "passwd",
        help="add or change a user in a users file (password from stdin)",
        description="Add or change USER in FILE; the password is read from the terminal, or from stdin's first line.",
    )
    w.add_argument("file", metavar="FILE")
    w.add_argument("user", metavar="USER")
    w.add_argument("--scheme", choices=("scrypt", "pbkdf2_sha256"), default="scrypt")
    return p


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ca":
            from . import ca

            written = ca.make_all(args.dir, args.server_name, args.user, args.service, days=args.days)
            for path in written:
                print(f"kavlan-api: wrote {path}")
            d = Path(args.dir)
            services = "".join(f" --trusted-service {s}" for s in args.service)
            print(
                f"kavlan-api: serve with: kavlan-api serve --listen 127.0.0.1:8443 --tls-cert {d / 'server.pem'} "
                f"--tls-key {d / 'server.key'} --client-ca {d / 'ca.pem'}{services}"
            )
            return 0
        if args.command == "passwd":
            new = auth.set_password(args.file, args.user, _read_password(), args.scheme)
            print(f"kavlan-api: user {args.user} {'added to' if new else 'changed in'} {args.file}")
            return 0
        if args.command == "serve":
            options = _options(args)
            check_options(options)
            settings = config_mod.load()

            def ready(url: str, sites: Sequence[str]) -> None:
                print(f"kavlan-api: serving {url} (sites: {', '.join(sites)})", flush=True)

            asyncio.run(serve(options, settings, ready=ready))
            return 0
        _parser().print_help()
        return 2
    except (ValueError, OSError, ssl.SSLError, KavlanError, config_mod.ConfigError, InventoryError) as exc:
        msg = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError)
            else str(exc)
        )
        where = f" ({exc.filename})" if isinstance(exc, OSError) and getattr(exc, "filename", None) else ""
        sys.stderr.write(f"kavlan-api: {msg}{where}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
