"""Resource requests, walltime, and the allocator (property-based: no double booking, exact counts)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kavlan_core import inventory
from kavlan_core.model import VlanKind
from kavlan_core.reservations import (
    AllocationError,
    RequestError,
    allocate,
    parse_request,
    parse_walltime,
)

INV = inventory.load(None)


def test_tutorial_requests():
    r = parse_request("{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3")
    assert [g.resource for g in r.groups] == ["vlan", "nodes"]
    assert r.groups[1].count == 3 and r.groups[1].condition("cluster").values == {"suno"}
    r = parse_request("{\"type='kavlan-local'\"}/vlan=1,walltime=2")
    assert r.walltime == 7200 and r.node_groups == []
    r = parse_request("nodes=2")
    assert r.groups[0].count == 2 and r.groups[0].conditions == ()
    r = parse_request(
        "{type='kavlan-global'}/vlan=1+{cluster in ('suno','uvb')}/host=4/core=2", "site='sophia'"
    )
    assert r.groups[1].condition("cluster").values == {"suno", "uvb"}
    assert r.groups[1].condition("site").values == {"sophia"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("vlan=1", "needs exactly one type"),
        ("{\"type='kavlan-bogus'\"}/vlan=1", "unknown VLAN type"),
        ("nodes=zero", "bad count"),
        ("nodes=-1", "bad count"),
        ("{\"cluster='suno'\"/nodes=1", "unbalanced"),
        ("{\"color='red'\"}/nodes=1", "unknown node property"),
        ("switch=2", "unknown resource"),
        ("nodes=1,walltime=1:75", "below 60"),
        ("nodes=1,walltime=abc", "bad walltime"),
    ],
)
def test_bad_requests(text, message):
    with pytest.raises(RequestError, match=message):
        parse_request(text)


def test_walltime_forms():
    assert parse_walltime("2") == 7200
    assert parse_walltime("1:30") == 5400
    assert parse_walltime("0:05:00") == 300


def test_allocation_picks_lowest_free_vlan_and_matching_nodes():
    req = parse_request("{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3")
    a = allocate(INV, req, "sophia", busy_nodes={"suno-1"}, held_vlans={("sophia", 4)})
    assert a.nodes == ["suno-2", "suno-3", "suno-4"]
    assert [(v.site, v.vlan) for v in a.vlans] == [("sophia", 5)]
    with pytest.raises(AllocationError, match="no node matches"):
        allocate(INV, parse_request("{\"cluster='nosuch'\"}/nodes=1"), "sophia", set(), set())


def test_network_address_matches_short_and_full_names() -> None:
    """OAR's network_address is the full name; EnOSlib asks for servers by it (and the tutorial by short name)."""
    full = "{network_address in ('suno-3.sophia.grid5000.fr', 'suno-5')}/nodes=2"
    assert allocate(INV, parse_request(full), "sophia", set(), set()).nodes == ["suno-3", "suno-5"]
    host = "{host='suno-7.sophia.grid5000.fr'}/nodes=1"
    assert allocate(INV, parse_request(host), "sophia", set(), set()).nodes == ["suno-7"]
    negated = "{cluster='suno' and network_address not in ('suno-1.sophia.grid5000.fr', 'suno-2')}/nodes=1"
    assert allocate(INV, parse_request(negated), "sophia", set(), set()).nodes == ["suno-3"]
    with pytest.raises(AllocationError, match="no node matches"):
        allocate(
            INV, parse_request("{network_address='suno-3.lille.grid5000.fr'}/nodes=1"), "sophia", set(), set()
        )


kinds = st.sampled_from(["kavlan", "kavlan-local", "kavlan-global"])
clusters = st.sampled_from(["suno", "uvb", "helios"])
request = st.tuples(
    st.one_of(st.none(), kinds), st.one_of(st.none(), st.tuples(clusters, st.integers(1, 60)))
)


@settings(max_examples=60, deadline=None)
@given(st.lists(request, min_size=1, max_size=12))
def test_allocator_never_double_books(requests):
    busy: set[str] = set()
    held: set[tuple[str, int]] = set()
    for kind, nodes in requests:
        parts = []
        if kind:
            parts.append(f"{{\"type='{kind}'\"}}/vlan=1")
        if nodes:
            parts.append(f"{{\"cluster='{nodes[0]}'\"}}/nodes={nodes[1]}")
        if not parts:
            continue
        req = parse_request(",".join(parts))
        free_before = {n for n in INV.nodes if INV.nodes[n].cluster == (nodes or ("", 0))[0]} - busy
        try:
            a = allocate(INV, req, "sophia", busy, held)
        except AllocationError:
            if nodes:
                assert nodes[1] > len(free_before) or (kind and _exhausted(kind, held))
            else:
                assert _exhausted(kind, held)
            continue
        assert not set(a.nodes) & busy, "a node was given to two jobs"
        assert not {(v.site, v.vlan) for v in a.vlans} & held, "a VLAN was given to two jobs"
        assert len(a.nodes) == (nodes[1] if nodes else 0)
        assert len(set(a.nodes)) == len(a.nodes)
        if kind:
            (v,) = a.vlans
            assert VlanKind.of(v.vlan).value == kind
        busy |= set(a.nodes)
        held |= {(v.site, v.vlan) for v in a.vlans}


def _exhausted(kind: str, held: set[tuple[str, int]]) -> bool:
    ids = {"kavlan": range(4, 10), "kavlan-local": range(1, 4), "kavlan-global": [18]}[kind]
    return all(("sophia", i) in held for i in ids)
