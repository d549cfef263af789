"""The OpenAPI 3.1 document of the KaVLAN REST API, written by hand as Python data (served at ``/openapi.json``).

It describes what :mod:`kavlan_core.api.server` does, errors included; the tests compare its paths and methods
with the server's router and validate it. The served sites and VLAN ids are filled in per server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..reports import Outcome
from . import openapi_g5k
from .openapi_parts import INT as _INT
from .openapi_parts import STR as _STR
from .openapi_parts import collection as _collection
from .openapi_parts import obj as _obj
from .openapi_parts import ref as _ref

VERSION = "1.0.0"

JSON = "application/json"


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _err(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _string(**kw: Any) -> dict[str, Any]:
    return {"type": "string", **kw}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    t = schema["type"]
    return {**schema, "type": [t, "null"]}


MOVE_OUTCOMES = [str(o) for o in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNCHANGED)]
"""The outcomes a move of switch ports gives a node (the staged move adds rolled-back)."""
_STRS = {"type": "array", "items": _STR}
_LOCATION = {
    "Location": {
        "description": "Where to read the resource (or to poll the move)",
        "schema": _STR,
        "required": True,
    }
}


def _schemas() -> dict[str, Any]:
    vlan_uid = _string(
        description='"DEFAULT", or the VLAN id: 1-3 local, 4-9 routed, 10-21 global', examples=["4"]
    )
    nic_ref = _obj({"node": _STR, "nic": _STR})
    return {
        "Error": _obj(
            {
                "code": _INT,
                "title": _STR,
                "message": _string(description="One sentence, the same the CLI prints"),
                "exception": _string(
                    enum=[
                        "KavlanError",
                        "BadInput",
                        "NotAllowed",
                        "NotFound",
                        "Unavailable",
                        "SwitchUnavailable",
                        "Misconfigured",
                    ],
                    description="The class of the error (kavlan_core.errors), which remote clients raise again",
                ),
                "about": _string(
                    description="What the sentence is about (nodes, api, ca_cert, where), if it says"
                ),
                "refusals": {"type": "array", "items": _obj({"node": _STR, "reason": _STR})},
                "switch": _string(description="SwitchUnavailable: the switch that failed"),
                "ports": {
                    "type": "array",
                    "items": _STR,
                    "description": "SwitchUnavailable: its ports concerned",
                },
            },
            required=["code", "title", "message", "exception"],
        ),
        "Link": _obj({"rel": _STR, "href": _STR, "type": _STR, "title": _STR}, required=["rel", "href"]),
        "Links": {"type": "array", "items": _ref("Link")},
        "Site": _obj({"uid": _STR, "name": _STR, "links": _ref("Links")}),
        "SiteCollection": _collection("Site"),
        "Vlan": _obj(
            {
                "uid": vlan_uid,
                "type": _string(
                    enum=["NULL", "kavlan-local", "kavlan", "kavlan-global", "kavlan-global-remote"]
                ),
                "links": _ref("Links"),
                "kind": _string(enum=["default", "kavlan-local", "kavlan", "kavlan-global"]),
                "site": _string(description="The site asked about"),
                "owner": _string(
                    description="The site that owns the VLAN (another one for a remote global VLAN)"
                ),
                "subnet": _STR,
                "tag": {"type": "integer", "description": "802.1Q tag on the site's switches"},
                "job": _nullable({"type": "integer", "description": "The running job holding it"}),
                "user": _nullable({"type": "string", "description": "That job's user"}),
                "dhcpd": _string(enum=["on", "off", "failed"]),
                "members": {
                    "type": "integer",
                    "description": "NICs in it (of this site; of every site for a global VLAN)",
                },
            }
        ),
        "VlanCollection": _collection("Vlan"),
        "NodeVlan": _obj(
            {
                "uid": _string(description="The node's FQDN (-ethX for a secondary NIC)"),
                "vlan": vlan_uid,
                "links": _ref("Links"),
            },
            required=["uid", "vlan"],
        ),
        "NodeVlanCollection": _collection("NodeVlan"),
        "Member": _obj(
            {
                "uid": _STR,
                "vlan": vlan_uid,
                "name": _string(description="In-VLAN FQDN"),
                "node": _STR,
                "nic": _STR,
                "site": _STR,
                "cluster": _STR,
                "switch": _STR,
                "port": _STR,
                "address": _STR,
                "job": _nullable({"type": "integer"}),
                "links": _ref("Links"),
            },
            required=[
                "uid",
                "vlan",
                "name",
                "node",
                "nic",
                "site",
                "cluster",
                "switch",
                "port",
                "address",
                "job",
            ],
        ),
        "MemberCollection": _collection("Member"),
        "NodeNames": {
            "type": "array",
            "items": _string(examples=["suno-1.sophia.grid5000.fr"]),
            "description": "Node names: FQDNs (suno-1.sophia.grid5000.fr), short names, -ethX or in-VLAN names",
            "examples": [["suno-1.sophia.grid5000.fr", "suno-2.sophia.grid5000.fr"]],
        },
        "NodeOutcome": _obj(
            {
                "status": _string(enum=MOVE_OUTCOMES),
                "message": _string(
                    description="g5k-api's words: Successfully added to vlan, Node already in vlan, Unknown node; "
                    "else the reason"
                ),
            }
        ),
        "MoveResult": {
            "type": "object",
            "additionalProperties": _ref("NodeOutcome"),
            "description": "The original's answer: one entry per node, by its FQDN (an unknown name as it was sent)",
        },
        "PortChange": _obj({"port": _STR, "old_tag": _INT, "new_tag": _INT}),
        "PortMove": _obj(
            {
                "ref": nic_ref,
                "name": _STR,
                "old_vlan": _nullable({"type": "integer"}),
                "new_vlan": _INT,
                "change": _ref("PortChange"),
            }
        ),
        "SwitchPlan": _obj(
            {
                "switch": _STR,
                "driver": _STR,
                "moves": {"type": "array", "items": _ref("PortMove")},
                "commands": _STRS,
            }
        ),
        "Plan": _obj(
            {
                "vlan": {"type": "integer", "description": "0 is DEFAULT"},
                "switches": {"type": "array", "items": _ref("SwitchPlan")},
                "unchanged": {
                    "type": "array",
                    "items": {"type": "array", "prefixItems": [nic_ref, _STR], "minItems": 2, "maxItems": 2},
                    "description": "NICs already in the VLAN: [{node, nic}, name]",
                },
            }
        ),
        "NodeResult": _obj(
            {
                "name": _STR,
                "status": _string(enum=MOVE_OUTCOMES),
                "message": _STR,
                "switch": _STR,
                "port": _STR,
                "old_vlan": _nullable({"type": "integer"}),
                "new_vlan": _nullable({"type": "integer"}),
            }
        ),
        "SwitchTiming": _obj(
            {
                "switch": _STR,
                "ports": _INT,
                "seconds": {"type": "number"},
                "ok": {"type": "boolean"},
                "error": _STR,
                "tries": _INT,
            }
        ),
        "MoveReport": _obj(
            {
                "vlan": {"type": "integer", "description": "0 is DEFAULT; -1 for a repair"},
                "results": {"type": "array", "items": _ref("NodeResult")},
                "switches": {"type": "array", "items": _ref("SwitchTiming")},
                "seconds": {"type": "number"},
                "plan": {"oneOf": [_ref("Plan"), {"type": "null"}]},
                "dry_run": {"type": "boolean"},
                "unreadable": {"type": "array", "items": _ref("UnreadableSwitch")},
            }
        ),
        "UnreadableSwitch": _obj(
            {"switch": _STR, "ports": {"type": "array", "items": _STR}, "reason": _STR},
        ),
        "DriftReport": _obj(
            {
                "drifts": {"type": "array", "items": _ref("Drift")},
                "unreadable": {"type": "array", "items": _ref("UnreadableSwitch")},
            }
        ),
        "PortLoad": _obj(
            {
                "node": _STR,
                "nic": _STR,
                "switch": _STR,
                "port": _STR,
                "up": _nullable({"type": "boolean"}),
                "speed_mbps": _nullable(_INT),
                "in_rate": _nullable({"type": "number"}),
                "out_rate": _nullable({"type": "number"}),
                "in_errors": _nullable(_INT),
                "reason": _STR,
            }
        ),
        "PortsReport": _obj(
            {
                "loads": {"type": "array", "items": _ref("PortLoad")},
                "unreadable": {"type": "array", "items": _ref("UnreadableSwitch")},
                "seconds": {"type": "number"},
            }
        ),
        "FdbRow": _obj(
            {
                "mac": _STR,
                "vlan": _nullable(_INT),
                "tag": _nullable(_INT),
                "switch": _STR,
                "port": _STR,
                "node": _STR,
                "nic": _STR,
            }
        ),
        "FdbReport": _obj(
            {
                "rows": {"type": "array", "items": _ref("FdbRow")},
                "unreadable": {"type": "array", "items": _ref("UnreadableSwitch")},
            }
        ),
        "Leak": _obj(
            {
                "kind": _string(enum=["misplaced", "unknown", "foreign", "two-vlans"]),
                "mac": _STR,
                "vlan": _nullable(_INT),
                "switch": _STR,
                "port": _STR,
                "detail": _STR,
                "node": _STR,
                "nic": _STR,
            }
        ),
        "IsolationReport": _obj(
            {
                "scope": _STR,
                "vlans": {"type": "array", "items": _INT},
                "leaks": {"type": "array", "items": _ref("Leak")},
                "unreadable": {"type": "array", "items": _ref("UnreadableSwitch")},
                "macs": _INT,
                "no_vlan": _INT,
                "stale": _INT,
            }
        ),
        "MoveAccepted": _obj({"id": _STR, "status": _string(enum=["running"])}),
        "UserVlans": _obj(
            {"uid": _STR, "vlans": {"type": "array", "items": vlan_uid}, "links": _ref("Links")},
            required=["uid", "vlans"],
        ),
        "UserVlansCollection": _collection("UserVlans"),
        "VlanUser": _obj(
            {"uid": _STR, "status": _string(enum=["authorized", "unauthorized"]), "links": _ref("Links")},
            required=["uid", "status"],
        ),
        "VlanUserCollection": _collection("VlanUser"),
        "DhcpdAction": _obj({"action": _string(enum=["start", "stop"])}),
        "DhcpdState": _obj({"state": _string(enum=["on", "off", "failed"])}),
        "Lease": _obj({"expiry": _INT, "mac": _STR, "ip": _STR, "hostname": _STR, "client_id": _STR}),
        "Drift": _obj(
            {
                "switch": _STR,
                "port": _STR,
                "node": _STR,
                "nic": _STR,
                "expected": _INT,
                "actual": _nullable({"type": "integer"}),
                "actual_tag": _nullable({"type": "integer"}),
            }
        ),
        "KavlanJob": _obj(
            {
                "id": _INT,
                "user": _STR,
                "state": _string(enum=["Running", "Terminated", "Error"]),
                "name": _STR,
                "types": _STRS,
                "request": _STR,
                "submitted": {"type": "number"},
                "started": {"type": "number"},
                "walltime": _INT,
                "ended": _nullable({"type": "number"}),
                "nodes": _STRS,
                "vlans": {"type": "array", "items": _obj({"site": _STR, "vlan": _INT})},
                "grid": _nullable({"type": "integer"}),
            }
        ),
        "Job": _obj(
            {
                "uid": _INT,
                "user": _STR,
                "state": _string(enum=["running", "terminated", "error"]),
                "name": _STR,
                "types": _STRS,
                "assigned_nodes": _STRS,
                "walltime": {"type": "integer", "description": "Seconds"},
                "submitted_at": _INT,
                "started_at": _INT,
                "stopped_at": _nullable({"type": "integer"}),
                "resources_by_type": _obj({"vlans": {"type": "array", "items": vlan_uid}, "nodes": _STRS}),
                "job": _ref("KavlanJob"),
                "links": _ref("Links"),
            }
        ),
        "JobCollection": _collection("Job"),
        "JobRequest": _obj(
            {
                "resources": _string(
                    minLength=1,
                    description="The oarsub -l request",
                    examples=["{\"type='kavlan'\"}/vlan=1+/nodes=2"],
                ),
                "types": _STRS,
                "name": _STR,
                "walltime": {"type": "integer", "minimum": 1, "maximum": 315360000, "description": "Seconds"},
                "command": _string(description="Accepted for OAR's clients and ignored"),
                "properties": _string(description="oarsub -p"),
                "directory": _string(description="Accepted for OAR's clients and ignored"),
                "project": _string(description="Accepted for OAR's clients and ignored"),
                "queue": {
                    "type": ["string", "null"],
                    "enum": ["default", "production", "testing", "besteffort", "admin", None],
                    "description": "OAR's queue: accepted and ignored (every job starts when submitted)",
                },
                "reservation": {
                    "type": "null",
                    "description": "A start time is refused (400, OAR's 'Reservation not valid --> KO'): "
                    "every job starts when it is submitted",
                },
                "grid": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 999999999999,
                    "description": "The grid reservation (opened at its home site) this job is a part of",
                },
            },
            required=["resources"],
            additionalProperties=False,
        ),
        "UnavailableNodes": _obj(
            {
                "items": {"type": "array", "items": _obj({"node": _STR, "reason": _STR})},
                "total": _INT,
            }
        ),
        "NodeCleared": _obj({"node": _STR, "cleared": {"type": "boolean"}}),
        "Whoami": _obj(
            {
                "uid": _STR,
                "admin": {"type": "boolean"},
                "via": _nullable({"type": "string"}),
                "method": _string(enum=["certificate", "service", "password"]),
            }
        ),
    }


def _responses() -> dict[str, Any]:
    err = {JSON: {"schema": _ref("Error")}}
    return {
        "BadRequest": {
            "description": "Bad input: the message says what (unknown node, bad body, a node of another site)",
            "content": err,
        },
        "Unauthorized": {
            "description": "No usable credentials, or a wrong password",
            "headers": {
                "WWW-Authenticate": {"schema": _STR, "required": True, "description": 'Basic realm="kavlan"'}
            },
            "content": err,
        },
        "Forbidden": {
            "description": "Not enough privileges on Kavlan resources (with refusals), or X-Api-User-CN sent by a certificate "
            "that is not a trusted service's",
            "content": err,
        },
        "NotFound": {
            "description": "No such site (or not served here), VLAN, node, job, user or move",
            "content": err,
        },
        "Conflict": {"description": "The testbed cannot do it now (no free VLAN or node)", "content": err},
        "ServiceUnavailable": {
            "description": "A switch could not be read or changed (SwitchUnavailable, with the switch and its "
            "ports), or the state database is unavailable",
            "content": err,
        },
        "UnsupportedMediaType": {"description": "The body is not application/json", "content": err},
        "Unprocessable": {
            "description": 'The body is not {"action": "start"|"stop"}; or it names no node (Missing node list)',
            "content": err,
        },
        "Timeout": {"description": "The request body did not arrive within the body timeout", "content": err},
        "TooLarge": {
            "description": "The body is larger than 1 MiB, holds more than 10,000 values, or names more than "
            "5,000 nodes",
            "content": err,
        },
        "TooMany": {
            "description": "Too many failed password attempts for this user or from this address (or checks at "
            "once), or too many event streams: wait Retry-After seconds",
            "headers": {"Retry-After": {"schema": _STR, "required": True, "description": "Seconds"}},
            "content": err,
        },
    }


def _params(sites: Sequence[str], vlan_uids: Sequence[str]) -> dict[str, Any]:
    return {
        "site": {
            "name": "site",
            "in": "path",
            "required": True,
            "schema": _string(enum=list(sites)),
            "description": "A site this server serves",
        },
        "id": {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": _string(enum=list(vlan_uids)),
            "description": "VLAN uid",
        },
        "node": {
            "name": "node",
            "in": "path",
            "required": True,
            "schema": _STR,
            "description": "A node's FQDN",
            "example": "suno-1.sophia.grid5000.fr",
        },
        "uid": {
            "name": "uid",
            "in": "path",
            "required": True,
            "schema": _string(pattern="^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"),
            "description": "A user name",
        },
        "job": {
            "name": "job",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": 999999999999},
        },
        "mid": {
            "name": "mid",
            "in": "path",
            "required": True,
            "schema": _STR,
            "description": "The id a 202 answer gave",
        },
    }


def _p(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _op(
    summary: str,
    params: Sequence[str],
    responses: dict[str, Any],
    *,
    errors: Sequence[str] = (),
    body: Any = None,
    query: Sequence[dict[str, Any]] = (),
    description: str = "",
) -> dict[str, Any]:
    all_errors = {
        "401": _err("Unauthorized"),
        "403": _err("Forbidden"),
        "404": _err("NotFound"),
        "400": _err("BadRequest"),
        "429": _err("TooMany"),
        "503": _err("ServiceUnavailable"),
    }
    if body is not None:
        all_errors.update(
            {"408": _err("Timeout"), "413": _err("TooLarge"), "415": _err("UnsupportedMediaType")}
        )
    named = {"409": "Conflict", "415": "UnsupportedMediaType", "422": "Unprocessable"}
    for e in errors:
        all_errors[e] = _err(named[e])
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [*_p(*params), *query],
        "responses": {**responses, **all_errors},
    }
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return op


def _job_vlan(parameters: dict[str, str]) -> dict[str, str]:
    return {"site": "$request.path.site", "id": "$response.body#/resources_by_type/vlans/0", **parameters}


JOB_LINKS: dict[str, Any] = {
    "GetJob": {
        "operationId": "getJob",
        "parameters": {"site": "$request.path.site", "job": "$response.body#/uid"},
    },
    "DeleteJob": {
        "operationId": "deleteJob",
        "parameters": {"site": "$request.path.site", "job": "$response.body#/uid"},
    },
    "GetJobVlan": {"operationId": "getVlan", "parameters": _job_vlan({})},
    "MoveJobNodes": {
        "operationId": "moveNodes",
        "parameters": _job_vlan({}),
        "requestBody": "$response.body#/assigned_nodes",
    },
    "JobVlanDhcpd": {"operationId": "putDhcpd", "parameters": _job_vlan({})},
    "JobVlanUsers": {"operationId": "getVlanUsers", "parameters": _job_vlan({})},
}
"""What a reservation leads to (schemathesis' stateful phase follows them): the job, its VLAN, moving its nodes
into it, its DHCP, its users, and ending it."""

OPERATION_IDS = {
    ("get", "/openapi.json"): "getOpenapi",
    ("get", "/sites"): "listSites",
    ("post", "/sites/{site}/vlans/{id}/nodes"): "moveNodes",
    ("get", "/sites/{site}/kavlan/moves/{mid}"): "getMove",
    ("get", "/sites/{site}/jobs/{job}"): "getJob",
    ("delete", "/sites/{site}/jobs/{job}"): "deleteJob",
    ("get", "/sites/{site}/vlans/{id}"): "getVlan",
    ("put", "/sites/{site}/vlans/{id}/dhcpd"): "putDhcpd",
    ("get", "/sites/{site}/vlans/{id}/users"): "getVlanUsers",
}


def _operation_ids(paths: dict[str, Any]) -> None:
    """Every operation's id: the links' targets by name, the others by method and path."""
    for path, ops in paths.items():
        for method, op in ops.items():
            words = [w.strip("{}") for w in path.split("/") if w and w != "sites"]
            default = method + "".join(w[:1].upper() + w[1:] for w in words).replace(".", "")
            op["operationId"] = OPERATION_IDS.get((method, path), default)


def document(sites: Sequence[str], vlan_uids: Sequence[str], *, insecure: bool = False) -> dict[str, Any]:
    """The document for a server serving ``sites``, whose VLAN uids are ``vlan_uids``."""
    s = ("site",)
    v = ("site", "id")
    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            }
        },
        "/sites": {
            "get": _op("The sites this server serves", (), {"200": _json(_ref("SiteCollection"), "Sites")})
        },
        "/sites/{site}": {
            "get": _op(
                "One site, with its reference (VLAN networks)",
                s,
                {"200": _json(_ref("SiteReference"), "The site")},
            )
        },
        "/sites/{site}/vlans": {
            "get": _op(
                "Every VLAN a site's nodes can be in", s, {"200": _json(_ref("VlanCollection"), "VLANs")}
            )
        },
        "/sites/{site}/vlans/nodes": {
            "get": _op(
                "Every node (NIC) of the site and its VLAN",
                s,
                {"200": _json(_ref("NodeVlanCollection"), "Nodes")},
            ),
            "post": _op(
                "The VLAN of each named node of this site (unknown names are left out)",
                s,
                {"200": _json(_ref("NodeVlanCollection"), "Nodes")},
                errors=("415", "422"),
                body=_ref("NodeNames"),
            ),
        },
        "/sites/{site}/vlans/nodes/{node}": {
            "get": _op(
                "One node and its VLAN", ("site", "node"), {"200": _json(_ref("NodeVlan"), "The node")}
            )
        },
        "/sites/{site}/vlans/users": {
            "get": _op(
                "Users holding VLANs usable at this site",
                s,
                {"200": _json(_ref("UserVlansCollection"), "Users")},
            )
        },
        "/sites/{site}/vlans/users/{uid}": {
            "get": _op(
                "The VLANs a user holds (running jobs)",
                ("site", "uid"),
                {"200": _json(_ref("UserVlans"), "The user's VLANs")},
            )
        },
        "/sites/{site}/vlans/{id}": {"get": _op("One VLAN", v, {"200": _json(_ref("Vlan"), "The VLAN")})},
        "/sites/{site}/vlans/{id}/nodes": {
            "get": _op(
                "The NICs in a VLAN (of every site for a global VLAN)",
                v,
                {"200": _json(_ref("MemberCollection"), "Members")},
            ),
            "post": _op(
                "Move nodes into the VLAN",
                v,
                {
                    "200": {
                        "description": "Per-node result (the original's map); the plan with dry_run=true; the whole report "
                        "with report=full",
                        "content": {
                            JSON: {
                                "schema": {"oneOf": [_ref("MoveResult"), _ref("Plan"), _ref("MoveReport")]}
                            }
                        },
                    },
                    "202": {
                        **_json(
                            _ref("MoveAccepted"),
                            "Still running past --move-wait: poll the Location",
                            _LOCATION,
                        ),
                        "links": {
                            "GetMove": {
                                "operationId": "getMove",
                                "parameters": {"site": "$request.path.site", "mid": "$response.body#/id"},
                            }
                        },
                    },
                },
                errors=("409", "415", "422"),
                body=_ref("NodeNames"),
                query=[
                    {
                        "name": "dry_run",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "Only plan: nothing changes",
                    },
                    {
                        "name": "report",
                        "in": "query",
                        "schema": _string(enum=["nodes", "full"]),
                        "description": "full: the whole MoveReport",
                    },
                    {
                        "name": "dhcp_check",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "false: move real nodes into a VLAN whose DHCP server is off all the same "
                        "(you run your own there, or set static addresses); by default such a move is refused (409)",
                    },
                ],
                description="A user moves only nodes of their running jobs, into a VLAN one of them holds or DEFAULT; a node "
                "of another site is refused (400): a node is always moved by its own site's server. An unknown name is a "
                "failure of its own in the map (the others move); with dry_run or report=full it refuses the move (400).",
            ),
        },
        "/sites/{site}/vlans/{id}/users": {
            "get": _op("The users holding the VLAN", v, {"200": _json(_ref("VlanUserCollection"), "Users")})
        },
        "/sites/{site}/vlans/{id}/users/{uid}": {
            "get": _op(
                "Whether a user may use the VLAN",
                ("site", "id", "uid"),
                {"200": _json(_ref("VlanUser"), "The user's status")},
            )
        },
        "/sites/{site}/vlans/{id}/dhcpd": {
            "get": _op("The VLAN's DHCP server state", v, {"200": _json(_ref("DhcpdState"), "State")}),
            "put": _op(
                "Start or stop the VLAN's DHCP server",
                v,
                {"204": {"description": "Done"}},
                errors=("415", "422"),
                body=_ref("DhcpdAction"),
            ),
        },
        "/sites/{site}/vlans/{id}/dhcpd/leases": {
            "get": _op(
                "The leases of the VLAN's DHCP server",
                v,
                {"200": _json({"type": "array", "items": _ref("Lease")}, "Leases")},
            )
        },
        "/sites/{site}/jobs": {
            "get": _op(
                "Jobs of the site",
                s,
                {"200": _json(_ref("JobCollection"), "Jobs")},
                query=[
                    {"name": "user", "in": "query", "schema": _STR},
                    {
                        "name": "name",
                        "in": "query",
                        "schema": _string(maxLength=128),
                        "description": "Job name",
                    },
                    {
                        "name": "state",
                        "in": "query",
                        "schema": _string(enum=["running", "terminated", "error", "all"]),
                        "description": "Default running; also a comma-separated list of OAR states",
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 999999999, "minimum": -999999999},
                        "description": "Jobs to skip (newest first; a negative offset is 0)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 999999999, "minimum": -999999999},
                        "description": "Jobs in the page: 50 by default, 500 at most (a larger limit is 500)",
                    },
                ],
            ),
            "post": _op(
                "Reserve (oarsub)",
                s,
                {"201": {**_json(_ref("Job"), "The job, running", _LOCATION), "links": JOB_LINKS}},
                errors=("409", "415"),
                body=_ref("JobRequest"),
            ),
        },
        "/sites/{site}/jobs/{job}": {
            "get": _op("One job", ("site", "job"), {"200": _json(_ref("Job"), "The job")}),
            "delete": _op(
                "End a job (oardel): its nodes go back to DEFAULT, its VLANs' DHCP stops",
                ("site", "job"),
                {
                    "202": {
                        "description": "Done: the job, ended, is read at Location (no body)",
                        "headers": _LOCATION,
                    }
                },
            ),
        },
        "/sites/{site}/kavlan/inventory": {
            "get": _op(
                "The testbed description, without switch credentials and options",
                s,
                {"200": {"description": "TOML", "content": {"text/plain": {"schema": _STR}}}},
            )
        },
        "/sites/{site}/kavlan/whoami": {
            "get": _op("Who the server takes you for", s, {"200": _json(_ref("Whoami"), "You")})
        },
        "/sites/{site}/kavlan/drift": {
            "get": _op(
                "Ports whose VLAN on the switch differs from the store's; the switches that could not be read",
                s,
                {"200": _json(_ref("DriftReport"), "Drifted ports, and the switches not read")},
            )
        },
        "/sites/{site}/kavlan/ports": {
            "get": _op(
                "Each named node's link, speed, traffic rates (octets/s, in: what the node sends) and errors",
                s,
                {"200": _json(_ref("PortsReport"), "Per NIC, and the switches not read")},
                query=[
                    {
                        "name": "node",
                        "in": "query",
                        "schema": _STR,
                        "required": True,
                        "description": "Repeated",
                    },
                    {
                        "name": "interval",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0, "maximum": 10},
                        "description": "Seconds between the two samples of a port read for the first time (default 1)",
                    },
                ],
            )
        },
        "/sites/{site}/kavlan/fdb": {
            "get": _op(
                "Every MAC address the site's switches learned, with its VLAN, switch, port and node",
                s,
                {
                    "200": _json(
                        _ref("FdbReport"), "Learned MACs, and the switches whose table could not be read"
                    )
                },
                query=[{"name": "vlan", "in": "query", "schema": _STR, "description": "Only this VLAN"}],
            )
        },
        "/sites/{site}/kavlan/isolation": {
            "get": _op(
                "The isolation check: MACs learned where the VLANs say they must not be",
                s,
                {"200": _json(_ref("IsolationReport"), "Leaks, and the switches the check cannot vouch for")},
                query=[
                    {
                        "name": "vlan",
                        "in": "query",
                        "schema": _STR,
                        "description": "Repeated; none: the whole site",
                    }
                ],
                description="A node's MAC in a VLAN its port is not in, a MAC nobody has (or another NIC's) "
                "behind a node's port, a MAC nobody has in two VLANs. A switch whose table cannot be read is "
                "listed under unreadable: the report is clean only when it is empty too.",
            )
        },
        "/sites/{site}/kavlan/repair": {
            "post": _op(
                "Settle unfinished moves, put drifted ports back (administrators)",
                s,
                {"200": _json(_ref("MoveReport"), "What was repaired")},
            )
        },
        "/sites/{site}/kavlan/unavailable": {
            "get": _op(
                "The site's nodes a job's end could not bring back, with the reason: no new job gets them",
                s,
                {"200": _json(_ref("UnavailableNodes"), "The nodes marked unavailable")},
            )
        },
        "/sites/{site}/kavlan/unavailable/{node}": {
            "delete": _op(
                "Make a node available to new jobs again (administrators), as oarnodesetting -s Alive",
                ("site", "node"),
                {"200": _json(_ref("NodeCleared"), "cleared: whether it was marked")},
                description="The node's short name or FQDN.",
            )
        },
        "/sites/{site}/kavlan/moves/{mid}": {
            "get": _op(
                "A long move's answer",
                ("site", "mid"),
                {
                    "200": {
                        "description": "Done: what the POST would have answered",
                        "content": {JSON: {"schema": {"oneOf": [_ref("MoveResult"), _ref("MoveReport")]}}},
                    },
                    "202": _json(_ref("MoveAccepted"), "Still running", _LOCATION),
                },
                errors=("409",),
                description="Only the move's user (or an administrator) reads it; answers are kept 10 minutes.",
            )
        },
        "/sites/{site}/kavlan/events": {
            "get": _op(
                "The service's events as they happen",
                s,
                {
                    "200": {
                        "description": 'One JSON event per line; {"type": "Heartbeat"} every 15 s',
                        "content": {
                            "application/x-ndjson": {"schema": _obj({"type": _STR}, required=["type"])}
                        },
                    }
                },
                description="The events about the sites you may read. A user may hold 8 streams, the server 256: "
                "beyond, 429 (or 503) with Retry-After.",
            )
        },
    }
    paths.update(openapi_g5k.paths(_op))
    paths.update(_grid_paths())
    _operation_ids(paths)
    security: list[dict[str, list[str]]] = [{"basic": []}] if insecure else [{"mutualTLS": []}, {"basic": []}]
    schemes: dict[str, Any] = {
        "basic": {"type": "http", "scheme": "basic", "description": "Users of the server's users file"}
    }
    if not insecure:
        schemes["mutualTLS"] = {
            "type": "mutualTLS",
            "description": "A client certificate of the server's client CA; "
            "the user is its CN. A trusted service's certificate may send X-Api-User-CN to act for a user.",
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "KaVLAN REST API",
            "version": VERSION,
            "description": "Grid'5000's KaVLAN API (per site: VLANs, their nodes, moves, DHCP, users), the OAR jobs a "
            "client needs, and this project's extensions under /sites/{site}/kavlan. Every path is served under "
            "/stable as well (as g5k-api's version), and every GET answers HEAD. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": {**_schemas(), **_grid_schemas(), **openapi_g5k.schemas()},
            "responses": _responses(),
            "parameters": {**_params(sites, vlan_uids), **_grid_params(), **openapi_g5k.parameters()},
            "securitySchemes": schemes,
        },
        "security": security,
    }


# --- grid reservations (oargridsub) ----------------------------------------------------------------------


def _grid_schemas() -> dict[str, Any]:
    ref = _obj({"site": _STR, "uid": {"type": "integer", "minimum": 1, "maximum": 999999999999}})
    return {
        "Grid": _obj(
            {
                "uid": _INT,
                "user": _STR,
                "created_at": _INT,
                "walltime": {"type": "integer", "description": "Seconds"},
                "jobs": {"type": "array", "items": _obj({"site": _STR, "uid": _INT, "href": _STR})},
                "grid": _obj(
                    {
                        "id": _INT,
                        "user": _STR,
                        "created": {"type": "number"},
                        "walltime": _INT,
                        "jobs": {"type": "array", "items": _obj({"site": _STR, "job": _INT})},
                    }
                ),
                "links": _ref("Links"),
            }
        ),
        "GridOpening": _obj(
            {"walltime": {"type": "integer", "minimum": 1, "maximum": 315360000, "description": "Seconds"}},
            required=["walltime"],
            additionalProperties=False,
        ),
        "GridJobs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": {**ref, "required": ["site", "uid"], "additionalProperties": False},
        },
    }


def _grid_params() -> dict[str, Any]:
    return {
        "grid": {
            "name": "grid",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": 999999999999},
            "description": "A grid reservation's number",
        }
    }


def _grid_paths() -> dict[str, Any]:
    g = ("site", "grid")
    return {
        "/sites/{site}/grids": {
            "post": _op(
                "Open a grid reservation (oargridsub): its number, before its parts are reserved at their sites",
                ("site",),
                {"201": _json(_ref("Grid"), "The grid, with no job yet", _LOCATION)},
                errors=("415",),
                body=_ref("GridOpening"),
                description="Each part is then reserved at its site's server (POST /sites/{site}/jobs with grid), "
                "and the parts recorded here (POST .../grids/{grid}/jobs); if one cannot be reserved, the client "
                "deletes the others and this grid (DELETE).",
            )
        },
        "/sites/{site}/grids/{grid}": {
            "get": _op(
                "One grid reservation: the job each site's server holds",
                g,
                {"200": _json(_ref("Grid"), "The grid")},
            ),
            "delete": _op(
                "Drop a grid whose parts could not all be reserved (one with jobs ends by deleting its jobs)",
                g,
                {"204": {"description": "Dropped"}},
            ),
        },
        "/sites/{site}/grids/{grid}/jobs": {
            "post": _op(
                "Record a grid's jobs, once every part is reserved",
                g,
                {"200": _json(_ref("Grid"), "The grid, with its jobs")},
                errors=("415",),
                body=_ref("GridJobs"),
            )
        },
    }
