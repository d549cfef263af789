"""The reference documents a Grid'5000 client reads, built from the testbed description (read-only, for whoever may
read the site): the site with its VLANs' networks and gateways (``kavlans``) and ``ipv6.site_index``, its clusters,
a node's network adapters, and the DNS server. EnOSlib configures its networks and picks its NICs from these."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ....errors import NotFound
from ....inventory import Inventory
from ....model import DEFAULT, Cluster, Node, vlan_label
from .. import params
from ..errors import ApiError
from ..shapes import COLLECTION, collection, item_links, link, site_item
from ..state import state_of

MAX_UID = 64


def _kavlans(inventory: Inventory, site: str) -> dict[str, dict[str, str]]:
    """Each VLAN of the site (DEFAULT as ``default``, local, routed, its own global one): network and gateway."""
    own = [DEFAULT, *range(1, 10), inventory.sites[site].global_vlan]
    out = {}
    for vid in own:
        vlan = inventory.vlan(site, vid)
        key = vlan_label(vid).lower()
        out[key] = {"network": str(vlan.subnet), "gateway": str(inventory.subnet_gateway(site, vid))}
    return out


def site_document(inventory: Inventory, site: str, root: str) -> dict[str, Any]:
    """The site as g5k-api's reference gives it: the site item, ``kavlans``, ``ipv6``, links to what is below."""
    doc = site_item(site, root)
    base = f"{root}/sites/{site}"
    more = [
        link("clusters", f"{base}/clusters", COLLECTION, "clusters"),
        link("servers", f"{base}/servers", COLLECTION, "servers"),
        link("deployments", f"{base}/deployments", COLLECTION, "deployments"),
    ]
    return {
        **doc,
        "links": [*more, *doc["links"]],
        "kavlans": _kavlans(inventory, site),
        "ipv6": {"site_index": inventory.site_index(site)},
        "clusters": list(inventory.sites[site].clusters),
    }


def _cluster(request: web.Request, site: str) -> Cluster:
    inventory = state_of(request).inventory
    name = request.match_info["cluster"]
    cluster = inventory.clusters.get(name)
    if cluster is None or cluster.site != site:
        raise ApiError(404, f"no cluster {name[:MAX_UID]!r} at {site}", NotFound)
    return cluster


def _cluster_item(cluster: Cluster, root: str) -> dict[str, Any]:
    base = f"{root}/sites/{cluster.site}/clusters/{cluster.name}"
    return {
        "uid": cluster.name,
        "exotic": False,
        "queues": ["default"],
        "nodes_count": len(cluster.nodes),
        "links": [
            link("nodes", f"{base}/nodes", COLLECTION, "nodes"),
            *item_links(base, base.rsplit("/", 1)[0]),
        ],
    }


async def list_clusters(request: web.Request) -> web.Response:
    inventory, site, root = state_of(request).inventory, params.site(request), params.base(request)
    items = [_cluster_item(inventory.clusters[c], root) for c in inventory.sites[site].clusters]
    base = f"{root}/sites/{site}"
    return web.json_response(collection(items, f"{base}/clusters", base))


async def get_cluster(request: web.Request) -> web.Response:
    site = params.site(request)
    return web.json_response(_cluster_item(_cluster(request, site), params.base(request)))


def _adapters(inventory: Inventory, node: Node) -> list[dict[str, Any]]:
    """Each NIC as the reference describes it: the primary one mounted, every cabled one mountable."""
    fqdn = inventory.node_fqdn(node)
    return [
        {
            "device": nic.name,
            "name": nic.name,
            "interface": "Ethernet",
            "enabled": True,
            "mountable": True,
            "mounted": nic.primary,
            "management": False,
            "mac": nic.mac,
            "switch": nic.switch,
            "switch_port": nic.port,
            "network_address": fqdn if nic.primary else fqdn.replace(".", f"-{nic.name}.", 1),
        }
        for nic in node.nics
    ]


def _node_item(inventory: Inventory, node: Node, root: str) -> dict[str, Any]:
    base = f"{root}/sites/{node.site}/clusters/{node.cluster}/nodes"
    return {
        "uid": node.name,
        "cluster": node.cluster,
        "network_adapters": _adapters(inventory, node),
        "links": item_links(f"{base}/{node.name}", base),
    }


async def list_nodes(request: web.Request) -> web.Response:
    inventory, site, root = state_of(request).inventory, params.site(request), params.base(request)
    cluster = _cluster(request, site)
    items = [_node_item(inventory, inventory.nodes[n], root) for n in cluster.nodes]
    base = f"{root}/sites/{site}/clusters/{cluster.name}"
    return web.json_response(collection(items, f"{base}/nodes", base))


async def get_node(request: web.Request) -> web.Response:
    inventory, site = state_of(request).inventory, params.site(request)
    cluster, uid = _cluster(request, site), request.match_info["uid"]
    if uid not in cluster.nodes:
        raise ApiError(404, f"no node {uid[:MAX_UID]!r} in cluster {cluster.name}", NotFound)
    return web.json_response(_node_item(inventory, inventory.nodes[uid], params.base(request)))


def _dns_item(inventory: Inventory, site: str, root: str) -> dict[str, Any]:
    base = f"{root}/sites/{site}/servers"
    return {
        "uid": "dns",
        "kind": "dns",
        "network_adapters": {"default": {"ip": str(inventory.dns_server(site))}},
        "links": item_links(f"{base}/dns", base),
    }


async def list_servers(request: web.Request) -> web.Response:
    inventory, site, root = state_of(request).inventory, params.site(request), params.base(request)
    base = f"{root}/sites/{site}"
    return web.json_response(collection([_dns_item(inventory, site, root)], f"{base}/servers", base))


async def get_server(request: web.Request) -> web.Response:
    inventory, site = state_of(request).inventory, params.site(request)
    uid = request.match_info["server"]
    if uid != "dns":
        raise ApiError(
            404, f"no server {uid[:MAX_UID]!r} at {site} (the reference here describes dns)", NotFound
        )
    return web.json_response(_dns_item(inventory, site, params.base(request)))
