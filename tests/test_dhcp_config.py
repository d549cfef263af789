"""DHCP configs of the demo testbed's VLANs: structure, names, addresses, next-server; checked by dhcpd, dnsmasq and Kea."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kavlan_core import inventory as inventory_mod
from kavlan_core.dhcp import config as dhcp
from kavlan_core.errors import KavlanError
from kavlan_core.inventory import Inventory
from kavlan_tui import dhcpconf

LOCAL, ROUTED, GLOBAL = 2, 4, 18  # of sophia in the demo testbed; 18 is sophia's global VLAN

HOST_BLOCK = re.compile(
    r"^   host (?P<fqdn>\S+) \{\n"
    r"     hardware ethernet (?P<mac>[0-9a-f:]{17});\n"
    r'     option host-name "(?P<name>[^"]+)";\n'
    r'     option domain-name "(?P<domain>[^"]+)";\n'
    r"     fixed-address (?P<ip>[0-9.]+);\n"
    r"(?:     next-server (?P<next>[0-9.]+);\n)?"
    r"   \}$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def demo() -> Inventory:
    return inventory_mod.load(None)


def _subnet_option(text: str, option: str) -> str:
    m = re.search(rf"^    {option} (\S+?);$", text, re.MULTILINE)
    assert m, f"no {option} in the subnet block"
    return m.group(1)


def _nic_count(inv: Inventory, site: str | None) -> int:
    return sum(len(n.nics) for n in inv.nodes.values() if site is None or n.site == site)


def _check_hosts(text: str, subnet: ipaddress.IPv4Network) -> list[dict[str, str]]:
    hosts = [m.groupdict() for m in HOST_BLOCK.finditer(text)]
    assert text.count("   host ") == len(hosts), "a host block does not have the script's shape"
    addresses = [ipaddress.IPv4Address(h["ip"]) for h in hosts]
    assert len(set(addresses)) == len(addresses)
    assert len({h["mac"] for h in hosts}) == len(hosts)
    for a in addresses:
        assert a in subnet and a != subnet.broadcast_address
        assert int(a) - int(subnet.network_address) >= dhcp.FIRST_NODE_HOST
    return hosts


# --- ISC dhcpd, as gen_dhcpd_conf.rb writes it ------------------------------------------


def test_isc_routed_vlan_has_the_scripts_header_subnet_and_one_host_per_nic(demo: Inventory) -> None:
    text = dhcp.render_isc(demo, "sophia", ROUTED)
    assert text.startswith(dhcp.ISC_HEADER)
    assert "option vendorinfo          code 43  = string;" in text
    assert "subnet 10.64.64.0 netmask 255.255.192.0 {" in text
    assert "    default-lease-time 86400;\n    max-lease-time 604800;\n" in text
    # a routed VLAN uses the site's services (DEFAULT subnet) and its own gateway
    assert _subnet_option(text, "option domain-name-servers") == "10.64.0.2"
    assert _subnet_option(text, "option ntp-servers") == "10.64.0.3"
    assert _subnet_option(text, "option routers") == "10.64.64.1"
    assert _subnet_option(text, "option subnet-mask") == "255.255.192.0"
    assert _subnet_option(text, "option broadcast-address") == "10.64.127.255"
    assert _subnet_option(text, "next-server") == "10.64.0.4"
    assert '    filename  "pxelinux.0";' in text
    assert text.rstrip().endswith("}")

    hosts = _check_hosts(text, ipaddress.IPv4Network("10.64.64.0/18"))
    assert len(hosts) == _nic_count(demo, "sophia") == 189
    by_name = {h["fqdn"]: h for h in hosts}
    suno2 = by_name["suno-2-kavlan-4.sophia.grid5000.fr"]
    node = demo.nodes["suno-2"]
    assert suno2["mac"] == node.primary_nic.mac
    assert suno2["name"] == "suno-2-kavlan-4"
    assert suno2["domain"] == "sophia.grid5000.fr"
    assert suno2["ip"] == str(demo.address(node, ROUTED))
    assert suno2["next"] is None
    # a secondary NIC has its own name, MAC and address
    eth1 = by_name["uvb-1-eth1-kavlan-4.sophia.grid5000.fr"]
    assert eth1["mac"] == demo.nodes["uvb-1"].nic("eth1").mac  # type: ignore[union-attr]
    assert eth1["name"] == "uvb-1-eth1-kavlan-4"
    assert eth1["ip"] != by_name["uvb-1-kavlan-4.sophia.grid5000.fr"]["ip"]
    assert all(h["fqdn"].endswith(".sophia.grid5000.fr") for h in hosts)


def test_isc_local_vlan_is_a_slash_20_served_by_its_gateway(demo: Inventory) -> None:
    text = dhcp.render_isc(demo, "lille", LOCAL)
    subnet = demo.vlan("lille", LOCAL).subnet
    assert subnet.prefixlen == 20
    assert f"subnet {subnet.network_address} netmask 255.255.240.0 {{" in text
    gateway = str(subnet.network_address + 1)
    for option in ("option domain-name-servers", "option ntp-servers", "option routers", "next-server"):
        assert _subnet_option(text, option) == gateway
    hosts = _check_hosts(text, subnet)
    assert len(hosts) == _nic_count(demo, "lille")
    assert "chetemi-3-kavlan-2.lille.grid5000.fr" in {h["fqdn"] for h in hosts}


def test_isc_global_vlan_holds_every_site_with_its_own_next_server(demo: Inventory) -> None:
    text = dhcp.render_isc(demo, "sophia", GLOBAL)
    subnet = demo.vlan("sophia", GLOBAL).subnet
    assert subnet.prefixlen == 18
    assert f"subnet {subnet.network_address} netmask 255.255.192.0 {{" in text
    hosts = _check_hosts(text, subnet)
    assert len(hosts) == _nic_count(demo, None)
    kadeploy = {s: str(demo.sites[s].default_subnet.network_address + 4) for s in demo.sites}
    for h in hosts:
        site = h["fqdn"].split(".")[1]
        assert h["domain"] == f"{site}.grid5000.fr"
        assert h["next"] == kadeploy[site]
    names = {h["fqdn"] for h in hosts}
    assert {
        "suno-2-kavlan-18.sophia.grid5000.fr",
        "chifflot-1-kavlan-18.lille.grid5000.fr",
        "nova-7-kavlan-18.lyon.grid5000.fr",
    } <= names


@pytest.mark.parametrize("vlan", [LOCAL, ROUTED, GLOBAL])
def test_next_server_overrides_every_next_server(demo: Inventory, vlan: int) -> None:
    text = dhcp.render_isc(demo, "sophia", vlan, next_server="10.64.64.30")
    found = re.findall(r"next-server (\S+);", text)
    assert found and set(found) == {"10.64.64.30"}
    if vlan == GLOBAL:
        assert len(found) == 1 + _nic_count(demo, None)


@pytest.mark.parametrize(
    ("site", "vlan", "next_server", "words"),
    [
        ("atlantis", 4, None, "unknown site 'atlantis'"),
        ("sophia", 0, None, "DEFAULT"),
        ("sophia", 33, None, "no VLAN 33"),
        ("sophia", 13, None, "no site owns global VLAN 13"),
        ("sophia", 4, "10.1.2", "not an IPv4 address"),
    ],
)
def test_what_cannot_be_rendered_says_why_in_one_sentence(
    demo: Inventory, site: str, vlan: int, next_server: str | None, words: str
) -> None:
    with pytest.raises(KavlanError, match=re.escape(words)) as info:
        dhcp.render_isc(demo, site, vlan, next_server)
    assert "\n" not in str(info.value)


# --- dnsmasq and Kea --------------------------------------------------------------------


def test_dnsmasq_serves_fixed_addresses_only_without_dns(demo: Inventory) -> None:
    text = dhcp.render_dnsmasq(demo, "sophia", ROUTED, interface="br-kavlan-4", leasefile="/srv/l.leases")
    lines = text.splitlines()
    assert "interface=br-kavlan-4" in lines
    assert "dhcp-leasefile=/srv/l.leases" in lines
    assert "port=0" in lines and "no-resolv" in lines
    assert "dhcp-range=10.64.64.0,static,255.255.192.0,86400" in lines
    assert "dhcp-option=option:router,10.64.64.1" in lines
    assert "dhcp-option=option:dns-server,10.64.0.2" in lines
    assert "dhcp-option=option:ntp-server,10.64.0.3" in lines
    assert "dhcp-boot=pxelinux.0,,10.64.0.4" in lines
    hosts = [line for line in lines if line.startswith("dhcp-host=")]
    assert len(hosts) == 189
    node = demo.nodes["suno-2"]
    assert f"dhcp-host={node.primary_nic.mac},{demo.address(node, ROUTED)},suno-2-kavlan-4" in lines


def test_dnsmasq_with_dns_and_reloadable_files(demo: Inventory) -> None:
    text = dhcp.render_dnsmasq(
        demo, "sophia", GLOBAL, dns=True, hostsfile="/s/hosts", addnhosts="/s/names", next_server="10.76.0.30"
    )
    lines = text.splitlines()
    assert "port=0" not in lines and "local=/lille.grid5000.fr/" in lines
    assert "dhcp-hostsfile=/s/hosts" in lines and "addn-hosts=/s/names" in lines
    assert not any(line.startswith(("dhcp-host=", "host-record=")) for line in lines)
    assert {line.rsplit(",", 1)[1] for line in lines if line.startswith("dhcp-boot=")} == {"10.76.0.30"}
    p = dhcp.plan(demo, "sophia", GLOBAL)
    assert dhcp.dnsmasq_hostsfile(p).count("\n") == _nic_count(demo, None)
    assert ",set:site-lyon," in dhcp.dnsmasq_hostsfile(p)
    assert "10.76.0.12 suno-2-kavlan-18.sophia.grid5000.fr suno-2-kavlan-18\n" in dhcp.dnsmasq_addnhosts(p)


def test_kea_has_one_subnet_with_a_reservation_per_nic(demo: Inventory) -> None:
    doc = json.loads(dhcp.render_kea(demo, "sophia", GLOBAL, interface="veth0", leasefile="/srv/kea.csv"))
    d4 = doc["Dhcp4"]
    assert d4["interfaces-config"]["interfaces"] == ["veth0"]
    assert d4["lease-database"] == {
        "type": "memfile",
        "persist": True,
        "name": "/srv/kea.csv",
        "lfc-interval": 3600,
    }
    (subnet,) = d4["subnet4"]
    assert subnet["subnet"] == "10.76.0.0/18" and subnet["id"] == GLOBAL
    assert subnet["boot-file-name"] == "pxelinux.0" and subnet["next-server"] == "10.64.0.4"
    options = {o["name"]: o["data"] for o in subnet["option-data"]}
    assert options["routers"] == "10.76.0.1"
    reservations = subnet["reservations"]
    assert len(reservations) == _nic_count(demo, None)
    chifflot = next(r for r in reservations if r["hostname"] == "chifflot-1-kavlan-18")
    assert chifflot["next-server"] == "10.68.0.4"
    assert chifflot["option-data"] == [{"name": "domain-name", "data": "lille.grid5000.fr"}]


def test_write_configs_names_files_as_the_script(demo: Inventory, tmp_path: Path) -> None:
    paths = dhcp.write_configs(demo, "sophia", ROUTED, tmp_path)
    assert [p.name for p in paths] == [
        "dhcpd-kavlan-4-sophia.conf",
        "dhcpd-kavlan-4-sophia.dnsmasq.conf",
        "dhcpd-kavlan-4-sophia.kea.json",
    ]
    assert paths[0].read_text() == dhcp.render_isc(demo, "sophia", ROUTED)


# --- the real tools accept what we write ------------------------------------------------

VALIDATORS = {
    "isc": ("dhcpd", lambda f: ["dhcpd", "-t", "-cf", str(f)]),
    "dnsmasq": ("dnsmasq", lambda f: ["dnsmasq", "--test", f"--conf-file={f}"]),
    "kea": ("kea-dhcp4", lambda f: ["kea-dhcp4", "-t", str(f)]),
}


@pytest.mark.parametrize("fmt", list(VALIDATORS))
@pytest.mark.parametrize(
    ("site", "vlan"), [("sophia", LOCAL), ("sophia", ROUTED), ("sophia", GLOBAL), ("lyon", 9)]
)
def test_the_server_accepts_the_config(
    demo: Inventory, tmp_path: Path, fmt: str, site: str, vlan: int
) -> None:
    binary, command = VALIDATORS[fmt]
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed")
    (path,) = dhcp.write_configs(demo, site, vlan, tmp_path, formats=[fmt], next_server="10.64.64.30")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "KEA_LOCKFILE_DIR": str(tmp_path),
        "KEA_PIDFILE_DIR": str(tmp_path),
    }
    proc = subprocess.run(command(path), capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_dnsmasq_config_with_dns_passes_its_check(demo: Inventory, tmp_path: Path) -> None:
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed")
    path = tmp_path / "dns.conf"
    path.write_text(dhcp.render_dnsmasq(demo, "sophia", GLOBAL, dns=True))
    proc = subprocess.run(
        ["dnsmasq", "--test", f"--conf-file={path}"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr


# --- kavlan-dhcp-config -----------------------------------------------------------------


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAVLAN_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("KAVLAN_DATA_DIR", str(tmp_path / "data"))
    for var in ("KAVLAN_INVENTORY", "KAVLAN_SITE"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_user_config")
def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert dhcpconf.main(["--site", "sophia", "--vlan-id", "4", "--format", "all", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "dhcpd-kavlan-4-sophia.conf",
        "dhcpd-kavlan-4-sophia.dnsmasq.conf",
        "dhcpd-kavlan-4-sophia.kea.json",
    ]
    assert "generating" in capsys.readouterr().out


@pytest.mark.usefixtures("no_user_config")
def test_cli_without_a_vlan_writes_every_vlan_of_the_site(tmp_path: Path) -> None:
    assert dhcpconf.main(["--site", "lille", "-o", str(tmp_path), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.glob("dhcpd-kavlan-*")) == sorted(
        f"dhcpd-kavlan-{v}-lille.conf" for v in [*range(1, 10), 11]
    )


@pytest.mark.usefixtures("no_user_config")
def test_cli_prints_one_config_with_dash(demo: Inventory, capsys: pytest.CaptureFixture[str]) -> None:
    assert dhcpconf.main(["-s", "lyon", "-i", "5", "--next-server", "10.72.128.20", "-o", "-"]) == 0
    assert capsys.readouterr().out == dhcp.render_isc(demo, "lyon", 5, "10.72.128.20")


@pytest.mark.usefixtures("no_user_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["--site", "atlantis", "--vlan-id", "4"],
        ["--site", "sophia", "--vlan-id", "DEFAULT"],
        ["--site", "sophia", "--vlan-id", "x"],
        ["--site", "sophia", "--vlan-id", "13"],
    ],
)
def test_cli_bad_site_or_vlan_is_one_sentence_and_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert dhcpconf.main([*argv, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kavlan-dhcp-config: ") and err.count("\n") == 1
    assert not list(tmp_path.glob("dhcpd-*"))
