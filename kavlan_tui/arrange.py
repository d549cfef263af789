"""How the board shows a view's nodes: narrowed by the filter, sorted (natural order, switch and port, state) and
grouped (by VLAN, cluster or switch). Pure functions on the view model: no Textual here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kavlan_core.model import vlan_label
from kavlan_core.patterns import Facts, Query, natural_key, parse_query

from .board import NO_NOTE, Annotations, GroupKey, NodeKey, NodeView, Section, short_port

SORTS = {"name": "name", "port": "switch and port", "state": "state"}
"""Sort orders, and how the UI names them. ``state``: drifted ports first, then nodes that did not answer, not
checked yet, simulated, answering."""
GROUPS = {"vlan": "VLAN", "cluster": "cluster", "switch": "switch"}
"""What the board's parts are, and how the UI names them."""
EVERYTHING = parse_query("")


@dataclass(frozen=True, slots=True)
class Arrangement:
    """What the user chose: a filter, a sort order, a grouping."""

    query: Query = EVERYTHING
    sort: str = "name"
    group: str = "vlan"

    @property
    def filtering(self) -> bool:
        return not self.query.empty


@dataclass(frozen=True, slots=True)
class Arranged:
    """A view as shown: its sections, how many nodes it has, how many match the filter, and which."""

    sections: list[Section]
    total: int
    matched: int
    shown: frozenset[NodeKey] | None = field(default=None)
    """The NICs the filter leaves (None: no filter, every NIC is shown)."""


# natural keys are asked for again at every sort of the same thousand names
_natural = lru_cache(maxsize=16_384)(natural_key)


def port_key(port: str) -> tuple[Any, ...]:
    return _natural(port)


def facts(node: NodeView, note: Annotations, selected: bool) -> Facts:
    """What the filter looks at for one NIC: its names, cluster, site, switch and port, VLAN, job and its
    holder, address or lease, MAC; and its states (down, up, drift, mine, selected)."""
    flags = set()
    if note.reach is False:
        flags.add("down")
    elif note.reach is True:
        flags.add("up")
    if note.drift:
        flags.add("drift")
    if node.mine:
        flags.add("mine")
    if selected:
        flags.add("selected")
    values: dict[str, Sequence[str]] = {
        "name": (node.node, node.short, node.plain.split(".", 1)[0]),
        "cluster": (node.cluster,),
        "site": (node.site,),
        "switch": (node.switch,),
        "port": (node.port, short_port(node.port)),
        "address": (node.address, note.lease) if note.lease else (node.address,),
        "mac": (node.mac,),
        "user": (node.user,) if node.user else (),
        "nic": (node.nic,),
        "vlan": (vlan_label(node.vlan), str(node.vlan)),
        "job": (str(node.job),) if node.job is not None else (),
    }
    return Facts(values, frozenset(flags))


def state_rank(node: NodeView, note: Annotations) -> int:
    """Problems first: drifted, did not answer, not checked yet, simulated, answering."""
    if note.drift:
        return 0
    if note.reach is False:
        return 1
    if note.reach is None and not node.simulated:
        return 2
    return 3 if note.reach is None else 4


def sort_key(sort: str, notes: Mapping[NodeKey, Annotations]) -> Callable[[NodeView], tuple[Any, ...]]:
    def by_name(n: NodeView) -> tuple[Any, ...]:
        return (_natural(n.node), _natural(n.nic), n.site)

    if sort == "port":
        return lambda n: (_natural(n.switch), port_key(n.port), by_name(n))
    if sort == "state":
        return lambda n: (state_rank(n, notes.get(n.key, NO_NOTE)), by_name(n))
    return by_name


_known: dict[NodeKey, tuple[NodeView, Annotations, bool, Facts]] = {}
"""The facts of each NIC as last made, for the view and the notes they were made from: each key of the filter
asks again for the same thousand (they are made again once the board is read again, or a poll learnt something)."""
KNOWN_MOST = 100_000


def known_facts(node: NodeView, note: Annotations, selected: bool) -> Facts:
    entry = _known.get(node.key)
    if entry is not None and entry[0] is node and entry[1] is note and entry[2] == selected:
        return entry[3]
    if len(_known) >= KNOWN_MOST:
        _known.clear()
    made = facts(node, note, selected)
    _known[node.key] = (node, note, selected, made)
    return made


def matching(
    nodes: Iterable[NodeView],
    query: Query,
    notes: Mapping[NodeKey, Annotations],
    selection: Collection[NodeKey],
) -> list[NodeView]:
    if query.empty:
        return list(nodes)
    return [n for n in nodes if query.matches(known_facts(n, notes.get(n.key, NO_NOTE), n.key in selection))]


def arrange(
    sections: Sequence[Section],
    how: Arrangement,
    notes: Mapping[NodeKey, Annotations],
    selection: Collection[NodeKey] = (),
    user: str = "",
) -> Arranged:
    """The sections of a view (its VLANs, as the board reads them) as the user wants them shown. A filter hides
    the VLANs where nothing matches, but for the user's own (``user`` holds them): they stay, as their header
    alone, for nodes to be dropped on."""
    key = sort_key(how.sort, notes)
    if how.group in ("cluster", "switch"):
        return _grouped(sections, how, notes, selection, key)
    out = []
    total = matched = 0
    shown: set[NodeKey] = set()
    for section in sections:
        found = matching(section.nodes, how.query, notes, selection)
        total += len(section.nodes)
        matched += len(found)
        shown.update(n.key for n in found)
        out.append(
            Section(
                section.vlan,
                tuple(sorted(found, key=key)),
                only_mine=section.only_mine,
                listed=len(section.nodes) if how.filtering else None,
                hidden=how.filtering and not found and not _held_by(section, user),
            )
        )
    return Arranged(out, total, matched, frozenset(shown) if how.filtering else None)


def _held_by(section: Section, user: str) -> bool:
    vlan = section.vlan
    return vlan is not None and vlan.job is not None and bool(user) and vlan.user == user


def _grouped(
    sections: Sequence[Section],
    how: Arrangement,
    notes: Mapping[NodeKey, Annotations],
    selection: Collection[NodeKey],
    key: Callable[[NodeView], tuple[Any, ...]],
) -> Arranged:
    """Every node of the view once, in a section per cluster (or switch), the sections in natural order."""
    nodes: dict[NodeKey, NodeView] = {}
    for section in sections:
        for n in section.nodes:
            nodes.setdefault(n.key, n)
    groups: dict[str, list[NodeView]] = {}
    for n in nodes.values():
        groups.setdefault(n.cluster if how.group == "cluster" else n.switch, []).append(n)
    found = matching(nodes.values(), how.query, notes, selection)
    kept: dict[str, list[NodeView]] = {}
    for n in found:
        kept.setdefault(n.cluster if how.group == "cluster" else n.switch, []).append(n)
    out = []
    for name in sorted(groups, key=_natural):
        group: GroupKey = (how.group, name)
        members = kept.get(name, [])
        out.append(
            Section(
                None,
                tuple(sorted(members, key=key)),
                group=group,
                listed=len(groups[name]) if how.filtering else None,
                hidden=how.filtering and not members,
            )
        )
    shown = frozenset(n.key for n in found) if how.filtering else None
    return Arranged(out, len(nodes), len(found), shown)
