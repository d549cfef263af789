"""The testbed description: the demo testbed's shape and the loader's errors."""

from __future__ import annotations

import pytest

from kavlan_core import inventory
from kavlan_core.inventory import InventoryError


def test_demo_testbed_shape():
    inv = inventory.load(None)
    assert set(inv.sites) >= {"sophia", "lille", "lyon"}
    assert "suno" in inv.sites["sophia"].clusters
    assert len(inv.nodes) >= 250
    for site in inv.sites.values():
        assert len(site.switches) >= 2
    # every port cabled once, addresses unique per VLAN
    addrs = [inv.address(n, 4) for n in inv.site_nodes("sophia")]
    assert len(set(addrs)) == len(addrs)
    v = inv.vlan("sophia", 2)
    assert v.subnet.prefixlen == 20 and v.tag == 702 and v.gateway == "kavlan-2"
    assert inv.vlan("sophia", 5).subnet.prefixlen == 18
    assert inv.tag("sophia", 0) == 100
    assert inv.vlan("lyon", 18).site == "sophia"


def test_lab_addresses_stay_clear_of_the_machine_networks():
    import ipaddress

    inv = inventory.load(None)
    forbidden = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "203.0.113.0/24", "10.255.0.0/16")]
    for site in inv.sites:
        for vid in inv.vlan_ids(site):
            net = inv.vlan(site, vid).subnet
            assert not any(net.overlaps(f) for f in forbidden), net


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("global_vlan = 18", "global_vlan = 3"), "not in 10-21"),
        (('"4" = "10.64.64.0/18"', '"4" = "10.64.64.0/20"'), "needs a /18"),
        (('switch = "sw1"\nport', 'switch = "nosuch"\nport'), "unknown switch"),
        (
            ('nodes = "3-4"\nswitch = "sw2"', 'nodes = "1-2"\nswitch = "sw2"'),
            "no cabling|defined twice|cabled",
        ),
        (("domain", "domain = = "), "not valid TOML"),
    ],
)
def test_malformed_descriptions(tmp_path, patch, message):
    from conftest import small_inventory

    path = small_inventory(tmp_path / "t.toml")
    text = path.read_text()
    assert patch[0] in text
    path.write_text(text.replace(patch[0], patch[1], 1))
    with pytest.raises(InventoryError, match=message):
        inventory.load(path)


def test_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(InventoryError, match="cannot read the testbed description"):
        inventory.load(tmp_path / "nope.toml")
