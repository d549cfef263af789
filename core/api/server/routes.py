"""Which handler answers which path and method (docs/api.md; the OpenAPI document lists the same)."""

from __future__ import annotations

from aiohttp import web

from .handlers import dhcp, extensions, jobs, moves, sites, vlans


def setup_routes(app: web.Application) -> None:
    r = app.router

    def get(path: str, handler: object) -> None:
        r.add_get(path, handler, allow_head=False)  # type: ignore[arg-type]

    get("/openapi.json", sites.openapi_json)
    get("/sites", sites.list_sites)
    get("/sites/{site}", sites.get_site)
    get("/sites/{site}/vlans", vlans.list_vlans)
    # the literal segments before /vlans/{id}: the router tries resources in this order
    get("/sites/{site}/vlans/nodes", vlans.list_nodes)
    r.add_post("/sites/{site}/vlans/nodes", vlans.nodes_vlans)
    get("/sites/{site}/vlans/nodes/{node}", vlans.get_node)
    get("/sites/{site}/vlans/users", vlans.list_users)
    get("/sites/{site}/vlans/users/{uid}", vlans.get_user)
    get("/sites/{site}/vlans/{id}", vlans.get_vlan)
    get("/sites/{site}/vlans/{id}/nodes", vlans.vlan_nodes)
    r.add_post("/sites/{site}/vlans/{id}/nodes", moves.move)
    get("/sites/{site}/vlans/{id}/users", vlans.vlan_users)
    get("/sites/{site}/vlans/{id}/users/{uid}", vlans.vlan_user)
    get("/sites/{site}/vlans/{id}/dhcpd", dhcp.get_dhcpd)
    r.add_put("/sites/{site}/vlans/{id}/dhcpd", dhcp.put_dhcpd)
    get("/sites/{site}/vlans/{id}/dhcpd/leases", dhcp.leases)
    get("/sites/{site}/jobs", jobs.list_jobs)
    r.add_post("/sites/{site}/jobs", jobs.submit_job)
    get("/sites/{site}/jobs/{job}", jobs.get_job)
    r.add_delete("/sites/{site}/jobs/{job}", jobs.delete_job)
    get("/sites/{site}/kavlan/inventory", extensions.get_inventory)
    get("/sites/{site}/kavlan/whoami", extensions.whoami)
    get("/sites/{site}/kavlan/drift", extensions.drift)
    get("/sites/{site}/kavlan/ports", extensions.ports)
    get("/sites/{site}/kavlan/fdb", extensions.fdb)
    get("/sites/{site}/kavlan/isolation", extensions.isolation)
    r.add_post("/sites/{site}/kavlan/repair", extensions.repair)
    get("/sites/{site}/kavlan/moves/{mid}", moves.get_move)
    get("/sites/{site}/kavlan/events", extensions.events)
