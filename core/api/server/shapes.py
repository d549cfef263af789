"""The original's JSON shapes (Grid'5000's API): links, collections, and the site, VLAN and job items."""

from __future__ import annotations

from typing import Any

from ...inventory import Inventory
from ...model import Job, VlanKind, vlan_label
from ...reports import VlanInfo
from .. import wire

ITEM = "application/vnd.grid5000.item+json"
COLLECTION = "application/vnd.grid5000.collection+json"


def link(rel: str, href: str, kind: str = ITEM, title: str | None = None) -> dict[str, str]:
    out = {"rel": rel, "href": href, "type": kind}
    if title:
        out["title"] = title
    return out


def collection(
    items: list[Any],
    self_href: str,
    parent_href: str,
    *,
    total: int | None = None,
    offset: int = 0,
    parent_kind: str = ITEM,
    more: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """g5k-api's collection: ``total`` (all the items, when ``items`` is a page of them), ``offset``, the
    items, and the links (``more`` before ``self`` and ``parent``, as the original orders them)."""
    return {
        "total": len(items) if total is None else total,
        "offset": offset,
        "items": items,
        "links": [
            *(more or []),
            link("self", self_href, COLLECTION),
            link("parent", parent_href, parent_kind),
        ],
    }


def item_links(self_href: str, parent_href: str) -> list[dict[str, str]]:
    """An item of a collection: its ``self`` and its collection as ``parent``."""
    return [link("self", self_href), link("parent", parent_href, COLLECTION)]


def site_item(site: str, root: str = "") -> dict[str, Any]:
    base = f"{root}/sites/{site}"
    return {
        "uid": site,
        "name": site,
        "links": [
            link("vlans", f"{base}/vlans", COLLECTION, "vlans"),
            link("jobs", f"{base}/jobs", COLLECTION, "jobs"),
            link("self", base),
            link("parent", f"{root}/sites", COLLECTION),
        ],
    }


def vlan_type(inventory: Inventory, site: str, vid: int) -> str:
    """The original's type: NULL, kavlan-local, kavlan, kavlan-global (here) or kavlan-global-remote."""
    kind = VlanKind.of(vid)
    if kind is VlanKind.DEFAULT:
        return "NULL"
    if kind is VlanKind.GLOBAL:
        return "kavlan-global" if inventory.global_owner.get(vid) == site else "kavlan-global-remote"
    return kind.value


def vlan_item(inventory: Inventory, site: str, info: VlanInfo, root: str = "") -> dict[str, Any]:
    """The original's ``{uid, type, links}`` and this project's fields (which its clients ignore)."""
    uid = vlan_label(info.id)
    collection_href = f"{root}/sites/{site}/vlans"
    base = f"{collection_href}/{uid}"
    return {
        "uid": uid,
        "type": vlan_type(inventory, site, info.id),
        "links": [
            link("dhcpd", f"{base}/dhcpd", ITEM, "dhcpd"),
            link("nodes", f"{base}/nodes", COLLECTION, "nodes"),
            link("users", f"{base}/users", COLLECTION, "users"),
            link("self", base),
            link("parent", collection_href, COLLECTION),
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


def job_sites(inventory: Inventory, job: Job) -> set[str]:
    """The sites a job touches: its VLANs' and its nodes'."""
    sites = {v.site for v in job.vlans}
    sites |= {inventory.nodes[n].site for n in job.nodes if n in inventory.nodes}
    return sites


def job_item(inventory: Inventory, site: str, job: Job, root: str = "") -> dict[str, Any]:
    """OAR's job, plus ``job``: the whole job for this project's clients."""
    nodes = [inventory.node_fqdn(inventory.nodes[n]) if n in inventory.nodes else n for n in job.nodes]
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
        "links": [link("self", f"{root}/sites/{site}/jobs/{job.id}"), link("parent", f"{root}/sites/{site}")],
    }
