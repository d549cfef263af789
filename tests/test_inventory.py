"""The testbed description: the demo testbed's shape and the loader's errors."""

from __future__ import annotations

import pytest

from kavlan_core import inventory
from kavlan_core.inventory import InventoryError


def in_first_site(text: str, tables: str) -> str:
    """``tables`` (a ``[site.X]`` table) added to the description's first site: before the second ``[[site]]``."""
    at = text.find("\n[[site]]", text.find("[[site]]") + 1)
    return text + tables if at < 0 else text[:at] + "\n" + tables + text[at:]


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


def small(tmp_path, **edits: str) -> str:
    """The small testbed of the tests (tests/conftest.py), its text edited: ``old=new`` pairs by position."""
    from conftest import small_inventory

    text = small_inventory(tmp_path / "testbed.toml").read_text()
    for old, new in edits.values():  # type: ignore[misc]
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    found = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[nth - 1]


def refused(text: str) -> str:
    with pytest.raises(InventoryError) as caught:
        inventory.parse(text, "testbed.toml")
    return str(caught.value)


def test_overlapping_subnets_are_refused_with_the_line(tmp_path):
    text = small(tmp_path, a=('"5" = "10.64.128.0/18"', '"5" = "10.64.0.0/18"'))
    n = line_of(text, '"5" = "10.64.0.0/18"')
    assert refused(text) == (
        f"testbed.toml, line {n} (site sophia): VLAN 5's subnet 10.64.0.0/18 overlaps DEFAULT's 10.64.0.0/18 "
        "(site sophia)"
    )
    across = small(
        tmp_path, a=('"4" = "10.68.64.0/18"', '"4" = "10.64.64.0/18"')
    )  # lille's VLAN 4 on sophia's
    n = line_of(across, '"4" = "10.64.64.0/18"', 2)
    assert refused(across) == (
        f"testbed.toml, line {n} (site lille): VLAN 4's subnet 10.64.64.0/18 overlaps VLAN 4's 10.64.64.0/18 "
        "(site sophia)"
    )


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            "[[site.switch]]",
            '[site.tags]\n"5" = 100\n\n[[site.switch]]',
            '"5" = 100',
            "VLAN 5 would have tag 100, already DEFAULT's",
        ),
        (
            "[[site.switch]]",
            '[site.tags]\n"6" = 705\n\n[[site.switch]]',
            '"6" = 705',
            "VLAN 6 would have tag 705, already VLAN 5's",
        ),
        (
            "global_vlan = 18",
            "global_vlan = 18\ndefault_tag = 704",
            "default_tag",
            "VLAN 4 would have tag 704, already DEFAULT's",
        ),
    ],
)
def test_a_vlan_given_another_vlans_tag_is_refused_with_the_line(tmp_path, old, new, needle, message):
    text = small(tmp_path, a=(old, new))
    assert refused(text) == f"testbed.toml, line {line_of(text, needle)} (site sophia): {message}"


def test_a_switch_or_a_node_defined_twice_is_refused_with_the_line(tmp_path):
    text = small(tmp_path, a=('name = "sw2"', 'name = "sw1"'))
    n = line_of(text, 'name = "sw1"', 2)
    assert refused(text) == f"testbed.toml, line {n} (site sophia): switch sw1 is defined twice"
    text = small(tmp_path, a=('name = "chetemi"', 'name = "suno"'))
    n = line_of(text, 'name = "suno"', 2)
    assert refused(text) == f"testbed.toml, line {n}: node suno-1 is defined twice"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cores = 2", 'cores = "2"', "cluster suno: 'cores' must be an integer, not \"2\""),
        (
            "global_vlan = 18",
            "global_vlan = 18\ntag_base = 700.5",
            "site sophia: 'tag_base' must be an integer, not 700.5",
        ),
        ("port_offset = -1", "port_offset = true", "'port_offset' must be an integer, not true"),
        (
            'driver = "simulated"',
            'driver = "simulated"\naddress = 7',
            "switch sw1: 'address' must be a string, not 7",
        ),
        ('domain = "grid5000.fr"', "domain = 5000", "testbed.toml: 'domain' must be a string, not 5000"),
        ('port = "Gi1/0/{k}"', 'port = "Gi1/0/{k}"\nnic = 1', "'nic' must be a string, not 1"),
        # a table where an array of tables belongs, or a value where a table does
        ('[[site.cluster]]\nname = "suno"', 'cluster = "suno"', "'cluster' must be an array of tables"),
        ("options = {  }", 'options = "fast"', "switch sw1: 'options' must be a table, not \"fast\""),
        (
            "[site.subnets]",
            "subnets = true\n[site.subnetz]",
            "site sophia: 'subnets' must be a table, not true",
        ),
        ("global_vlan = 18", 'global_vlan = 18\ndhcp = "dnsmasq"', "'dhcp' must be a table, not \"dnsmasq\""),
        ("global_vlan = 18", "global_vlan = 18\ngateway = [1]", "'gateway' must be a table, not [1]"),
        (
            "global_vlan = 18",
            'global_vlan = 18\ngateway = { 1 = { address = "10.0.0.1", port = "22" } }',
            "gateway 1: 'port' must be an integer, not \"22\"",
        ),
    ],
)
def test_wrong_types_are_refused_not_coerced(tmp_path, old, new, message):
    assert message in refused(small(tmp_path, a=(old, new)))


LILLE_SWITCH = '[[site.switch]]\nname = "lille-sw1"\ndriver = "simulated"\n'
LILLE_GLOBAL = 'global_subnet = "10.76.64.0/18"'


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            [(LILLE_GLOBAL, f"{LILLE_GLOBAL}\nswitch = 3"), (LILLE_SWITCH, "")],
            "site lille: 'switch' must be an array of tables ([[...switch]]), not 3",
        ),
        (
            [(LILLE_GLOBAL, f'{LILLE_GLOBAL}\nswitch = ["lille-sw1"]'), (LILLE_SWITCH, "")],
            "site lille: 'switch' must be an array of tables ([[...switch]]), not [\"lille-sw1\"]",
        ),
        (
            [
                (
                    "cores = 4\n[[site.cluster.cabling]]",
                    "cores = 4\ncabling = [1, 2]\n[[site.cluster.cablingz]]",
                )
            ],
            "cluster chetemi: 'cabling' must be an array of tables ([[...cabling]]), not [1, 2]",
        ),
    ],
)
def test_a_value_where_tables_belong_is_refused(tmp_path, edits, message):
    text = small(tmp_path, **{f"e{i}": e for i, e in enumerate(edits)})
    assert message in refused(text)


def test_a_document_whose_site_is_no_array_of_tables_is_refused():
    assert refused("site = 1\n") == "testbed.toml: 'site' must be an array of tables ([[...site]]), not 1"
    assert refused('domain = "x"\n') == "testbed.toml: no [[site]] defined"


def test_a_sites_console_command_names_the_node() -> None:
    from importlib import resources

    lab = resources.files("kavlan_core").joinpath("data/lab.toml").read_text()

    def with_console(command: str) -> str:  # in sophia's table (the lab's first site), before its switches
        return lab.replace("[[site.switch]]", f'[site.console]\ncommand = "{command}"\n\n[[site.switch]]', 1)

    inv = inventory.parse(with_console("ipmitool -H {node}-bmc power cycle"), "t.toml")
    assert inv.consoles == {"sophia": "ipmitool -H {node}-bmc power cycle"}
    assert inventory.parse(lab, "t.toml").consoles == {}
    with pytest.raises(
        inventory.InventoryError, match=r"\[site.console\]: the command must name the node as \{node\}"
    ):
        inventory.parse(with_console("power cycle"), "t.toml")


def test_a_site_says_whether_its_nodes_are_hosts_to_reach() -> None:
    from importlib import resources

    lab = resources.files("kavlan_core").joinpath("data/lab.toml").read_text()
    assert inventory.parse(lab, "t.toml").reachable == set(), "not unless the description says so"
    with pytest.raises(InventoryError, match="'reachable_nodes' must be true or false, not \"yes\""):
        inventory.parse(
            lab.replace('name = "sophia"', 'name = "sophia"\nreachable_nodes = "yes"', 1), "t.toml"
        )
    marked = lab.replace('name = "sophia"', 'name = "sophia"\nreachable_nodes = true', 1)
    assert inventory.parse(marked, "t.toml").reachable == {"sophia"}


def test_subnet_gateways_default_to_host_1_and_may_be_given() -> None:
    """What the site's reference gives clients (EnOSlib) as each VLAN's gateway, and the site's DNS server."""
    from importlib import resources

    lab = resources.files("kavlan_core").joinpath("data/lab.toml").read_text()
    inv = inventory.parse(lab, "t.toml")
    assert (
        str(inv.subnet_gateway("sophia", 0)) == "10.64.0.1"
        and str(inv.subnet_gateway("sophia", 4)) == "10.64.64.1"
    )
    assert str(inv.dns_server("sophia")) == "10.64.0.1" and inv.site_index("sophia") == 1
    given = lab.replace('name = "sophia"', 'name = "sophia"\ndns = "10.64.0.53"', 1)
    given = in_first_site(given, '\n[site.subnet_gateways]\nDEFAULT = "10.64.0.254"\n"4" = "10.64.64.254"\n')
    inv = inventory.parse(given, "t.toml")
    assert (
        str(inv.subnet_gateway("sophia", 0)) == "10.64.0.254"
        and str(inv.subnet_gateway("sophia", 4)) == "10.64.64.254"
    )
    assert (
        str(inv.subnet_gateway("sophia", 5)) == "10.64.128.1"
        and str(inv.dns_server("sophia")) == "10.64.0.53"
    )
    for table, message in (
        ('"4" = "10.64.0.9"', "10.64.0.9 is not in the VLAN's subnet 10.64.64.0/18"),
        ('"30" = "10.64.0.9"', "not a VLAN of the site"),
        ('"4" = 4', "an address must be a string, not 4"),
    ):
        with pytest.raises(InventoryError, match=message):
            inventory.parse(in_first_site(lab, f"\n[site.subnet_gateways]\n{table}\n"), "t.toml")
