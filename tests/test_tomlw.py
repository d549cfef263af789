"""The project's one TOML writer: whatever it writes, tomllib reads back equal."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kavlan_core import tomlw

KEYS = st.text(max_size=12)
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes()
    | st.times()
)


def _values(children: Any) -> Any:
    return st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)


VALUES = st.recursive(SCALARS, _values, max_leaves=25)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=6)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_any_document_round_trips(doc: dict[str, Any]) -> None:
    assert tomllib.loads(tomlw.dumps(doc)) == doc


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_any_value_round_trips(v: Any) -> None:
    assert tomllib.loads(f"k = {tomlw.value(v)}")["k"] == v


def test_a_testbed_description_reads_as_written() -> None:
    doc = {
        "domain": "grid5000.fr",
        "site": [
            {
                "name": "sophia",
                "subnets": {"1": "10.65.192.0/20"},
                "switch": [{"name": "sw1", "driver": "simulated", "options": {"latency_ms": 15}}],
                "cluster": [{"name": "suno", "cabling": [{"nodes": "1-45", "switch": "sw1"}]}],
            }
        ],
    }
    text = tomlw.dumps(doc, "generated\nby a test")
    assert text.startswith("# generated\n# by a test\n")
    assert "options = { latency_ms = 15 }" in text and "[[site.cluster.cabling]]" in text
    assert tomllib.loads(text) == doc


@pytest.mark.parametrize(
    ("v", "text"),
    [
        ("a\x7fb", '"a\\u007fb"'),  # DEL must be escaped in TOML, JSON leaves it raw
        ("tab\there", '"tab\\there"'),
        ("é", '"é"'),
        (("x", 1), '["x", 1]'),
        (math.inf, "inf"),
        (dt.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_values_are_toml_spellings(v: Any, text: str) -> None:
    assert tomlw.value(v) == text


def test_keys_are_bare_only_when_toml_allows() -> None:
    assert tomlw.key("latency_ms") == "latency_ms"
    assert tomlw.key("1") == "1"
    assert tomlw.key("é") == '"é"'  # bare keys are ASCII letters, digits, - and _ only
    assert tomlw.key("") == '""'
    assert tomlw.key("a.b") == '"a.b"'


def test_what_toml_cannot_hold_is_refused() -> None:
    for bad in (None, object(), b"bytes", "\ud800"):
        with pytest.raises(TypeError):
            tomlw.value(bad)


@pytest.mark.parametrize("key", ["0\n", "a\n", "x y", "", "é"])
def test_keys_that_are_not_bare_are_quoted(key: str) -> None:
    # a bare-key check with "$" let "0\n" through: "$" also matches before a final newline
    assert tomllib.loads(tomlw.dumps({key: 1})) == {key: 1}
    assert tomllib.loads(f"k = {tomlw.value({key: True})}")["k"] == {key: True}
