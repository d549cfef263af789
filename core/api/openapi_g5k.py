"""The OpenAPI parts of g5k-api beyond KaVLAN and OAR that this server answers: the reference documents (the site's
VLAN networks, clusters, nodes' network adapters, the DNS server) and the deployments into a VLAN (kadeploy's
``--vlan``). :mod:`kavlan_core.api.openapi` merges them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .openapi_parts import BOOL as _BOOL
from .openapi_parts import INT as _INT
from .openapi_parts import STR as _STR
from .openapi_parts import collection as _collection
from .openapi_parts import obj as _obj
from .openapi_parts import ref as _ref

Op = Callable[..., dict[str, Any]]
"""openapi._op: an operation with the errors every operation names."""


def schemas() -> dict[str, Any]:
    network = _obj({"network": _STR, "gateway": _STR})
    adapter = _obj(
        {
            "device": _STR,
            "name": _STR,
            "interface": _STR,
            "enabled": _BOOL,
            "mountable": _BOOL,
            "mounted": _BOOL,
            "management": _BOOL,
            "mac": _STR,
            "switch": _STR,
            "switch_port": _STR,
            "network_address": _STR,
        }
    )
    return {
        "SiteReference": _obj(
            {
                "uid": _STR,
                "name": _STR,
                "links": _ref("Links"),
                "kavlans": {
                    "type": "object",
                    "additionalProperties": network,
                    "description": 'Each VLAN of the site by uid ("default", "1".."9", its global one): its '
                    "network and the gateway of its subnet",
                },
                "ipv6": _obj({"site_index": _INT}),
                "clusters": {"type": "array", "items": _STR},
            }
        ),
        "Cluster": _obj(
            {
                "uid": _STR,
                "exotic": _BOOL,
                "queues": {"type": "array", "items": _STR},
                "nodes_count": _INT,
                "links": _ref("Links"),
            }
        ),
        "ClusterCollection": _collection("Cluster"),
        "NodeReference": _obj(
            {
                "uid": _STR,
                "cluster": _STR,
                "network_adapters": {"type": "array", "items": adapter},
                "links": _ref("Links"),
            }
        ),
        "NodeReferenceCollection": _collection("NodeReference"),
        "Server": _obj(
            {
                "uid": _STR,
                "kind": _STR,
                "network_adapters": _obj({"default": _obj({"ip": _STR})}),
                "links": _ref("Links"),
            }
        ),
        "ServerCollection": _collection("Server"),
        **_deployment_schemas(),
    }


def _deployment_schemas() -> dict[str, Any]:
    return {
        "DeploymentRequest": {
            **_obj(
                {
                    "environment": {**_STR, "examples": ["debian12-min"]},
                    "nodes": {
                        "type": "array",
                        "items": _STR,
                        "minItems": 1,
                        "maxItems": 5000,
                        "examples": [["suno-1.sophia.grid5000.fr", "suno-2.sophia.grid5000.fr"]],
                    },
                    "key": {**_STR, "description": "The public key(s) to install for root (the key itself)"},
                    "vlan": {
                        "type": ["string", "integer"],
                        "description": "The VLAN the nodes go into",
                        "examples": ["4"],
                    },
                },
                required=["environment", "nodes", "vlan"],
            ),
            "additionalProperties": True,
            "description": "g5k-api's body; kadeploy's other options (version, partition_number, ...) are "
            "accepted and ignored",
        },
        "Deployment": _obj(
            {
                "uid": _STR,
                "site_uid": _STR,
                "user_uid": _STR,
                "environment": _STR,
                "nodes": {"type": "array", "items": _STR},
                "vlan": _STR,
                "status": {"type": "string", "enum": ["waiting", "processing", "terminated", "error"]},
                "created_at": _INT,
                "updated_at": _INT,
                "links": _ref("Links"),
                "result": {
                    "type": "object",
                    "additionalProperties": _obj(
                        {"state": {"type": "string", "enum": ["OK", "KO"]}, "message": _STR, "vlan": _STR}
                    ),
                    "description": "Once terminated: each node's state (OK: it answers in the VLAN)",
                },
                "installed": _STR,
                "key": _STR,
                "dhcp": _STR,
                "report": {
                    "type": "object",
                    "description": "wire.encode(DeployReport), for this project's clients",
                },
                "error": _STR,
            },
            required=["uid", "status", "nodes", "vlan", "environment"],
        ),
        "DeploymentCollection": _collection("Deployment"),
    }


def parameters() -> dict[str, Any]:
    def path(name: str, description: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": _STR, "description": description}

    return {
        "cluster": path("cluster", "A cluster of the site"),
        "nodeuid": {**path("uid", "A node's short name (suno-1)"), "name": "uid"},
        "server": path("server", "A server of the site's reference (dns)"),
        "deployment": {**path("uid", "A deployment's uid (D-...)"), "name": "uid"},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def paths(op: Op) -> dict[str, Any]:
    return {**_reference_paths(op), **_deployment_paths(op)}


def _deployment_paths(op: Op) -> dict[str, Any]:
    s = ("site",)
    created = {
        "201": {
            **_json(_ref("Deployment"), "The deployment, waiting or processing: poll its Location"),
            "headers": {"Location": {"schema": _STR, "required": True, "description": "Where to poll"}},
        }
    }
    return {
        "/sites/{site}/deployments": {
            "get": op("The deployments this server ran", s, {"200": _json(_ref("DeploymentCollection"), "")}),
            "post": op(
                "Deploy an environment and leave the nodes in a VLAN (kadeploy3 --vlan)",
                s,
                created,
                errors=("409", "415"),
                body=_ref("DeploymentRequest"),
                description="Rights as for a move of the nodes into the VLAN (refused before the 201). Where the "
                "site installs no system ([site.deploy]), the answer says so in `installed`; the VLAN part (key, "
                "ports, DHCP, network restart, the wait under in-VLAN names) is done in any case.",
            ),
        },
        "/sites/{site}/deployments/{uid}": {
            "get": op("One deployment", ("site", "deployment"), {"200": _json(_ref("Deployment"), "")}),
        },
    }


def _reference_paths(op: Op) -> dict[str, Any]:
    """The paths, each operation made by ``op`` (openapi._op)."""
    s, c = ("site",), ("site", "cluster")
    return {
        "/sites/{site}/clusters": {
            "get": op(
                "The site's clusters (reference)", s, {"200": _json(_ref("ClusterCollection"), "Clusters")}
            )
        },
        "/sites/{site}/clusters/{cluster}": {
            "get": op("One cluster (reference)", c, {"200": _json(_ref("Cluster"), "The cluster")})
        },
        "/sites/{site}/clusters/{cluster}/nodes": {
            "get": op(
                "A cluster's nodes (reference)", c, {"200": _json(_ref("NodeReferenceCollection"), "Nodes")}
            )
        },
        "/sites/{site}/clusters/{cluster}/nodes/{uid}": {
            "get": op(
                "One node with its network adapters (reference)",
                ("site", "cluster", "nodeuid"),
                {"200": _json(_ref("NodeReference"), "The node")},
            )
        },
        "/sites/{site}/servers": {
            "get": op(
                "The site's servers (reference: dns)", s, {"200": _json(_ref("ServerCollection"), "Servers")}
            )
        },
        "/sites/{site}/servers/{server}": {
            "get": op(
                "One server (reference)", ("site", "server"), {"200": _json(_ref("Server"), "The server")}
            )
        },
    }
