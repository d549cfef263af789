"""DHCP configs of one VLAN from the inventory: ISC dhcpd.conf as the tutorial's gen_dhcpd_conf.rb writes it, dnsmasq, Kea.

Pure renderers: no DNS lookup, no network. Where the tutorial's script resolves a name, the address
is derived from a subnet instead, by host number (network address plus N):

- in every VLAN subnet: ``gw-kavlan-N.SITE`` (the router, and for a local VLAN also its DNS, NTP and
  TFTP server, as in the script) is host 1;
- in each site's DEFAULT subnet: ``dns.SITE`` is host 2, ``ntp.SITE`` host 3 and
  ``kadeploy-server.SITE`` (the TFTP ``next-server``) host 4: the site's services, which routed and
  global VLANs use, as in the script;
- hosts 1 to 10 of a subnet are kept for such services; nodes start at host 11 (the inventory's
  host numbers);
- a node's primary NIC gets ``Inventory.address(node, vlan)``; its K-th NIC (``-ethX`` names, K >= 1)
  gets that address plus K times a quarter of the subnet (plus 1024 in a /20, 4096 in a /18), so that
  every NIC of a node can be in the same VLAN; a NIC whose address falls outside the subnet or on
  another one's is left out and named in ``VlanDhcp.skipped``.

Hosts: the nodes of the site for a local or routed VLAN; the nodes of every site for a global VLAN,
each with its own site's ``next-server`` in its host block (the script's ``vlan > 9`` case).
``next_server`` overrides every ``next-server`` (what the tutorial does with perl for PXE boot from a
user's own node).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..inventory import Inventory, InventoryError, NicRef
from ..model import DEFAULT, Node, Vlan, VlanKind

GATEWAY_HOST = 1
DNS_HOST = 2
NTP_HOST = 3
KADEPLOY_HOST = 4
FIRST_NODE_HOST = 11

DEFAULT_LEASE_TIME = 86400
MAX_LEASE_TIME = 604800
BOOT_FILE = "pxelinux.0"

FORMATS = ("isc", "dnsmasq", "kea")

ISC_HEADER = """\
ddns-update-style none;
option space pxelinux;
option pxelinux.magic      code 208 = string;
option pxelinux.configfile code 209 = text;
option pxelinux.pathprefix code 210 = text;
option pxelinux.reboottime code 211 = unsigned integer 32;
option vendorinfo          code 43  = string;
"""


class DhcpConfigError(BadInput):
    """No DHCP config can be made for what was asked (unknown site, DEFAULT, bad next-server)."""


@dataclass(frozen=True, slots=True)
class SiteServices:
    """A site's services as the script resolves them (``dns.SITE``, ``ntp.SITE``, ``kadeploy-server.SITE``)."""

    dns: ipaddress.IPv4Address
    ntp: ipaddress.IPv4Address
    kadeploy: ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class DhcpHost:
    """One NIC that can be in the VLAN: one ``host`` block, one ``dhcp-host`` line, one Kea reservation."""

    fqdn: str
    """``suno-2-kavlan-4.sophia.grid5000.fr``: the host block's name."""
    name: str
    """``suno-2-kavlan-4``: option host-name."""
    mac: str
    address: ipaddress.IPv4Address
    site: str
    domain: str
    """``sophia.grid5000.fr``: option domain-name (the node's own site)."""
    next_server: ipaddress.IPv4Address | None
    """A per-host TFTP server (global VLANs: the node's site's); None means the subnet's."""


@dataclass(frozen=True, slots=True)
class VlanDhcp:
    """Everything a DHCP server of one VLAN hands out, whatever the server's config format."""

    site: str
    """The site the config is made for (the script's ``--site``)."""
    vlan: Vlan
    router: ipaddress.IPv4Address
    dns: ipaddress.IPv4Address
    ntp: ipaddress.IPv4Address
    next_server: ipaddress.IPv4Address
    domain: str
    hosts: tuple[DhcpHost, ...]
    skipped: tuple[str, ...]
    """One sentence per NIC left out (its address does not fit)."""

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return self.vlan.subnet

    @property
    def netmask(self) -> ipaddress.IPv4Address:
        return self.vlan.subnet.netmask

    @property
    def broadcast(self) -> ipaddress.IPv4Address:
        return self.vlan.subnet.broadcast_address

    @property
    def sites(self) -> list[str]:
        """The sites whose nodes have a host entry, in inventory order."""
        return list(dict.fromkeys(h.site for h in self.hosts))


# --- addresses ----------------------------------------------------------------------


def site_services(inventory: Inventory, site: str) -> SiteServices:
    net = inventory.sites[site].default_subnet.network_address
    return SiteServices(net + DNS_HOST, net + NTP_HOST, net + KADEPLOY_HOST)


def gateway_address(vlan: Vlan) -> ipaddress.IPv4Address:
    """``gw-kavlan-N.SITE``: the VLAN's router."""
    return vlan.subnet.network_address + GATEWAY_HOST


def nic_address(inventory: Inventory, ref: NicRef, vlan_id: int) -> ipaddress.IPv4Address | None:
    """The fixed address of one NIC in a VLAN; None when it does not fit in the VLAN's subnet."""
    return inventory.nic_address(ref, vlan_id)


# --- the plan every renderer works from ---------------------------------------------


def _check_site(inventory: Inventory, site: str) -> None:
    if site not in inventory.sites:
        raise DhcpConfigError(f"unknown site {site!r} (sites of this testbed: {', '.join(inventory.sites)})")


def _vlan(inventory: Inventory, site: str, vlan_id: int) -> Vlan:
    _check_site(inventory, site)
    if vlan_id == DEFAULT:
        raise DhcpConfigError("the DEFAULT VLAN has no KaVLAN DHCP config: choose a VLAN from 1 to 21")
    try:
        return inventory.vlan(site, vlan_id)
    except ValueError as exc:
        if isinstance(exc, InventoryError):
            owned = ", ".join(str(v) for v in sorted(inventory.global_owner))
            raise DhcpConfigError(
                f"no site owns global VLAN {vlan_id} (global VLANs of this testbed: {owned})"
            ) from None
        raise DhcpConfigError(f"there is no VLAN {vlan_id}: choose a VLAN from 1 to 21") from None


def _ipv4(text: str | ipaddress.IPv4Address | None) -> ipaddress.IPv4Address | None:
    if text is None or isinstance(text, ipaddress.IPv4Address):
        return text
    try:
        return ipaddress.IPv4Address(str(text).strip())
    except ValueError:
        raise DhcpConfigError(f"next-server {text!r} is not an IPv4 address (e.g. 10.64.64.11)") from None


def _candidate_nodes(inventory: Inventory, vlan: Vlan, site: str) -> Iterable[Node]:
    if vlan.kind is VlanKind.GLOBAL:
        return inventory.nodes.values()
    return inventory.site_nodes(site)


def plan(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    next_server: str | ipaddress.IPv4Address | None = None,
) -> VlanDhcp:
    """What the DHCP server of VLAN ``vlan_id`` of ``site`` hands out; raises DhcpConfigError with one sentence."""
    vlan = _vlan(inventory, site, vlan_id)
    override = _ipv4(next_server)
    router = gateway_address(vlan)
    if vlan.kind is VlanKind.LOCAL:
        dns = ntp = tftp = router
    else:
        services = site_services(inventory, site)
        dns, ntp, tftp = services.dns, services.ntp, services.kadeploy
    taken = {router}
    hosts: list[DhcpHost] = []
    skipped: list[str] = []
    for node in _candidate_nodes(inventory, vlan, site):
        for nic in node.nics:
            ref = NicRef(node, nic)
            name = inventory.hostname(ref, vlan_id, fqdn=False)
            address = nic_address(inventory, ref, vlan_id)
            if address is None or address in taken:
                why = "outside" if address is None else f"on a taken address ({address}) of"
                skipped.append(f"{name}: its fixed address falls {why} {vlan.subnet}")
                continue
            taken.add(address)
            per_host = None
            if vlan.kind is VlanKind.GLOBAL:
                per_host = override or site_services(inventory, node.site).kadeploy
            hosts.append(
                DhcpHost(
                    fqdn=inventory.hostname(ref, vlan_id),
                    name=name,
                    mac=nic.mac.lower(),
                    address=address,
                    site=node.site,
                    domain=f"{node.site}.{inventory.domain}",
                    next_server=per_host,
                )
            )
    return VlanDhcp(
        site=site,
        vlan=vlan,
        router=router,
        dns=dns,
        ntp=ntp,
        next_server=override or tftp,
        domain=f"{site}.{inventory.domain}",
        hosts=tuple(hosts),
        skipped=tuple(skipped),
    )


# --- ISC dhcpd ----------------------------------------------------------------------


def render_isc(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    next_server: str | ipaddress.IPv4Address | None = None,
) -> str:
    """``dhcpd-kavlan-N-SITE.conf`` as gen_dhcpd_conf.rb writes it."""
    return isc_from_plan(plan(inventory, site, vlan_id, next_server))


def isc_from_plan(p: VlanDhcp) -> str:
    out = [ISC_HEADER.rstrip("\n")]
    out.append(f"subnet {p.subnet.network_address} netmask {p.netmask} {{")
    out.append(f"    default-lease-time {DEFAULT_LEASE_TIME};")
    out.append(f"    max-lease-time {MAX_LEASE_TIME};")
    out.append(f"    option domain-name-servers {p.dns};")
    out.append(f"    option ntp-servers {p.ntp};")
    out.append(f"    option routers {p.router};")
    out.append(f"    option subnet-mask {p.netmask};")
    out.append(f"    option broadcast-address {p.broadcast};")
    out.append(f'    filename  "{BOOT_FILE}";')
    out.append(f"    next-server {p.next_server};")
    for h in p.hosts:
        out.append(f"   host {h.fqdn} {{")
        out.append(f"     hardware ethernet {h.mac};")
        out.append(f'     option host-name "{h.name}";')
        out.append(f'     option domain-name "{h.domain}";')
        out.append(f"     fixed-address {h.address};")
        if h.next_server is not None:
            # for a global VLAN, each node boots from its own site's TFTP server
            out.append(f"     next-server {h.next_server};")
        out.append("   }")
    out.append("}")
    return "\n".join(out) + "\n"


# --- dnsmasq ------------------------------------------------------------------------


def site_tag(site: str) -> str:
    """The dnsmasq tag set on the hosts of one site (per-site options in a global VLAN)."""
    return f"site-{site}"


def default_leasefile(fmt: str, site: str, vlan_id: int) -> str:
    if fmt == "kea":
        return f"/var/lib/kea/kea-leases4-kavlan-{vlan_id}-{site}.csv"
    return f"/var/lib/misc/dnsmasq-kavlan-{vlan_id}-{site}.leases"


def render_dnsmasq(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    *,
    interface: str = "eth0",
    leasefile: str | Path | None = None,
    next_server: str | ipaddress.IPv4Address | None = None,
    dns: bool = False,
    hostsfile: str | Path | None = None,
    addnhosts: str | Path | None = None,
    log_file: str | Path | None = None,
) -> str:
    """A dnsmasq config serving only the fixed addresses of VLAN ``vlan_id`` of ``site`` on ``interface``.

    ``dns=False`` gives ``port=0`` (DHCP only). ``hostsfile``/``addnhosts`` move the ``dhcp-host``
    lines / the DNS names into files that dnsmasq re-reads on SIGHUP (write them with
    ``dnsmasq_hostsfile`` / ``dnsmasq_addnhosts``); otherwise they are inline.
    """
    p = plan(inventory, site, vlan_id, next_server)
    return dnsmasq_from_plan(
        p,
        interface=interface,
        leasefile=leasefile or default_leasefile("dnsmasq", site, vlan_id),
        dns=dns,
        hostsfile=hostsfile,
        addnhosts=addnhosts,
        log_file=log_file,
    )


def dnsmasq_from_plan(
    p: VlanDhcp,
    *,
    interface: str,
    leasefile: str | Path,
    dns: bool = False,
    hostsfile: str | Path | None = None,
    addnhosts: str | Path | None = None,
    log_file: str | Path | None = None,
) -> str:
    v = p.vlan
    out = [
        f"# dnsmasq for KaVLAN VLAN {v.id} ({v.kind.value}) of {p.site}: fixed addresses only",
        f"interface={interface}",
        "bind-interfaces",
        # never read this machine's resolv.conf or hosts: answers come from the inventory only
        "no-resolv",
        "no-hosts",
    ]
    if dns:
        for domain in dict.fromkeys([p.domain, *(h.domain for h in p.hosts)]):
            out.append(f"local=/{domain}/")
        out.append(f"domain={p.domain}")
    else:
        out.append("port=0")
    out += [
        "dhcp-authoritative",
        f"dhcp-range={p.subnet.network_address},static,{p.netmask},{DEFAULT_LEASE_TIME}",
        f"dhcp-leasefile={leasefile}",
        f"dhcp-option=option:router,{p.router}",
        f"dhcp-option=option:dns-server,{p.dns}",
        f"dhcp-option=option:ntp-server,{p.ntp}",
        f"dhcp-option=28,{p.broadcast}",  # broadcast address: dnsmasq has no name for it
        f"dhcp-option=option:domain-name,{p.domain}",
        f"dhcp-boot={BOOT_FILE},,{p.next_server}",
    ]
    if v.kind is VlanKind.GLOBAL:
        # per-site domain and TFTP server, selected by the tag each host line sets
        per_site = {h.site: h for h in p.hosts}
        for s, h in per_site.items():
            out.append(f"dhcp-option=tag:{site_tag(s)},option:domain-name,{h.domain}")
            out.append(f"dhcp-boot=tag:{site_tag(s)},{BOOT_FILE},,{h.next_server}")
    if log_file is not None:
        out.append(f"log-facility={log_file}")
        out.append("log-dhcp")
    if hostsfile is not None:
        out.append(f"dhcp-hostsfile={hostsfile}")
    else:
        out += [f"dhcp-host={line}" for line in _dnsmasq_host_lines(p)]
    if dns:
        if addnhosts is not None:
            out.append(f"addn-hosts={addnhosts}")
        else:
            out += [f"host-record={h.fqdn},{h.name},{h.address}" for h in p.hosts]
    return "\n".join(out) + "\n"


def _dnsmasq_host_lines(p: VlanDhcp) -> list[str]:
    tagged = p.vlan.kind is VlanKind.GLOBAL
    return [
        f"{h.mac},set:{site_tag(h.site)},{h.address},{h.name}" if tagged else f"{h.mac},{h.address},{h.name}"
        for h in p.hosts
    ]


def dnsmasq_hostsfile(p: VlanDhcp) -> str:
    """Contents of a ``dhcp-hostsfile``: one ``MAC,IP,name`` line per host."""
    return "".join(line + "\n" for line in _dnsmasq_host_lines(p))


def dnsmasq_addnhosts(p: VlanDhcp) -> str:
    """Contents of an ``addn-hosts`` file: ``IP FQDN short-name`` per host."""
    return "".join(f"{h.address} {h.fqdn} {h.name}\n" for h in p.hosts)


# --- Kea ----------------------------------------------------------------------------


def render_kea(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    *,
    interface: str = "eth0",
    leasefile: str | Path | None = None,
    next_server: str | ipaddress.IPv4Address | None = None,
    control_socket: str | Path | None = None,
) -> str:
    """A kea-dhcp4 (Kea 2.2) JSON config: one subnet4 with one reservation per host, memfile leases."""
    p = plan(inventory, site, vlan_id, next_server)
    doc = kea_from_plan(
        p,
        interface=interface,
        leasefile=leasefile or default_leasefile("kea", site, vlan_id),
        control_socket=control_socket,
    )
    return json.dumps(doc, indent=2) + "\n"


def kea_from_plan(
    p: VlanDhcp,
    *,
    interface: str,
    leasefile: str | Path,
    control_socket: str | Path | None = None,
) -> dict[str, Any]:
    reservations: list[dict[str, Any]] = []
    for h in p.hosts:
        r: dict[str, Any] = {
            "hw-address": h.mac,
            "ip-address": str(h.address),
            "hostname": h.name,
            "option-data": [{"name": "domain-name", "data": h.domain}],
        }
        if h.next_server is not None:
            r["next-server"] = str(h.next_server)
        reservations.append(r)
    subnet = {
        "id": p.vlan.id,
        "subnet": str(p.subnet),
        "next-server": str(p.next_server),
        "boot-file-name": BOOT_FILE,
        "option-data": [
            {"name": "routers", "data": str(p.router)},
            {"name": "domain-name-servers", "data": str(p.dns)},
            {"name": "ntp-servers", "data": str(p.ntp)},
            {"name": "broadcast-address", "data": str(p.broadcast)},
            {"name": "domain-name", "data": p.domain},
        ],
        "reservations": reservations,
    }
    dhcp4: dict[str, Any] = {
        "interfaces-config": {"interfaces": [interface]},
        "lease-database": {"type": "memfile", "persist": True, "name": str(leasefile), "lfc-interval": 3600},
        "authoritative": True,
        "valid-lifetime": DEFAULT_LEASE_TIME,
        "max-valid-lifetime": MAX_LEASE_TIME,
        "subnet4": [subnet],
    }
    if control_socket is not None:
        dhcp4["control-socket"] = {"socket-type": "unix", "socket-name": str(control_socket)}
    return {"Dhcp4": dhcp4}


# --- files --------------------------------------------------------------------------


def config_filename(site: str, vlan_id: int, fmt: str = "isc") -> str:
    """``dhcpd-kavlan-N-SITE.conf`` (the script's name), ``.dnsmasq.conf``, ``.kea.json``."""
    stem = f"dhcpd-kavlan-{vlan_id}-{site}"
    suffix = {"isc": ".conf", "dnsmasq": ".dnsmasq.conf", "kea": ".kea.json"}.get(fmt)
    if suffix is None:
        raise DhcpConfigError(f"unknown config format {fmt!r} (formats: {', '.join(FORMATS)})")
    return stem + suffix


def render(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    fmt: str,
    *,
    next_server: str | ipaddress.IPv4Address | None = None,
    interface: str = "eth0",
) -> str:
    """One config in format ``fmt`` (``isc``, ``dnsmasq`` or ``kea``)."""
    config_filename(site, vlan_id, fmt)  # rejects an unknown format
    if fmt == "isc":
        return render_isc(inventory, site, vlan_id, next_server)
    if fmt == "dnsmasq":
        return render_dnsmasq(inventory, site, vlan_id, interface=interface, next_server=next_server)
    return render_kea(inventory, site, vlan_id, interface=interface, next_server=next_server)


def write_configs(
    inventory: Inventory,
    site: str,
    vlan_id: int,
    directory: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    next_server: str | ipaddress.IPv4Address | None = None,
    interface: str = "eth0",
) -> list[Path]:
    """Write ``dhcpd-kavlan-N-SITE.conf`` (and ``.dnsmasq.conf``, ``.kea.json``) into ``directory``; return the paths."""
    texts = {
        fmt: render(inventory, site, vlan_id, fmt, next_server=next_server, interface=interface)
        for fmt in formats
    }
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, text in texts.items():
        path = folder / config_filename(site, vlan_id, fmt)
        path.write_text(text)
        paths.append(path)
    return paths


def site_vlans(inventory: Inventory, site: str) -> list[int]:
    """The VLANs the script makes configs for when given no ``--vlan-id``: 1-9 and the site's global VLAN."""
    _check_site(inventory, site)
    return [*range(1, 10), inventory.sites[site].global_vlan]
