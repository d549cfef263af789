"""The lab's shape, computed from a testbed description: namespaces, bridges, veth links, addresses, names, DHCP placement."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from .. import names
from ..errors import KavlanError
from ..inventory import Inventory
from ..model import DEFAULT, GLOBAL_IDS, LOCAL_IDS, ROUTED_IDS, vlan_label

DEFAULT_PREFIX = "kl-"
LAB_NET = ipaddress.IPv4Network("10.64.0.0/12")
"""Every lab subnet lies inside it; nodes route it (and nothing else) through their VLAN's router."""
API_NET = ipaddress.IPv4Network("10.78.0.0/24")
"""Remote mode (``kavlan-lab up --api``): the frontends' own network, where each site's kavlan-api listens on
``api.SITE`` (.10 + the site's position); no router, no node, no VLAN on it."""
# this machine's uplink, its package mirror and its DNS (LAB.md): never a lab subnet, never routed
FORBIDDEN = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "203.0.113.0/24", "10.255.0.0/16"))

ROUTER_HOST, FRONTEND_HOST = 1, 2
GATEWAY_HOST_BASE = 2  # kavlan-N's leg in DEFAULT is .(2 + N)
GUEST_ROUTER_HOST_BASE = (
    5  # in a global VLAN of another site, the router of the lab's K-th site (1-based) is .(5 + K)
)
SWITCH_MGMT_HOST_BASE = 240  # switch i's management address in DEFAULT is .(240 + i), 0-based
NODE_IFACE = "eth0"
MAX_SITES = 3

_PREFIX = re.compile(r"[a-z][a-z0-9]{0,7}-")
_LINK = re.compile(r"[A-Za-z0-9_.:-]{1,15}")


class LabError(KavlanError, RuntimeError):
    """The lab cannot be built, run or removed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair: ``a`` in namespace ``a_ns`` (enslaved to ``a_master``), ``b`` created straight in ``b_ns``."""

    a_ns: str
    a: str
    b_ns: str
    b: str
    a_master: str = ""
    b_master: str = ""
    b_address: str = ""
    """``10.64.0.1/18``: the address of end ``b``, if any."""
    b_mac: str = ""


@dataclass(frozen=True, slots=True)
class Host:
    """A lab machine with a hostname of its own and an sshd: a node, or a local VLAN's gateway ``kavlan-N``."""

    name: str
    netns: str
    kind: str
    """``node`` or ``gateway``."""
    listen: tuple[str, ...]
    """sshd's ListenAddress list: every address the host may hold (nodes bind them with ip_nonlocal_bind)."""
    aliases: tuple[str, ...]
    """Every name and address it answers to: its line in known_hosts."""
    mac: str = ""
    default_address: str = ""
    site: str = ""


@dataclass(frozen=True, slots=True)
class SwitchNs:
    name: str
    netns: str
    driver: str
    bridges: tuple[str, ...]
    mgmt_address: str
    """``10.64.0.240/18`` on its DEFAULT bridge: where a control plane such as snmpd listens."""
    ports: tuple[str, ...]
    default_tag: int
    site: str = ""


@dataclass(frozen=True, slots=True)
class DhcpPlacement:
    """Where the DHCP server of one VLAN runs: a namespace, its interface in the VLAN, its address there."""

    site: str
    vlan: int
    netns: str
    interface: str
    server_ip: str
    router: str
    subnet: str

    def table(self) -> dict[str, Any]:
        """Its entry in the generated inventory's ``[site.dhcp.vlans]`` (server_ip: informative)."""
        return {"netns": self.netns, "interface": self.interface, "server_ip": self.server_ip}


@dataclass
class SitePart:
    """One site of the lab: its core (one bridge per VLAN tag), router, frontend, DHCP placement and names."""

    name: str
    core: str
    router: str
    frontend: str
    frontend_address: str
    tags: dict[int, int]
    """VLAN id -> tag, every VLAN of the site (DEFAULT, 1-9, the global ones)."""
    bridges: tuple[str, ...] = ()
    api_address: str = ""
    """``10.78.0.11/24``: the frontend's address on the API network, in remote mode."""
    frontend_routes: list[tuple[str, str]] = field(default_factory=list)
    dhcp: dict[int, DhcpPlacement] = field(default_factory=dict)
    infra_names: list[tuple[str, list[str]]] = field(default_factory=list)
    """(address, names) of the routers, gateways, frontend and managed switches, for the hosts file."""
    router_rules: list[tuple[str, str, int]] = field(default_factory=list)
    """(source, via, table) on the router: another site's node in this site's global VLAN is routed back to its
    own site's router, so that it reaches its own site (and its frontend reaches it) and nothing of this one."""


@dataclass
class Topology:
    prefix: str
    inventory: Inventory
    parts: dict[str, SitePart]
    """Every site of the lab, by name; the first is the home site (namespaces without the site's name, the
    frontend that ``kavlan-lab shell`` enters)."""
    switches: list[SwitchNs] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    # the home site's parts, under the names the one-site lab had
    @property
    def home(self) -> SitePart:
        return next(iter(self.parts.values()))

    @property
    def site(self) -> str:
        return self.home.name

    @property
    def core(self) -> str:
        return self.home.core

    @property
    def router(self) -> str:
        return self.home.router

    @property
    def frontend(self) -> str:
        return self.home.frontend

    @property
    def frontend_address(self) -> str:
        return self.home.frontend_address

    @property
    def tags(self) -> dict[int, int]:
        return self.home.tags

    @property
    def dhcp(self) -> dict[int, DhcpPlacement]:
        return self.home.dhcp

    @property
    def frontend_routes(self) -> list[tuple[str, str]]:
        return self.home.frontend_routes

    def part(self, site: str | None) -> SitePart:
        if site is None:
            return self.home
        if site not in self.parts:
            raise LabError(f"the lab has no site {site!r} (its sites: {', '.join(self.parts)})")
        return self.parts[site]

    @property
    def namespaces(self) -> list[str]:
        out = []
        for part in self.parts.values():
            out += [part.core, *(s.netns for s in self.switches if s.site == part.name)]
            out += [part.router, part.frontend, *(h.netns for h in self.hosts if h.site == part.name)]
        return out

    def site_of_namespace(self, ns: str) -> str:
        for part in self.parts.values():
            if ns in (part.core, part.router, part.frontend):
                return part.name
        for sw in self.switches:
            if sw.netns == ns:
                return sw.site
        for host in self.hosts:
            if host.netns == ns:
                return host.site
        return self.site

    @property
    def nodes(self) -> list[Host]:
        return [h for h in self.hosts if h.kind == "node"]

    @property
    def gateways(self) -> list[Host]:
        return [h for h in self.hosts if h.kind == "gateway"]

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name or h.netns == name:
                return h
        raise LabError(f"no lab host named {name!r} (hosts: {', '.join(h.name for h in self.hosts)})")

    def hosts_file(self, site: str | None = None) -> str:
        """/etc/hosts of every lab namespace of ``site``: the lab's names only; the short names of routers,
        gateways and frontends are that site's own, the other sites' by their full names."""
        inv, domain, here = self.inventory, self.inventory.domain, self.part(site).name
        lines = [
            "# kavlan lab: every lab name; nothing outside the lab",
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost",
        ]
        for part in self.parts.values():
            for addr, n in part.infra_names:
                shown = n if part.name == here else [x for x in n if "." in x]
                lines.append(f"{addr}\t{' '.join(shown)}")
        for part in self.parts.values():
            for node in inv.site_nodes(part.name):
                for vid in part.tags:
                    short = names.vlan_hostname(node.name, vid)
                    lines.append(f"{inv.address(node, vid)}\t{names.fqdn(short, node.site, domain)} {short}")
        return "\n".join(lines) + "\n"


def switch_netns(prefix: str, switch: str, option: str) -> str:
    """The switch's namespace: its ``netns`` option (or its name) under the lab's prefix."""
    base = option or switch
    if base.startswith(DEFAULT_PREFIX):
        base = base[len(DEFAULT_PREFIX) :]
    return prefix + base


def _check_subnet(net: ipaddress.IPv4Network, what: str) -> None:
    if not net.subnet_of(LAB_NET) or any(net.overlaps(f) for f in FORBIDDEN):
        raise LabError(f"{what} {net} is outside the lab's {LAB_NET}: lab subnets must stay inside it")


def _link_name(name: str, what: str) -> str:
    if not _LINK.fullmatch(name):
        raise LabError(
            f"{what} {name!r} is not a valid link name (letters, digits, '_.:-', 15 characters at most)"
        )
    return name


def build(inventory: Inventory, prefix: str = DEFAULT_PREFIX) -> Topology:
    """The lab for every site of the testbed (the first one is home); raises LabError on what a lab cannot hold."""
    if not _PREFIX.fullmatch(prefix):
        raise LabError(
            f"prefix {prefix!r}: use 1-8 lower-case letters or digits and a final '-', e.g. {DEFAULT_PREFIX}"
        )
    if not 1 <= len(inventory.sites) <= MAX_SITES:
        raise LabError(
            f"the lab builds 1 to {MAX_SITES} sites; {inventory.source} has {len(inventory.sites)}"
        )
    sites = [_LabSite.of(inventory, name) for name in inventory.sites]
    topo = Topology(prefix, inventory, {})
    for k, site in enumerate(sites):
        # the home site's namespaces keep the one-site lab's names; another site's carry its name
        base = prefix if k == 0 else f"{prefix}{site.name}-"
        topo.parts[site.name] = SitePart(
            site.name,
            base + "core",
            base + "router",
            base + "frontend",
            site.addr(DEFAULT, FRONTEND_HOST),
            site.tags,
            tuple(site.bridge[v] for v in site.vids),
            f"{API_NET.network_address + 11 + k}/{API_NET.prefixlen}",
        )
    for k, site in enumerate(sites):
        part = topo.parts[site.name]
        _add_switches(topo, part, site)
        _add_router(topo, part, site, k + 1)
        _add_frontend(topo, part, site)
        _add_gateways(topo, part, site, k)
        _add_nodes(topo, part, site)
    _add_trunks(topo, sites)
    _check_global_addresses(topo)
    for ns in topo.namespaces:
        if len(ns) > 40:
            raise LabError(f"namespace name {ns!r} is too long")
    return topo


@dataclass(frozen=True, slots=True)
class _LabSite:
    """The site's VLANs as the lab lays them out: tags, subnets (inside the lab's net), one bridge per tag."""

    inventory: Inventory
    name: str
    vids: list[int]
    tags: dict[int, int]
    subnets: dict[int, ipaddress.IPv4Network]
    bridge: dict[int, str]

    @classmethod
    def of(cls, inventory: Inventory, site: str) -> _LabSite:
        vids = inventory.vlan_ids(site)
        tags = {vid: inventory.tag(site, vid) for vid in vids}
        subnets = {vid: inventory.vlan(site, vid).subnet for vid in vids}
        for vid, net in subnets.items():
            _check_subnet(net, f"VLAN {vlan_label(vid)}'s subnet")
        bridge = {vid: _link_name(f"vlan{tag}", "bridge") for vid, tag in tags.items()}
        return cls(inventory, site, vids, tags, subnets, bridge)

    def addr(self, vid: int, host: int) -> str:
        """Host ``host`` of VLAN ``vid`` with its prefix length: ``10.64.0.1/18``."""
        return f"{self.subnets[vid].network_address + host}/{self.subnets[vid].prefixlen}"

    def ip(self, vid: int, host: int) -> str:
        return str(self.subnets[vid].network_address + host)

    def fqdn(self, short: str) -> str:
        return names.fqdn(short, self.name, self.inventory.domain)


def _add_switches(topo: Topology, part: SitePart, site: _LabSite) -> None:
    """One namespace per switch, one bridge per VLAN tag in it; its trunk to the site's core is one veth pair per
    tag (to the core's bridge of that tag)."""
    inventory = site.inventory
    for i, swname in enumerate(inventory.sites[site.name].switches):
        sw = inventory.switches[swname]
        netns = switch_netns(topo.prefix, swname, str(sw.options.get("netns", "")))
        ports = tuple(_link_name(ref.nic.port, f"port of {swname}") for ref in inventory.switch_ports(swname))
        mgmt = site.addr(DEFAULT, SWITCH_MGMT_HOST_BASE + i)
        bridges = tuple(site.bridge[v] for v in site.vids)
        topo.switches.append(
            SwitchNs(swname, netns, sw.driver, bridges, mgmt, ports, site.tags[DEFAULT], site.name)
        )
        for vid, tag in site.tags.items():
            trunk = _link_name(f"s{i + 1}-{tag}", "trunk")
            topo.links.append(Link(netns, f"tr{tag}", part.core, trunk, site.bridge[vid], site.bridge[vid]))
        if sw.driver != "linux_bridge":
            part.infra_names.append((mgmt.split("/")[0], [swname, site.fqdn(swname)]))


def _add_router(topo: Topology, part: SitePart, site: _LabSite, position: int) -> None:
    """The router: a leg in DEFAULT, the routed and the global VLANs (never in a local one), forwarding; the
    DHCP server of DEFAULT, of each routed VLAN and of the site's own global VLAN runs on its leg. In another
    site's global VLAN its leg is .(5 + position): it routes there for its own site's nodes only."""
    inventory = site.inventory
    routed = [vid for vid in site.vids if vid == DEFAULT or vid in ROUTED_IDS or vid in GLOBAL_IDS]
    router = site.ip(DEFAULT, ROUTER_HOST)
    for vid in routed:
        guest = vid in GLOBAL_IDS and inventory.global_owner[vid] != site.name
        host = GUEST_ROUTER_HOST_BASE + position if guest else ROUTER_HOST
        tag, subnet = site.tags[vid], str(site.subnets[vid])
        leg, address = f"vl{tag}", site.ip(vid, host)
        topo.links.append(
            Link(part.core, f"rt{tag}", part.router, leg, site.bridge[vid], "", site.addr(vid, host))
        )
        if vid != DEFAULT:
            part.frontend_routes.append((subnet, router))
        if guest:
            # back from the owner's router: this site's nodes in that VLAN, through this router
            owner = topo.parts[inventory.global_owner[vid]]
            table = 100 + position
            for node in inventory.site_nodes(site.name):
                owner.router_rules.append((str(inventory.address(node, vid)), address, table))
            continue
        part.dhcp[vid] = DhcpPlacement(site.name, vid, part.router, leg, address, address, subnet)
        if vid != DEFAULT:
            part.infra_names.append((address, [f"gw-kavlan-{vid}", site.fqdn(f"gw-kavlan-{vid}")]))
    part.infra_names.insert(0, (router, ["router", site.fqdn("router"), "gw", site.fqdn("gw")]))


def _add_frontend(topo: Topology, part: SitePart, site: _LabSite) -> None:
    """The frontend: DEFAULT only; routed and global VLANs through the router, local ones unreachable."""
    topo.links.append(
        Link(part.core, "fe-100", part.frontend, NODE_IFACE, site.bridge[DEFAULT], "", part.frontend_address)
    )
    part.infra_names.insert(1, (site.ip(DEFAULT, FRONTEND_HOST), ["frontend", site.fqdn("frontend")]))
    part.infra_names.append((part.api_address.split("/")[0], ["api", site.fqdn("api")]))


def _add_gateways(topo: Topology, part: SitePart, site: _LabSite, index: int) -> None:
    """The gateways kavlan-N of the local VLANs: a leg in DEFAULT and one in VLAN N, sshd, no forwarding; the
    DHCP server of VLAN N runs on the inner leg. Another site's are the lab hosts ``kavlan-N.SITE``."""
    for vid in (v for v in site.vids if v in LOCAL_IDS):
        name = f"kavlan-{vid}"
        netns = f"{part.core.removesuffix('core')}{name}"
        outer, inner = site.addr(DEFAULT, GATEWAY_HOST_BASE + vid), site.addr(vid, 1)
        outer_ip, inner_ip = outer.split("/")[0], inner.split("/")[0]
        tags, bridge = site.tags, site.bridge
        topo.links.append(
            Link(part.core, f"k{vid}-{tags[DEFAULT]}", netns, "eth0", bridge[DEFAULT], "", outer)
        )
        topo.links.append(Link(part.core, f"k{vid}-{tags[vid]}", netns, "eth1", bridge[vid], "", inner))
        part.dhcp[vid] = DhcpPlacement(
            site.name, vid, netns, "eth1", site.ip(vid, 1), site.ip(vid, 1), str(site.subnets[vid])
        )
        gw = f"gw-kavlan-{vid}"
        aliases = (name, site.fqdn(name), gw, site.fqdn(gw), outer_ip, inner_ip)
        host = name if index == 0 else f"{name}.{site.name}"
        topo.hosts.append(
            Host(host, netns, "gateway", (outer_ip, inner_ip), aliases, default_address=outer, site=site.name)
        )
        part.infra_names.append((outer_ip, [name, site.fqdn(name)]))
        part.infra_names.append((inner_ip, [gw, site.fqdn(gw)]))


def _add_nodes(topo: Topology, part: SitePart, site: _LabSite) -> None:
    """The nodes: one NIC, eth0, cabled to their switch port, which starts in DEFAULT; each holds its address in
    every VLAN (and answers to every name) so that it is itself wherever its port goes."""
    inventory = site.inventory
    infra = {a for a, _ in part.infra_names} | {s.mgmt_address.split("/")[0] for s in topo.switches}
    by_switch = {s.name: s for s in topo.switches}
    for node in inventory.site_nodes(site.name):
        if len(node.nics) != 1:
            raise LabError(f"node {node.name} has {len(node.nics)} NICs; lab nodes have one (eth0)")
        nic = node.primary_nic
        addresses = [str(inventory.address(node, vid)) for vid in site.vids]
        if infra & set(addresses) or not 10 <= node.host <= 239:
            raise LabError(
                f"node {node.name} (host {node.host}) collides with a lab address: use a host number in 10-239"
            )
        netns = topo.prefix + node.name
        topo.links.append(
            Link(
                by_switch[nic.switch].netns,
                nic.port,
                netns,
                NODE_IFACE,
                site.bridge[DEFAULT],
                "",
                "",
                nic.mac,
            )
        )
        short = [names.vlan_hostname(node.name, vid) for vid in site.vids]
        aliases = tuple(x for s in short for x in (s, site.fqdn(s))) + tuple(addresses)
        default_address = site.addr(DEFAULT, node.host)
        topo.hosts.append(
            Host(node.name, netns, "node", tuple(addresses), aliases, nic.mac, default_address, site.name)
        )


def _add_trunks(topo: Topology, sites: list[_LabSite]) -> None:
    """The trunk between sites: from the home site's core to each other site's, one veth pair per global VLAN
    (its bridge on either side), and nothing else; a star, so that no loop forms between bridges."""
    home = sites[0]
    for k, site in enumerate(sites[1:], start=2):
        for vid in (v for v in site.vids if v in GLOBAL_IDS):
            a = _link_name(f"x{k}-{home.tags[vid]}", "trunk")
            b = _link_name(f"x1-{site.tags[vid]}", "trunk")
            topo.links.append(
                Link(
                    topo.parts[home.name].core,
                    a,
                    topo.parts[site.name].core,
                    b,
                    home.bridge[vid],
                    site.bridge[vid],
                )
            )


def _check_global_addresses(topo: Topology) -> None:
    """In a global VLAN, the nodes of every site share one subnet: no two may have the same host number."""
    seen: dict[int, str] = {}
    for node in topo.nodes:
        host = topo.inventory.nodes[node.name].host
        if host in seen:
            raise LabError(
                f"nodes {seen[host]} and {node.name} have the same host number {host}: in a global VLAN they "
                "would share an address; give the nodes of different sites different host numbers"
            )
        seen[host] = node.name


def vlan_key(vid: int) -> str:
    """A VLAN in file names: ``DEFAULT`` or the VLAN number."""
    return vlan_label(vid)
