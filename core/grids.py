"""Grid reservations (``oargridsub``): the parts' syntax, ``sophia:rdef="{\\"type='kavlan-global'\\"}/vlan=1+/nodes=2",
lille:rdef=/nodes=2``, read into one request per site, each checked as ``oarsub -l`` would check it.

A part is named by a site, or by a cluster (its site, with the cluster as the part's node property), as oargrid's
cluster aliases are. The parts' walltime is the grid's (``-w``): a grid's jobs end together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .inventory import Inventory
from .model import Job
from .reservations import MAX_REQUEST, RequestError, parse_request

MAX_GRID = 4 * MAX_REQUEST
"""Characters of a whole grid request (its parts together)."""

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):")
_FIELD = re.compile(r":(?=(rdef|prop|type|name)=)")
FIELDS = ("rdef", "prop", "type", "name")


@dataclass(frozen=True, slots=True)
class GridRequest:
    """One site's part of a grid request: what ``oarsub -l`` would get on that site's frontend."""

    site: str
    request: str
    properties: str = ""
    types: tuple[str, ...] = ()
    name: str = ""


def parse_grid(texts: Sequence[str], inventory: Inventory) -> list[GridRequest]:
    """The parts of a grid request, in the order given (several arguments are joined by commas, as oargridsub
    reads them); RequestError names the part that is wrong."""
    text = ",".join(t.strip() for t in texts if t.strip())
    if not text:
        raise RequestError("no part given: name each site and its resources, e.g. sophia:rdef=/nodes=2")
    if len(text) > MAX_GRID:
        raise RequestError(f"a grid request is at most {MAX_GRID} characters, not {len(text)}")
    if not text.isprintable():
        raise RequestError("a grid request is printable text (this one holds control characters)")
    # the tutorial's line passes through a shell twice on Grid'5000: a quote may still be escaped here
    text = text.replace('\\"', '"').replace("\\'", "'")
    parts = [_part(raw, inventory) for raw in _parts(text)]
    seen: set[str] = set()
    for part in parts:
        if part.site in seen:
            raise RequestError(
                f"site {part.site} is named twice: a grid has one job per site (join its resources with +)"
            )
        seen.add(part.site)
    return parts


def _parts(text: str) -> list[str]:
    """Split at the commas that begin a part (``,NAME:``); a comma inside a part's resources stays in it."""
    out: list[str] = []
    for piece in _split_top(text):
        if _NAME.match(piece) or not out:
            out.append(piece)
        else:
            out[-1] += "," + piece
    return out


def _split_top(text: str) -> list[str]:
    """Commas outside quotes and braces."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            if depth < 0:
                raise RequestError(f"a closing brace without its opening one in {text[:80]!r}")
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if quote or depth:
        raise RequestError(f"unbalanced quotes or braces in {text[:80]!r}")
    out.append("".join(cur))
    return out


def _part(raw: str, inventory: Inventory) -> GridRequest:
    """``NAME:rdef=RESOURCES[:prop=PROPERTIES][:type=TYPE][:name=NAME]``."""
    m = _NAME.match(raw)
    if m is None:
        raise RequestError(
            f"cannot read the part {raw.strip()[:80]!r}: expected SITE:rdef=RESOURCES, e.g. lille:rdef=/nodes=2"
        )
    alias = m.group(1)
    site, cluster = _site_of(alias, inventory)
    fields = _fields(raw[m.end() :], alias)
    properties = fields.get("prop", "")
    if cluster:
        properties = f"cluster='{cluster}'" + (f" and {properties}" if properties else "")
    request = fields["rdef"]
    try:
        parsed = parse_request(request, properties)
    except RequestError as exc:
        raise RequestError(f"the part for {alias}: {exc}") from None
    if parsed.walltime is not None:
        raise RequestError(
            f"the part for {alias} gives a walltime: a grid's jobs end together, give it once with -w"
        )
    for group in parsed.groups:
        named = group.condition("site")
        if named is not None and (named.negate or named.values != {site}):
            raise RequestError(
                f"the part for {alias} names another site: each site's resources go in its own part"
            )
    types = tuple(t for t in fields.get("type", "").split(",") if t)
    return GridRequest(site, request, properties, types, fields.get("name", ""))


def _site_of(alias: str, inventory: Inventory) -> tuple[str, str]:
    """The site a part's name stands for, and the cluster when it names one."""
    if alias in inventory.sites:
        return alias, ""
    if alias in inventory.clusters:
        return inventory.clusters[alias].site, alias
    sites = ", ".join(inventory.sites)
    raise RequestError(f"unknown site or cluster {alias[:40]!r} (sites of this testbed: {sites})")


def _fields(rest: str, alias: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in _FIELD.split(":" + rest)[1:]:
        if item in FIELDS:  # the split's captured key: its value follows
            continue
        key, _, value = item.partition("=")
        if key in fields:
            raise RequestError(f"the part for {alias} gives {key}= twice")
        fields[key] = _unquote(value.strip())
    if not fields.get("rdef", "").strip():
        raise RequestError(
            f'the part for {alias} has no resources: give them as {alias}:rdef=/nodes=2 (or rdef="...")'
        )
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def job_sites(inventory: Inventory, job: Job) -> list[str]:
    """The sites a job is on, in the testbed's order: its nodes' and its VLANs' (``kavlan-oarstat``'s Site)."""
    touched = {v.site for v in job.vlans} | {
        inventory.nodes[n].site for n in job.nodes if n in inventory.nodes
    }
    return [s for s in inventory.sites if s in touched]
