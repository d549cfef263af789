"""Which handler answers which path and method (docs/api.md; the OpenAPI document lists the same). Every GET
answers HEAD too, and every route is served under ``/stable`` as well, as g5k-api serves its version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from . import params
from .handlers import deployments, dhcp, extensions, grids, jobs, moves, reference, sites, unavailable, vlans

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/openapi.json", sites.openapi_json),
    ("GET", "/sites", sites.list_sites),
    ("GET", "/sites/{site}", sites.get_site),
    ("GET", "/sites/{site}/clusters", reference.list_clusters),
    ("GET", "/sites/{site}/clusters/{cluster}", reference.get_cluster),
    ("GET", "/sites/{site}/clusters/{cluster}/nodes", reference.list_nodes),
    ("GET", "/sites/{site}/clusters/{cluster}/nodes/{uid}", reference.get_node),
    ("GET", "/sites/{site}/servers", reference.list_servers),
    ("GET", "/sites/{site}/servers/{server}", reference.get_server),
    ("GET", "/sites/{site}/deployments", deployments.list_all),
    ("POST", "/sites/{site}/deployments", deployments.create),
    ("GET", "/sites/{site}/deployments/{uid}", deployments.get),
    ("GET", "/sites/{site}/vlans", vlans.list_vlans),
    # the literal segments before /vlans/{id}: the router tries resources in this order
    ("GET", "/sites/{site}/vlans/nodes", vlans.list_nodes),
    ("POST", "/sites/{site}/vlans/nodes", vlans.nodes_vlans),
    ("GET", "/sites/{site}/vlans/nodes/{node}", vlans.get_node),
    ("GET", "/sites/{site}/vlans/users", vlans.list_users),
    ("GET", "/sites/{site}/vlans/users/{uid}", vlans.get_user),
    ("GET", "/sites/{site}/vlans/{id}", vlans.get_vlan),
    ("GET", "/sites/{site}/vlans/{id}/nodes", vlans.vlan_nodes),
    ("POST", "/sites/{site}/vlans/{id}/nodes", moves.move),
    ("GET", "/sites/{site}/vlans/{id}/users", vlans.vlan_users),
    ("GET", "/sites/{site}/vlans/{id}/users/{uid}", vlans.vlan_user),
    ("GET", "/sites/{site}/vlans/{id}/dhcpd", dhcp.get_dhcpd),
    ("PUT", "/sites/{site}/vlans/{id}/dhcpd", dhcp.put_dhcpd),
    ("GET", "/sites/{site}/vlans/{id}/dhcpd/leases", dhcp.leases),
    ("GET", "/sites/{site}/jobs", jobs.list_jobs),
    ("POST", "/sites/{site}/jobs", jobs.submit_job),
    ("GET", "/sites/{site}/jobs/{job}", jobs.get_job),
    ("DELETE", "/sites/{site}/jobs/{job}", jobs.delete_job),
    ("POST", "/sites/{site}/grids", grids.open_grid),
    ("GET", "/sites/{site}/grids/{grid}", grids.get_grid),
    ("POST", "/sites/{site}/grids/{grid}/jobs", grids.add_jobs),
    ("DELETE", "/sites/{site}/grids/{grid}", grids.drop_grid),
    ("GET", "/sites/{site}/kavlan/inventory", extensions.get_inventory),
    ("GET", "/sites/{site}/kavlan/whoami", extensions.whoami),
    ("GET", "/sites/{site}/kavlan/drift", extensions.drift),
    ("GET", "/sites/{site}/kavlan/ports", extensions.ports),
    ("GET", "/sites/{site}/kavlan/fdb", extensions.fdb),
    ("GET", "/sites/{site}/kavlan/isolation", extensions.isolation),
    ("POST", "/sites/{site}/kavlan/repair", extensions.repair),
    ("GET", "/sites/{site}/kavlan/moves/{mid}", moves.get_move),
    ("GET", "/sites/{site}/kavlan/unavailable", unavailable.list_unavailable),
    ("DELETE", "/sites/{site}/kavlan/unavailable/{node}", unavailable.clear_unavailable),
    ("GET", "/sites/{site}/kavlan/events", extensions.events),
]


def setup_routes(app: web.Application) -> None:
    for root in ("", params.PREFIX):
        for method, path, handler in ROUTES:
            if method == "GET":
                app.router.add_get(root + path, handler, allow_head=True)
            else:
                app.router.add_route(method, root + path, handler)
