"""g5k-api's deployments (kadeploy's API) into a VLAN: ``POST /sites/{site}/deployments`` with the original's body
(``environment``, ``nodes``, ``key``, ``vlan``) answers 201 at once with the deployment, which runs in the server
(core/deploy.py through ``KavlanService.deploy``); ``GET .../deployments/{uid}`` gives its ``status`` (waiting,
processing, terminated, error) and, once terminated, ``result`` per node (``state`` OK or KO). Rights as for a move,
checked before the 201. Deployments are kept in the server's memory (the newest ``KEEP``)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ....errors import NotFound
from ....model import DEFAULT, vlan_label
from ... import wire
from .. import params
from ..errors import ApiError, answer_of
from ..limits import MAX_NODES
from ..shapes import collection, item_links
from ..state import ServerState, identity, state_of

if TYPE_CHECKING:  # the deployment's SSH part (asyncssh) is loaded with the first deployment
    from ....reports import DeployReport

KEEP = 1000
"""Deployments kept for reading (the oldest finished ones go first)."""
FIELDS = {"environment", "nodes", "key", "vlan"}
IGNORED = {
    "version",
    "partition_number",
    "block_device",
    "reformat_tmp",
    "disable_disk_partitioning",
    "disable_bootloader_install",
    "ignore_nodes_deploying",
    "user",
    "arch",
    "custom_operations",
    "timeout_reboot_classical",
    "timeout_reboot_kexec",
    "reboot_classical_timeout",
}
"""kadeploy's options a client may send: accepted, and meaningless where the site installs no system."""


@dataclass
class Deployment:
    uid: str
    site: str
    user: str
    environment: str
    nodes: list[str]
    vlan: int
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    status: str = "waiting"
    report: DeployReport | None = None
    error: str = ""
    task: asyncio.Task[None] | None = None


class Deployments:
    """The server's deployments, by uid; those still running are cancelled when the server stops."""

    def __init__(self) -> None:
        self.kept: dict[str, Deployment] = {}

    def add(self, deployment: Deployment) -> None:
        finished = [d for d in self.kept.values() if d.status in ("terminated", "error")]
        for old in finished[: max(0, len(self.kept) + 1 - KEEP)]:
            del self.kept[old.uid]
        self.kept[deployment.uid] = deployment

    async def stop(self) -> None:
        tasks = [d.task for d in self.kept.values() if d.task is not None and not d.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


DEPLOYMENTS = web.AppKey("deployments", Deployments)


def setup(app: web.Application) -> None:
    """The application's deployments, and their end with it."""
    app[DEPLOYMENTS] = Deployments()

    async def stop(app: web.Application) -> None:
        await app[DEPLOYMENTS].stop()

    app.on_shutdown.append(stop)


def _vlan(state: ServerState, site: str, raw: Any) -> int:
    """The body's ``vlan``: a VLAN id (number or string, as g5k-api's clients send it) the site has, not DEFAULT."""
    if raw is None:
        raise ApiError(400, "vlan is needed: this server deploys into a VLAN (kadeploy3 --vlan N)")
    text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 3 or int(text) == DEFAULT:
        raise ApiError(
            400, f"vlan must be a VLAN id of {site} (1-9, or a global VLAN), not {str(raw)[:40]!r}"
        )
    vlan = int(text)
    state.service.check_vlan(vlan, site)
    return vlan


def _request(state: ServerState, site: str, body: Any) -> tuple[str, list[str], str, int]:
    """The body of ``POST /deployments``, checked: one sentence for what is wrong with it."""
    if not isinstance(body, dict):
        raise ApiError(400, 'the request body must be a JSON object: {"environment", "nodes", "key", "vlan"}')
    unknown = sorted(set(body) - FIELDS - IGNORED)
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ApiError(400, f"unknown deployment field(s): {shown} (known: {', '.join(sorted(FIELDS))})")
    env, nodes, key = body.get("environment"), body.get("nodes"), body.get("key", "")
    if not isinstance(env, str):
        raise ApiError(400, "environment must be the name of the environment to deploy, e.g. debian12-min")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) for n in nodes):
        raise ApiError(400, "nodes must be a non-empty list of node names (FQDNs)")
    if len(nodes) > MAX_NODES:
        raise ApiError(413, f"a deployment names at most {MAX_NODES} nodes, not {len(nodes)}")
    if not isinstance(key, str) or key.startswith(("http://", "https://")):
        raise ApiError(400, "key must be the public key itself (a key URL is not fetched here)")
    from ....deploy import check_request

    check_request(env, key)
    return env, nodes, key, _vlan(state, site, body.get("vlan"))


def _result(report: DeployReport) -> dict[str, Any]:
    """g5k-api's ``result``: each node's state, OK or KO, with why (this project's ``message``)."""
    return {
        n.name: {"state": report.state(n), "message": n.message, "vlan": vlan_label(report.vlan)}
        for n in report.staged.nodes
    }


def deployment_item(d: Deployment, root: str) -> dict[str, Any]:
    base = f"{root}/sites/{d.site}/deployments"
    item: dict[str, Any] = {
        "uid": d.uid,
        "site_uid": d.site,
        "user_uid": d.user,
        "environment": d.environment,
        "nodes": d.nodes,
        "vlan": vlan_label(d.vlan),
        "status": d.status,
        "created_at": int(d.created),
        "updated_at": int(d.updated),
        "links": item_links(f"{base}/{d.uid}", base),
    }
    if d.report is not None:
        item["result"] = _result(d.report)
        item["installed"], item["key"], item["dhcp"] = d.report.installed, d.report.key, d.report.dhcp
        item["report"] = wire.encode(d.report)
    if d.error:
        item["error"] = d.error
    return item


async def _run(state: ServerState, d: Deployment, key: str) -> None:
    d.status, d.updated = "processing", time.time()
    try:
        d.report = await state.service.deploy(
            d.nodes, d.vlan, environment=d.environment, key=key, user=d.user
        )
        d.status = "terminated"
    except Exception as exc:  # noqa: BLE001 - the error boundary of a background task: its reader gets a sentence
        answer = answer_of(exc)  # an internal fault is told in the server's words, its detail logged
        d.status, d.error = "error", str(answer.error)
        if answer.log:
            sys.stderr.write(answer.log)
    finally:
        d.updated = time.time()


async def create(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    ident = identity(request)
    env, names, key, vlan = _request(state, site, await params.json_body(request))
    from ....deploy import primary_names

    nodes = primary_names(state.service, names)  # an unknown name: BadInput, 400
    async with state.audit.audited(
        ident, "deploy", site=site, vlan=vlan, nodes=nodes, environment=env
    ) as entry:
        await state.service.plan(nodes, vlan, user=ident.user)  # rights as for a move, before the 201
        d = Deployment(f"D-{uuid.uuid4()}", site, ident.user, env, nodes, vlan)
        request.app[DEPLOYMENTS].add(d)
        d.task = asyncio.ensure_future(_run(state, d, key))
        entry.after = {"deployment": d.uid}
        entry.result = {"status": 201}
    location = {"Location": f"{root}/sites/{site}/deployments/{d.uid}"}
    return web.json_response(deployment_item(d, root), status=201, headers=location)


async def get(request: web.Request) -> web.Response:
    site = params.site(request)
    d = request.app[DEPLOYMENTS].kept.get(request.match_info["uid"])
    if d is None or d.site != site:
        raise ApiError(404, f"no deployment {request.match_info['uid'][:60]!r} at {site}", NotFound)
    return web.json_response(deployment_item(d, params.base(request)))


async def list_all(request: web.Request) -> web.Response:
    site, root = params.site(request), params.base(request)
    items = [deployment_item(d, root) for d in request.app[DEPLOYMENTS].kept.values() if d.site == site]
    items.reverse()  # newest first
    base = f"{root}/sites/{site}"
    return web.json_response(collection(items, f"{base}/deployments", base))
