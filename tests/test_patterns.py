"""Node-naming patterns and filter queries (core/patterns.py): examples, then properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kavlan_core import patterns as p

clusters = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
bounds = st.tuples(st.integers(0, 2000), st.integers(0, 300)).map(lambda t: (t[0], t[0] + t[1]))


def test_ranges_expand_in_order_with_lists_and_padding() -> None:
    assert p.expand("suno-[1-10]") == [f"suno-{i}" for i in range(1, 11)]
    assert p.expand("suno-[1,3,5-6]") == ["suno-1", "suno-3", "suno-5", "suno-6"]
    assert p.expand("node-[08-11]") == ["node-08", "node-09", "node-10", "node-11"]
    assert p.expand("r[1-2]-n[1-2]") == ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]
    assert p.expand("suno-2") == ["suno-2"]
    assert p.expand("suno-[1-3].sophia.grid5000.fr")[0] == "suno-1.sophia.grid5000.fr"


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("suno-[1-", "does not close"),
        ("suno-1]", "no [ opened"),
        ("suno-[a-c]", "not a range of numbers"),
        ("suno-[]", "not a range of numbers"),
        ("suno-[10-1]", "goes backwards"),
        ("suno-[1-999999]", "more than 100000"),
        ("suno-1*", "wildcards"),
    ],
)
def test_bad_patterns_say_why_in_one_sentence(pattern: str, says: str) -> None:
    with pytest.raises(p.BadPattern, match=re.escape(says)):
        p.expand(pattern)


def test_wildcards_match_known_names_in_natural_order() -> None:
    known = ["suno-1", "suno-10", "suno-2", "suno-11", "chetemi-1", "suno-1.sophia.grid5000.fr"]
    names, expansions = p.expand_names(["suno-1*", "chetemi-1"], known)
    assert names == ["suno-1", "suno-10", "suno-11", "chetemi-1"]
    assert expansions == [p.Expansion("suno-1*", ("suno-1", "suno-10", "suno-11"))]
    assert p.expand_names(["suno-1.*"], known)[0] == ["suno-1.sophia.grid5000.fr"]  # a dot: FQDNs
    with pytest.raises(p.BadPattern, match="matches no node"):
        p.expand_names(["uvb-*"], known)
    assert p.describe_expansion(expansions[0]) == "suno-1* matches 3 names: suno-1, suno-10, suno-11"


def test_a_range_matches_whole_numbers_only() -> None:
    pattern = p.compile_pattern("suno-[1-10]")
    assert [
        n for n in ("suno-1", "suno-10", "SUNO-7", "suno-11", "suno-100", "suno-0") if pattern.matches(n)
    ] == [
        "suno-1",
        "suno-10",
        "SUNO-7",
    ]
    assert p.compile_pattern("suno-[1-3]*").matches("suno-2-kavlan-4")
    assert not p.compile_pattern("suno-[1-3]*").matches("suno-21")


def test_natural_order() -> None:
    names = ["suno-10", "suno-2", "chetemi-3", "suno-1", "Suno-3", "uvb-2-eth1", "uvb-10"]
    assert sorted(names, key=p.natural_key) == [
        "chetemi-3",
        "suno-1",
        "suno-2",
        "Suno-3",
        "suno-10",
        "uvb-2-eth1",
        "uvb-10",
    ]


def facts(**values: object) -> p.Facts:
    flags = values.pop("flags", ())
    return p.Facts({k: [str(v)] for k, v in values.items()}, frozenset(flags))  # type: ignore[arg-type]


def test_queries_fields_states_negation_and_incomplete_words() -> None:
    node = facts(
        name="suno-12",
        cluster="suno",
        switch="sophia-sw2",
        port="Gi1/0/12",
        vlan="4",
        job="1000",
        user="alice",
        address="10.64.64.12",
        mac="00:16:3e:00:00:0c",
        flags=("down",),
    )
    for text in (
        "",
        "suno-1*",
        "suno-[10-12]",
        "sw2",
        "vlan:4",
        "job:1000",
        "user:alice",
        "down",
        "!drift",
        "sw2 vlan:4 down",
        "10.64.64",
        "00:16:3e",
        "vlan:",  # still being typed: no condition yet
        "SUNO",
        "port:gi1/0/1*",
    ):
        assert p.parse_query(text).matches(node), text
    for text in ("vlan:14", "vlan:1", "job:100", "drift", "!down", "user:bob", "suno-[1-10]", "sw3", "mine"):
        assert not p.parse_query(text).matches(node), text
    assert p.parse_query("vlan:default").matches(facts(vlan="DEFAULT"))
    assert p.parse_query("vlan:[4-6]").matches(node)
    with pytest.raises(p.BadPattern):
        p.parse_query("suno-[1-")


@given(clusters, bounds)
def test_expanding_a_range_gives_exactly_the_names_its_pattern_matches(
    cluster: str, span: tuple[int, int]
) -> None:
    lo, hi = span
    pattern = f"{cluster}-[{lo}-{hi}]"
    names = p.expand(pattern)
    assert names == [f"{cluster}-{n}" for n in range(lo, hi + 1)]
    compiled = p.compile_pattern(pattern)
    for n in range(max(0, lo - 20), hi + 20):
        assert compiled.matches(f"{cluster}-{n}") == (lo <= n <= hi)
    assert not compiled.matches(f"{cluster}-0{lo}")  # written without padding: a padded name is another


@given(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=4), st.integers(1, 4))
def test_padded_lists_match_what_they_expand_to(items: list[tuple[int, int]], width: int) -> None:
    items = [(min(a, b), max(a, b)) for a, b in items]
    body = ",".join(f"{str(a).zfill(width)}-{str(b).zfill(width)}" for a, b in items)
    pattern = f"n-[{body}]"
    names = p.expand(pattern)
    compiled = p.compile_pattern(pattern)
    assert all(compiled.matches(n) for n in names)
    wanted = {n for a, b in items for n in range(a, b + 1)}
    pad = width if width > 1 else 0
    assert {int(n[2:]) for n in names} == wanted
    for n in range(0, 120):
        text = f"n-{str(n).zfill(pad)}"
        assert compiled.matches(text) == (n in wanted and text in names)


@given(st.lists(st.from_regex(r"[a-z]{1,4}-[0-9]{1,4}", fullmatch=True), min_size=1, max_size=30))
def test_natural_order_is_a_total_order_that_numbers_compare_by_value(names: list[str]) -> None:
    ordered = sorted(names, key=p.natural_key)
    assert sorted(ordered, key=p.natural_key) == ordered
    for a, b in zip(ordered, ordered[1:], strict=False):
        ca, na = a.split("-")
        cb, nb = b.split("-")
        if ca == cb:
            assert int(na) <= int(nb)


@given(st.text(alphabet="abc-12*?[],:! ", max_size=20))
def test_any_filter_text_either_reads_or_says_why(text: str) -> None:
    try:
        query = p.parse_query(text)
    except p.BadPattern as exc:
        assert str(exc)
    else:
        query.matches(facts(name="a-1"))
