"""The OAR-like part: resource requests (``{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=3``), walltime, allocation."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from .inventory import Inventory
from .model import LOCAL_IDS, ROUTED_IDS, JobVlan, Node, VlanKind


class RequestError(ValueError):
    """A resource request the user wrote is malformed; the message says where."""


class AllocationError(RuntimeError):
    """The testbed cannot satisfy a request now."""


VLAN_TYPES = {"kavlan": VlanKind.ROUTED, "kavlan-local": VlanKind.LOCAL, "kavlan-global": VlanKind.GLOBAL}
NODE_PROPERTIES = ("cluster", "site", "host", "network_address")

# Bounds of what a job may say, checked before any work (an allocation is proportional to groups x nodes)
MAX_REQUEST = 4096
"""Characters of a resource request (``-l``) or of node properties (``-p``)."""
MAX_GROUPS = 64
"""Resource groups in one request."""
MAX_WALLTIME = 10 * 365 * 86400
"""Ten years, in seconds: a walltime given in the request or apart."""
MAX_NAME = 128
"""Characters of a job's name (the store keeps 128)."""
MAX_TYPES = 16
_TYPE = re.compile(r"[A-Za-z0-9_.:=*-]{1,64}")
"""A job type: ``deploy``, ``destructive``, ``container=123`` (no comma: the store joins them with commas)."""


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    values: frozenset[str]
    negate: bool = False

    def matches(self, value: str) -> bool:
        return (value in self.values) != self.negate


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    conditions: tuple[Condition, ...]
    resource: str
    """``vlan`` or ``nodes``."""
    count: int | None
    """None means ALL (nodes only)."""

    def condition(self, key: str) -> Condition | None:
        for c in self.conditions:
            if c.key == key:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Request:
    groups: tuple[ResourceGroup, ...] = ()
    walltime: int | None = None
    text: str = ""

    @property
    def vlan_groups(self) -> list[ResourceGroup]:
        return [g for g in self.groups if g.resource == "vlan"]

    @property
    def node_groups(self) -> list[ResourceGroup]:
        return [g for g in self.groups if g.resource == "nodes"]


def parse_walltime(text: str) -> int:
    """OAR walltime: ``2`` is two hours, ``1:30`` one and a half, ``0:05:00`` five minutes. Seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(_digits(p.strip(), 12) for p in parts):
        raise RequestError(f"bad walltime {text!r} (expected HOURS[:MINUTES[:SECONDS]], e.g. 2 or 1:30)")
    h, m, s = ([int(p) for p in parts] + [0, 0])[:3]
    if m >= 60 or s >= 60:
        raise RequestError(f"bad walltime {text!r}: minutes and seconds must be below 60")
    total = h * 3600 + m * 60 + s
    if total <= 0:
        raise RequestError(f"bad walltime {text!r}: it must be longer than zero")
    check_walltime(total)
    return total


def check_walltime(seconds: int) -> None:
    if seconds > MAX_WALLTIME:
        raise RequestError(f"a walltime may be at most {MAX_WALLTIME // 86400} days, not {seconds // 86400}")


def _digits(text: str, most: int) -> bool:
    """ASCII digits only (``'²'.isdigit()`` is true, and ``int('²')`` fails), at most ``most`` of them."""
    return text.isascii() and text.isdigit() and len(text) <= most


def check_job(name: str, types: Sequence[str]) -> None:
    """A job's name and types as the store can keep them and a terminal can show them."""
    if len(name) > MAX_NAME or not _printable(name):
        raise RequestError(f"a job's name is printable text of at most {MAX_NAME} characters")
    if len(types) > MAX_TYPES:
        raise RequestError(f"a job has at most {MAX_TYPES} types, not {len(types)}")
    for t in types:
        if not _TYPE.fullmatch(t):
            raise RequestError(
                f"job type {t[:70]!r} is not a type (letters, digits, '_', '.', ':', '=', '*', '-'; at most 64)"
            )


def _printable(text: str) -> bool:
    """Printable, and Unicode text (a lone surrogate, from a command line that is not UTF-8, is not)."""
    if not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def format_walltime(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _split_top(text: str, seps: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch in seps and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if quote or depth:
        raise RequestError(f"unbalanced quotes or braces in {text!r}")
    out.append("".join(cur))
    return out


_COND = re.compile(
    r"""\s*(?P<key>[a-z_]+)\s*
        (?:(?P<op>!=|=)\s*'(?P<val>[^']*)'
          |(?P<not>not\s+)?in\s*\((?P<list>[^)]*)\))\s*""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_expression(expr: str) -> tuple[Condition, ...]:
    """``type='kavlan'``, ``cluster='suno' and site='sophia'``, ``cluster in ('suno','uvb')``."""
    expr = expr.strip()
    if len(expr) >= 2 and expr[0] == expr[-1] == '"':
        expr = expr[1:-1]
    conditions = []
    for part in re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE):
        if not part.strip():
            continue
        m = _COND.fullmatch(part)
        if not m:
            raise RequestError(
                f"cannot read the property expression {part.strip()!r} (expected key='value', key in ('a','b'), joined by and)"
            )
        key = m["key"].lower()
        if m["op"]:
            conditions.append(Condition(key, frozenset([m["val"]]), m["op"] == "!="))
        else:
            values = [v.strip().strip("'\"") for v in m["list"].split(",") if v.strip()]
            conditions.append(Condition(key, frozenset(values), bool(m["not"])))
    return tuple(conditions)


def parse_request(text: str, properties: str = "") -> Request:
    """Parse oarsub's ``-l`` argument (with ``-p`` properties applied to node groups)."""
    text = text.strip()
    if not text:
        raise RequestError("empty resource request")
    for what, value in (("resource request", text), ("node properties", properties)):
        if len(value) > MAX_REQUEST:
            raise RequestError(f"a {what} is at most {MAX_REQUEST} characters, not {len(value)}")
        if not _printable(value):
            raise RequestError(f"a {what} is printable text (this one holds control characters)")
    extra = parse_expression(properties) if properties.strip() else ()
    groups: list[ResourceGroup] = []
    walltime: int | None = None
    items = _split_top(text, ",+")
    if len(items) > MAX_GROUPS:
        raise RequestError(f"a resource request has at most {MAX_GROUPS} groups, not {len(items)}")
    for item in items:
        item = item.strip()
        if not item:
            raise RequestError(f"empty item in resource request {text!r}")
        if item.lower().startswith("walltime="):
            walltime = parse_walltime(item.split("=", 1)[1])
        else:
            groups.append(_resource_group(item, text, extra))
    return Request(tuple(groups), walltime, text)


def _resource_group(item: str, text: str, properties: tuple[Condition, ...]) -> ResourceGroup:
    """One group of the request, ``{conditions}/resource=count``: a VLAN needs its type; a node group takes
    the ``-p`` properties too."""
    conditions: tuple[Condition, ...] = ()
    if item.startswith("{"):
        close = item.find("}")
        conditions = parse_expression(item[1:close])
        item = item[close + 1 :]
    resource, count = _resource(item, text)
    _check_type(resource, conditions)
    if resource == "nodes":
        conditions = conditions + properties
        for c in conditions:
            if c.key not in (*NODE_PROPERTIES, "type"):
                raise RequestError(f"unknown node property {c.key!r} (known: {', '.join(NODE_PROPERTIES)})")
    return ResourceGroup(conditions, resource, count)


def _resource(item: str, text: str) -> tuple[str, int | None]:
    """The resource a group reserves (``nodes`` or ``vlan``) and how many (None: ALL or BEST), from its levels
    ``/nodes=3``, ``/host=2/core=1``, ``/vlan=1``."""
    levels = [lv for lv in item.split("/") if lv.strip()]
    if not levels:
        raise RequestError(f"no resource named in {text!r} (expected e.g. /nodes=3 or /vlan=1)")
    resource, count = None, None
    for level in levels:
        if "=" not in level:
            raise RequestError(f"bad resource {level!r} (expected NAME=COUNT)")
        name, value = (x.strip() for x in level.split("=", 1))
        name = name.lower()
        if name in ("host", "nodes", "network_address"):
            name = "nodes"
        elif name in ("core", "cpu"):
            continue  # finer levels pick inside a node: a node is still reserved whole
        elif name != "vlan":
            raise RequestError(f"unknown resource {name!r} (known: nodes, host, vlan, core, cpu)")
        if resource is not None:
            raise RequestError(f"{levels} names two resources: reserve nodes and VLANs in separate groups")
        resource, count = name, _count(name, value)
    if resource is None:
        raise RequestError(f"no nodes or vlan in {item!r}")
    return resource, count


def _count(resource: str, value: str) -> int | None:
    if value.upper() in ("ALL", "BEST"):
        if resource == "vlan":
            raise RequestError("vlan=ALL is not a thing: ask for vlan=1")
        return None
    if _digits(value, 9) and int(value) > 0:
        return int(value)
    raise RequestError(f"bad count {value!r} for {resource} (a positive number, ALL or BEST)")


def _check_type(resource: str, conditions: tuple[Condition, ...]) -> None:
    """A VLAN group names exactly one VLAN type; a node group names none (or ``default``)."""
    type_cond = next((c for c in conditions if c.key == "type"), None)
    if resource == "vlan":
        if type_cond is None or type_cond.negate or len(type_cond.values) != 1:
            raise RequestError(
                "a VLAN request needs exactly one type: {\"type='kavlan'\"}, kavlan-local or kavlan-global"
            )
        (vtype,) = type_cond.values
        if vtype not in VLAN_TYPES:
            raise RequestError(f"unknown VLAN type {vtype!r} (kavlan, kavlan-local or kavlan-global)")
    elif type_cond is not None and not (type_cond.values <= {"default"} and not type_cond.negate):
        raise RequestError("type='kavlan...' goes with /vlan=N, not with /nodes")


@dataclass
class Allocation:
    nodes: list[str] = field(default_factory=list)
    vlans: list[JobVlan] = field(default_factory=list)


_PLACING = ("site", "cluster", "host", "network_address")
"""Conditions that say where a node is: a group naming one of them is not held to the frontend's site."""


def _node_matches(node: Node, group: ResourceGroup, site: str, fqdn: str) -> bool:
    """Whether ``node`` (whose full name is ``fqdn``) meets every condition of ``group``: a host or network
    address is matched by its short name or its full one (OAR's ``network_address`` holds the full name; EnOSlib
    asks ``network_address in ('suno-1.sophia.grid5000.fr', ...)``)."""
    # a cluster or a host names its site (``{"cluster='chetemi'"}`` from sophia's frontend finds lille's)
    placed = any(c.key in _PLACING and not c.negate for c in group.conditions)
    if not placed and node.site != site:
        return False
    for c in group.conditions:
        if c.key == "type":
            continue
        value = {"cluster": node.cluster, "site": node.site, "host": node.name, "network_address": node.name}[
            c.key
        ]
        names = (value, value.split(".")[0], fqdn) if c.key in ("host", "network_address") else (value,)
        if any(v in c.values for v in names) == c.negate:  # named (or, negated, not named) under none of them
            return False
    return True


def _natural(name: str) -> tuple[str, int]:
    cluster, _, number = name.rpartition("-")
    return (cluster, int(number) if number.isdigit() else 0)


def allocate(
    inventory: Inventory,
    request: Request,
    site: str,
    busy_nodes: Collection[str],
    held_vlans: Collection[tuple[str, int]],
) -> Allocation:
    """Choose nodes and VLANs for a request, or raise AllocationError saying what is missing."""
    out = Allocation()
    taken = set(busy_nodes)
    held = set(held_vlans)
    for group in request.vlan_groups:
        (vtype,) = group.condition("type").values  # type: ignore[union-attr]
        kind = VLAN_TYPES[vtype]
        site_cond = group.condition("site")
        vsite = next(iter(site_cond.values)) if site_cond and not site_cond.negate else site
        if vsite not in inventory.sites:
            raise AllocationError(f"no site named {vsite!r}")
        candidates: Iterable[int]
        if kind is VlanKind.LOCAL:
            candidates = LOCAL_IDS
        elif kind is VlanKind.ROUTED:
            candidates = ROUTED_IDS
        else:
            candidates = [inventory.sites[vsite].global_vlan]
        free_vlans = [v for v in candidates if (vsite, v) not in held]
        count = group.count or 1
        if len(free_vlans) < count:
            raise AllocationError(
                f"no free {vtype} VLAN on {vsite}: asked for {count}, {len(free_vlans)} free (all others are held by running jobs)"
            )
        for v in free_vlans[:count]:
            held.add((vsite, v))
            out.vlans.append(JobVlan(vsite, v))
    for group in request.node_groups:
        matching = sorted(
            (
                n.name
                for n in inventory.nodes.values()
                if _node_matches(n, group, site, inventory.node_fqdn(n))
            ),
            key=_natural,
        )
        if not matching:
            raise AllocationError(f"no node matches {describe_group(group)}")
        free = [n for n in matching if n not in taken]
        want = len(free) if group.count is None else group.count
        if group.count is None and not free or len(free) < want:
            raise AllocationError(
                f"not enough free nodes for {describe_group(group)}: asked for {group.count or 'ALL'}, "
                f"{len(free)} of {len(matching)} free"
            )
        for n in free[:want]:
            taken.add(n)
            out.nodes.append(n)
    return out


def describe_group(group: ResourceGroup) -> str:
    conds = " and ".join(
        f"{c.key}{'!=' if c.negate else '='}{'|'.join(sorted(c.values))}"
        for c in group.conditions
        if c.key != "type"
    )
    return f"{{{conds}}}/{group.resource}" if conds else f"/{group.resource}"


def nodefile_lines(nodes: Sequence[Node], fqdn: Callable[[Node], str]) -> list[str]:
    """OAR's nodefile: each node once per core."""
    return [fqdn(n) for n in nodes for _ in range(max(1, n.cores))]
