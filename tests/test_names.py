"""Hostname rules, example-based and property-based."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kavlan_core import names
from kavlan_core.model import DEFAULT

clusters = st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True)
numbers = st.integers(min_value=1, max_value=9999)
vlans = st.integers(min_value=1, max_value=21)
nics = st.one_of(st.none(), st.integers(min_value=1, max_value=9).map(lambda i: f"eth{i}"))
sites = st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True)


def test_tutorial_examples():
    assert names.vlan_hostname("suno-2", 4) == "suno-2-kavlan-4"
    assert names.vlan_fqdn("suno-2", 4, "sophia", "grid5000.fr") == "suno-2-kavlan-4.sophia.grid5000.fr"
    assert names.vlan_hostname("suno-2", DEFAULT) == "suno-2"
    assert names.vlan_hostname("uvb-3", 2, "eth1", primary=False) == "uvb-3-eth1-kavlan-2"
    p = names.parse("suno-30-kavlan-2.sophia.grid5000.fr")
    assert (p.node, p.nic, p.vlan, p.site, p.domain) == ("suno-30", None, 2, "sophia", "grid5000.fr")


@pytest.mark.parametrize(
    "bad", ["", "suno", "-2", "suno-x", "suno-2;reboot", "suno 2", "Suno-2..x", "suno-2-kavlan-"]
)
def test_malformed_names_are_refused(bad):
    with pytest.raises(names.BadHostname):
        names.parse(bad)


@given(clusters, numbers, vlans, nics, sites)
def test_parse_inverts_vlan_fqdn(cluster, number, vlan, nic, site):
    node = f"{cluster}-{number}"
    fq = names.vlan_fqdn(node, vlan, site, "grid5000.fr", nic, primary=nic is None)
    p = names.parse(fq)
    assert (p.node, p.nic, p.vlan, p.site, p.domain) == (node, nic, vlan, site, "grid5000.fr")


@given(clusters, numbers, nics)
def test_default_gives_the_plain_name(cluster, number, nic):
    node = f"{cluster}-{number}"
    short = names.vlan_hostname(node, DEFAULT, nic, primary=nic is None)
    assert "kavlan" not in short
    assert names.parse(short).vlan is None and names.parse(short).node == node


@given(clusters, numbers, vlans)
def test_suffix_is_appended_once(cluster, number, vlan):
    short = names.vlan_hostname(f"{cluster}-{number}", vlan)
    assert short.endswith(f"-kavlan-{vlan}") and short.count("-kavlan-") == 1
