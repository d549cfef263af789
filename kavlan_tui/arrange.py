"""How the board shows a view's nodes: narrowed by the filter, sorted (natural order, switch and port, state) and
grouped (by VLAN, cluster or switch), keeping what a key of the filter does not change. No Textual here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kavlan_core.model import vlan_label
from kavlan_core.patterns import Facts, Query, Term, natural_key, parse_query

from .board import NO_NOTE, Annotations, NodeKey, NodeView, Section, short_port

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
"""The facts of each NIC as last made, for the view and the notes they were made from: a new filter asks again for
the same thousand (they are made again once the board is read again, or a poll learnt something)."""
KNOWN_MOST = 100_000
RESULTS_MOST = 128
"""Arrangements kept per view (each filter text, sort and grouping seen since the board or the notes changed)."""
VIEWS_MOST = 4
"""Views whose arrangements are kept (the tabs looked at last)."""


def known_facts(node: NodeView, key: NodeKey, note: Annotations, selected: bool) -> Facts:
    entry = _known.get(key)
    if entry is not None and entry[0] is node and entry[1] is note and entry[2] == selected:
        return entry[3]
    if len(_known) >= KNOWN_MOST:
        _known.clear()
    made = facts(node, note, selected)
    _known[key] = (node, note, selected, made)
    return made


def narrows(new: Query, old: Query) -> bool:
    """Whether every node ``new`` matches is one ``old`` matches (so ``new`` need only be tried on those): each word
    of ``old`` is in ``new``, or is a part of a plain word of it (``c0`` of ``c0x``: typing on narrows)."""
    return all(any(_implies(n, o) for n in new.terms) for o in old.terms)


def _implies(new: Term, old: Term) -> bool:
    if new == old:
        return True
    # a plain word is looked for in a node's text: a word holding it is found only where it is
    return _plain(new) and _plain(old) and old.text in new.text


def _plain(term: Term) -> bool:
    return term.field is None and term.flag is None and term.pattern is None and not term.negated


def _asks_selected(query: Query) -> bool:
    return any(t.flag == "selected" for t in query.terms)


class _View:
    """One view's sections and the notes they are shown with: what a key of the filter does not change is made
    once for them (each part's nodes in each sort order, the groups), and each filter's answer is kept."""

    def __init__(self, sections: Sequence[Section], notes: Mapping[NodeKey, Annotations], user: str) -> None:
        self.sections = sections
        self.notes = notes
        self.user = user
        self.nodes = {id(n): n for s in sections for n in s.nodes}
        """Every node of the view by identity: the filter's answers are sets of these."""
        self.keys = {i: n.key for i, n in self.nodes.items()}
        self._sorted: dict[str, list[tuple[NodeView, ...]]] = {}
        self._groups: dict[tuple[str, str], list[tuple[str, tuple[NodeView, ...]]]] = {}
        self.results: dict[tuple[str, str, str, frozenset[NodeKey] | None], Arranged] = {}
        self.matched: dict[tuple[str, frozenset[NodeKey] | None], frozenset[int]] = {}
        self.last: tuple[Query, frozenset[NodeKey] | None, frozenset[int]] | None = None
        """The last filter matched, with the selection it asked about and its answer: the next key may narrow it."""

    def holds(self, sections: Sequence[Section], notes: Mapping[NodeKey, Annotations], user: str) -> bool:
        return sections is self.sections and notes is self.notes and user == self.user

    def sorted_parts(self, sort: str) -> list[tuple[NodeView, ...]]:
        """Each section's nodes in that order (a part the filter narrows keeps it: no sort at each key)."""
        parts = self._sorted.get(sort)
        if parts is None:
            key = sort_key(sort, self.notes)
            parts = self._sorted[sort] = [tuple(sorted(s.nodes, key=key)) for s in self.sections]
        return parts

    def groups(self, group: str, sort: str) -> list[tuple[str, tuple[NodeView, ...]]]:
        """Every node of the view once, by cluster (or switch), the groups in natural order, sorted in each."""
        parts = self._groups.get((group, sort))
        if parts is None:
            nodes: dict[NodeKey, NodeView] = {}
            for section in self.sections:
                for n in section.nodes:
                    nodes.setdefault(self.keys[id(n)], n)
            groups: dict[str, list[NodeView]] = {}
            for n in nodes.values():
                groups.setdefault(n.cluster if group == "cluster" else n.switch, []).append(n)
            key = sort_key(sort, self.notes)
            parts = self._groups[(group, sort)] = [
                (name, tuple(sorted(groups[name], key=key))) for name in sorted(groups, key=_natural)
            ]
        return parts

    def matching(
        self, query: Query, selection: Collection[NodeKey], asked: frozenset[NodeKey] | None
    ) -> frozenset[int]:
        """The nodes ``query`` matches; only those of the last filter when it narrows that one."""
        found = self.matched.get((query.text, asked))
        if found is not None:
            return found
        last = self.last
        pool = (
            [self.nodes[i] for i in last[2]]
            if last is not None and last[1] == asked and narrows(query, last[0])
            else self.nodes.values()
        )
        notes, keys, matches = self.notes, self.keys, query.matches
        hits = []
        for n in pool:
            key = keys[id(n)]
            if matches(known_facts(n, key, notes.get(key, NO_NOTE), key in selection)):
                hits.append(id(n))
        found = self.matched[(query.text, asked)] = frozenset(hits)
        self.last = (query, asked, found)
        return found


class Arranger:
    """Arranges views as the user wants them (``arrange``), keeping for the last views shown what a key of the
    filter does not change, and every answer given since their board or notes changed: a key that brings back a
    filter seen (Backspace, Esc) costs nothing, one that narrows it looks only at what it matched."""

    def __init__(self) -> None:
        self._views: dict[int, _View] = {}

    def arrange(
        self,
        sections: Sequence[Section],
        how: Arrangement,
        notes: Mapping[NodeKey, Annotations],
        selection: Collection[NodeKey] = (),
        user: str = "",
    ) -> Arranged:
        """The sections of a view (its VLANs, as the board reads them: the same list each time for the same
        board) as the user wants them shown. A filter hides the VLANs where nothing matches, but for the user's
        own (``user`` holds them): they stay, as their header alone, for nodes to be dropped on."""
        view = self._view(sections, notes, user)
        asked = frozenset(selection) if _asks_selected(how.query) else None
        key = (how.query.text, how.sort, how.group, asked)
        done = view.results.get(key)
        if done is None:
            matched = None if how.query.empty else view.matching(how.query, selection, asked)
            parts = (
                _grouped(view, how, matched)
                if how.group in ("cluster", "switch")
                else _by_vlan(view, how, matched)
            )
            if len(view.results) >= RESULTS_MOST:
                view.results.clear()
                view.matched.clear()
            done = view.results[key] = _arranged(parts, matched is not None, view.keys)
        return done

    def prepare(
        self,
        sections: Sequence[Section],
        notes: Mapping[NodeKey, Annotations],
        selection: Collection[NodeKey] = (),
        user: str = "",
    ) -> None:
        """Make ahead what a filter looks at for every node of a view (its facts), as its first key would."""
        view = self._view(sections, notes, user)
        for i, n in view.nodes.items():
            key = view.keys[i]
            known_facts(n, key, notes.get(key, NO_NOTE), key in selection)

    def _view(self, sections: Sequence[Section], notes: Mapping[NodeKey, Annotations], user: str) -> _View:
        view = self._views.get(id(sections))
        if view is None or not view.holds(sections, notes, user):
            if len(self._views) >= VIEWS_MOST:
                del self._views[next(iter(self._views))]
            view = self._views[id(sections)] = _View(sections, notes, user)
        return view


def _by_vlan(view: _View, how: Arrangement, matched: frozenset[int] | None) -> list[tuple[Section, int]]:
    """Each section narrowed to what matched (each with how many nodes it had)."""
    out, filtering = [], matched is not None
    for section, nodes in zip(view.sections, view.sorted_parts(how.sort), strict=True):
        found = nodes if matched is None else tuple(n for n in nodes if id(n) in matched)
        out.append(
            (
                Section(
                    section.vlan,
                    found,
                    only_mine=section.only_mine,
                    listed=len(section.nodes) if filtering else None,
                    hidden=filtering and not found and not _held_by(section, view.user),
                ),
                len(section.nodes),
            )
        )
    return out


def _held_by(section: Section, user: str) -> bool:
    vlan = section.vlan
    return vlan is not None and vlan.job is not None and bool(user) and vlan.user == user


def _grouped(view: _View, how: Arrangement, matched: frozenset[int] | None) -> list[tuple[Section, int]]:
    """Every node of the view once, in a section per cluster (or switch), narrowed to what matched."""
    out, filtering = [], matched is not None
    for name, members in view.groups(how.group, how.sort):
        found = members if matched is None else tuple(n for n in members if id(n) in matched)
        out.append(
            (
                Section(
                    None,
                    found,
                    group=(how.group, name),
                    listed=len(members) if filtering else None,
                    hidden=filtering and not found,
                ),
                len(members),
            )
        )
    return out


def _arranged(parts: list[tuple[Section, int]], filtering: bool, keys: Mapping[int, NodeKey]) -> Arranged:
    sections = [s for s, _n in parts]
    shown = frozenset(keys[id(n)] for s in sections for n in s.nodes) if filtering else None
    return Arranged(sections, sum(n for _s, n in parts), sum(len(s.nodes) for s in sections), shown)
