"""The board's arrangement as the filter is typed and erased: the answers the arranger keeps (each filter's, a
narrowing filter tried on the last one's matches only) are those of a filter run from scratch, also once the notes
or the selection changed."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pytest

from kavlan_core.model import DEFAULT, VlanKind
from kavlan_core.patterns import parse_query
from kavlan_tui.arrange import Arrangement, Arranger, facts, narrows, sort_key
from kavlan_tui.board import NO_NOTE, Annotations, NodeKey, NodeView, Section, VlanView


def node(i: int, vlan: int) -> NodeView:
    cluster = ("suno", "azur", "nova")[i % 3]
    return NodeView(
        node=f"{cluster}-{i}",
        nic="eth0",
        site="sophia",
        cluster=cluster,
        name=f"{cluster}-{i}.sophia.grid5000.fr",
        plain=f"{cluster}-{i}.sophia.grid5000.fr",
        switch=f"sw{i % 4}",
        port=f"gi1/0/{i}",
        address=f"10.64.0.{i}",
        mac=f"00:16:3e:00:00:{i:02x}",
        vlan=vlan,
        job=1000 if i % 5 == 0 else None,
        user="alice" if i % 5 == 0 else None,
        mine=i % 5 == 0,
        simulated=False,
    )


def vlan(vid: int, nodes: list[NodeView], *, user: str | None = None) -> VlanView:
    kind = VlanKind.DEFAULT if vid == DEFAULT else VlanKind.ROUTED
    return VlanView(
        "sophia", vid, kind, "10.64.0.0/18", 700 + vid, 1000 if user else None, user, "on", nodes, None, None
    )


VLANS = {vid: [node(i, vid) for i in range(vid * 20, vid * 20 + 20)] for vid in (DEFAULT, 4, 5)}
SECTIONS = [
    Section(vlan(vid, nodes, user="alice" if vid == 5 else None), tuple(nodes))
    for vid, nodes in VLANS.items()
]


Row = tuple[object, tuple[str, ...], int | None, bool]
"""A part of the board: its key, its nodes' names in order, how many it had before the filter, whether hidden."""


def from_scratch(
    how: Arrangement, notes: Mapping[NodeKey, Annotations], selection: Collection[NodeKey]
) -> list[Row]:
    """What the board shows, a filter matched against every node (grouped by VLAN, or cluster)."""
    key = sort_key(how.sort, notes)

    def matches(n: NodeView) -> bool:
        return how.query.matches(facts(n, notes.get(n.key, NO_NOTE), n.key in selection))

    if how.group == "cluster":
        every = [n for s in SECTIONS for n in s.nodes]
        parts = [(c, [n for n in every if n.cluster == c]) for c in sorted({n.cluster for n in every})]
        return [
            (
                ("cluster", c),
                tuple(n.node for n in sorted(members, key=key) if matches(n)),
                len(members) if how.filtering else None,
                how.filtering and not any(matches(n) for n in members),
            )
            for c, members in parts
        ]
    out: list[Row] = []
    for s in SECTIONS:
        found = tuple(n.node for n in sorted(s.nodes, key=key) if matches(n))
        held = s.vlan is not None and s.vlan.user == "alice"
        out.append(
            (s.key, found, len(s.nodes) if how.filtering else None, how.filtering and not found and not held)
        )
    return out


def shown(
    arranger: Arranger, how: Arrangement, notes: Mapping[NodeKey, Annotations], selection: Collection[NodeKey]
):
    arranged = arranger.arrange(SECTIONS, how, notes, selection, user="alice")
    rows: list[Row] = [(s.key, tuple(n.node for n in s.nodes), s.listed, s.hidden) for s in arranged.sections]
    assert arranged.matched == sum(len(r[1]) for r in rows)
    assert arranged.total == sum(len(s.nodes) for s in SECTIONS)
    assert arranged.shown == ({n.key for s in arranged.sections for n in s.nodes} if how.filtering else None)
    return rows


def typing(text: str) -> list[str]:
    """Each text the filter line holds as ``text`` is typed, then erased to nothing."""
    on = [text[:i] for i in range(1, len(text) + 1)]
    return on + on[-2::-1] + [""]


@pytest.mark.parametrize("group", ["vlan", "cluster"])
@pytest.mark.parametrize("sort", ["name", "port", "state"])
def test_kept_answers_are_those_of_a_filter_run_from_scratch(group: str, sort: str) -> None:
    arranger = Arranger()
    notes: dict[NodeKey, Annotations] = {}
    selection: dict[NodeKey, NodeView] = {}
    texts = typing("suno-1 sw2") + typing("azur !sw1") + typing("vlan:4 down") + typing("selected nova")
    for round in range(3):
        for text in texts:
            how = Arrangement(parse_query(text), sort, group)
            assert shown(arranger, how, notes, selection) == from_scratch(how, notes, selection), (
                round,
                text,
            )
        # a poll learnt something (new notes), then the user selected nodes: the answers follow
        if round == 0:
            notes = {n.key: Annotations(reach=n.node.endswith(("1", "3"))) for s in SECTIONS for n in s.nodes}
        else:
            selection.update({n.key: n for n in SECTIONS[1].nodes[:7]})


def test_a_filter_narrows_the_last_one_only_where_every_word_of_it_holds() -> None:
    q = parse_query
    assert narrows(q("suno-1"), q("suno-"))
    assert narrows(q("suno sw2"), q("suno"))
    assert narrows(q("sw2 suno-1"), q("suno"))
    assert not narrows(q("suno"), q("suno-1"))
    assert not narrows(q("!suno-1"), q("!suno-"))  # not finding more says nothing of finding less
    assert not narrows(q("suno-[1-3]"), q("suno-"))  # a pattern is matched whole, not looked for in the text
    assert not narrows(q("vlan:40"), q("vlan:4"))  # a VLAN is the whole value
    assert not narrows(q("downs"), q("down"))  # a state is not a part of a word
