"""The testbed description (TOML): sites, clusters, nodes, NICs, switches, VLAN subnets and tags; the demo testbed."""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import names
from .errors import KavlanError
from .model import DEFAULT, GLOBAL_IDS, Cluster, Nic, Node, Site, Switch, Vlan, VlanKind

DEMO = "demo"


class InventoryError(KavlanError, ValueError):
    """The testbed description is malformed; the message names where."""


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """The SSH gateway of a local VLAN: ``kavlan-N``, reachable from the frontend."""

    name: str
    address: str
    port: int = 22
    user: str = "root"


@dataclass(frozen=True, slots=True)
class DhcpPlacement:
    """Where a VLAN's DHCP server runs: a network namespace (empty: this one) and the interface in the VLAN."""

    netns: str
    interface: str


@dataclass(frozen=True, slots=True)
class NicRef:
    """One NIC of one node: what a move acts on."""

    node: Node
    nic: Nic

    @property
    def key(self) -> tuple[str, str]:
        return (self.node.name, self.nic.name)


class Inventory:
    """An immutable, indexed testbed."""

    def __init__(
        self,
        domain: str,
        sites: Iterable[Site],
        clusters: Iterable[Cluster],
        nodes: Iterable[Node],
        switches: Iterable[Switch],
        subnets: Mapping[tuple[str, int], ipaddress.IPv4Network],
        tags: Mapping[tuple[str, int], int],
        source: str,
        dhcp_servers: Mapping[str, str] | None = None,
        dhcp: Mapping[tuple[str, int], DhcpPlacement] | None = None,
        gateways: Mapping[tuple[str, int], GatewaySpec] | None = None,
    ) -> None:
        self.domain = domain
        self.source = source
        self.sites: dict[str, Site] = {s.name: s for s in sites}
        self.clusters: dict[str, Cluster] = {c.name: c for c in clusters}
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.switches: dict[str, Switch] = {s.name: s for s in switches}
        self._subnets = dict(subnets)
        self._tags = dict(tags)
        self.global_owner: dict[int, str] = {s.global_vlan: s.name for s in self.sites.values()}
        self.dhcp_servers: dict[str, str] = dict(dhcp_servers or {})
        """Per site: ``simulated`` (state only, the demo) or ``dnsmasq`` (real servers where ``dhcp`` says)."""
        self.dhcp = dict(dhcp or {})
        self.gateways = dict(gateways or {})
        self._port_owner: dict[tuple[str, str], NicRef] = {}
        for node in self.nodes.values():
            for nic in node.nics:
                key = (nic.switch, nic.port)
                if key in self._port_owner:
                    other = self._port_owner[key]
                    raise InventoryError(
                        f"port {nic.port} of switch {nic.switch} is cabled to both "
                        f"{other.node.name}/{other.nic.name} and {node.name}/{nic.name}"
                    )
                self._port_owner[key] = NicRef(node, nic)

    # --- VLANs -------------------------------------------------------------

    def vlan_ids(self, site: str) -> list[int]:
        """The VLANs a site's nodes can be in: DEFAULT, local, routed, and every site's global VLAN."""
        return [DEFAULT, *range(1, 10), *sorted(self.global_owner)]

    def vlan(self, site: str, vlan_id: int) -> Vlan:
        """VLAN ``vlan_id`` as seen from ``site`` (a global VLAN belongs to its owner site)."""
        kind = VlanKind.of(vlan_id)
        if kind is VlanKind.GLOBAL:
            owner = self.global_owner.get(vlan_id)
            if owner is None:
                raise InventoryError(f"no site owns global VLAN {vlan_id}")
        else:
            owner = site
        return Vlan(vlan_id, kind, owner, self._subnets[(owner, vlan_id)], self.tag(owner, vlan_id))

    def tag(self, site: str, vlan_id: int) -> int:
        """The 802.1Q tag of a VLAN on the switches of ``site``."""
        return self._tags[(site, vlan_id)]

    def vlan_of_tag(self, site: str, tag: int) -> int | None:
        for (s, vid), t in self._tags.items():
            if s == site and t == tag:
                return vid
        return None

    def address(self, node: Node, vlan_id: int) -> ipaddress.IPv4Address:
        """The node's (primary NIC's) fixed address in a VLAN."""
        vlan = self.vlan(node.site, vlan_id)
        return vlan.subnet.network_address + node.host

    def nic_address(self, ref: NicRef, vlan_id: int) -> ipaddress.IPv4Address | None:
        """A NIC's fixed address: the K-th NIC is a quarter subnet above the node's; None if it does not fit."""
        subnet = self.vlan(ref.node.site, vlan_id).subnet
        index = next(i for i, nic in enumerate(ref.node.nics) if nic.name == ref.nic.name)
        offset = ref.node.host + index * (subnet.num_addresses // 4)
        if not 0 < offset < subnet.num_addresses - 1:
            return None
        return subnet.network_address + offset

    def gateway(self, site: str, vlan_id: int) -> GatewaySpec | None:
        """Where the SSH gateway ``kavlan-N`` of a local VLAN listens, if the description says."""
        return self.gateways.get((site, vlan_id))

    def dhcp_placement(self, site: str, vlan_id: int) -> DhcpPlacement | None:
        return self.dhcp.get((site, vlan_id))

    # --- nodes -------------------------------------------------------------

    def site_nodes(self, site: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.site == site]

    def switch_ports(self, switch: str) -> list[NicRef]:
        return [ref for (sw, _port), ref in self._port_owner.items() if sw == switch]

    def nic_at(self, switch: str, port: str) -> NicRef | None:
        return self._port_owner.get((switch, port))

    def resolve(self, name: str) -> NicRef:
        """The NIC a user's hostname designates; raises KeyError with a clear sentence."""
        parsed = names.parse(name)
        node = self.nodes.get(parsed.node)
        if node is None:
            raise KeyError(f"unknown node {name!r}: no such node in the testbed")
        if parsed.site is not None and parsed.site != node.site:
            raise KeyError(
                f"unknown node {name!r}: {parsed.node} is a node of {node.site}, not of {parsed.site}"
            )
        nic = node.nic(parsed.nic)
        if nic is None:
            raise KeyError(f"unknown NIC {name!r}: {node.name} has no {parsed.nic}")
        return NicRef(node, nic)

    def hostname(self, ref: NicRef, vlan_id: int, *, fqdn: bool = True) -> str:
        short = names.vlan_hostname(ref.node.name, vlan_id, ref.nic.name, primary=ref.nic.primary)
        return names.fqdn(short, ref.node.site, self.domain) if fqdn else short

    def node_fqdn(self, node: Node) -> str:
        return names.fqdn(node.name, node.site, self.domain)


# --- loading ---------------------------------------------------------------


def load(path: str | Path | None) -> Inventory:
    """Load a testbed description; None or ``demo`` gives the built-in demo testbed."""
    if path is None or str(path) == DEMO:
        text = resources.files("kavlan_core").joinpath("data/demo.toml").read_text()
        return parse(text, source="built-in demo testbed")
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as exc:
        raise InventoryError(f"cannot read the testbed description {p}: {exc.strerror}") from None
    return parse(text, source=str(p))


def _req(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise InventoryError(f"{where}: missing '{key}'")
    value = table[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise InventoryError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def _net(text: Any, where: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(text))
    except ValueError as exc:
        raise InventoryError(f"{where}: {exc}") from None


def _ranges(spec: str, where: str) -> list[int]:
    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InventoryError(
                f"{where}: bad node range {spec!r} (expected e.g. '1-24' or '1,3,5-9')"
            ) from None
    return out


def _mac(site_i: int, cluster_i: int, number: int, nic_i: int) -> str:
    # locally administered, unique per (site, cluster, node, nic)
    b = [0x02 | (nic_i << 2), 0x4B, site_i, cluster_i, (number >> 8) & 0xFF, number & 0xFF]
    return ":".join(f"{x:02x}" for x in b)


def parse(text: str, source: str = "<string>") -> Inventory:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from None
    domain = doc.get("domain", "grid5000.fr")
    site_tables = doc.get("site", [])
    if not isinstance(site_tables, list) or not site_tables:
        raise InventoryError(f"{source}: no [[site]] defined")

    sites: list[Site] = []
    clusters: list[Cluster] = []
    nodes: list[Node] = []
    switches: list[Switch] = []
    subnets: dict[tuple[str, int], ipaddress.IPv4Network] = {}
    tags: dict[tuple[str, int], int] = {}
    seen_nodes: set[str] = set()
    host_counter = 10
    globals_seen: dict[int, str] = {}
    dhcp_servers: dict[str, str] = {}
    dhcp: dict[tuple[str, int], DhcpPlacement] = {}
    gateways: dict[tuple[str, int], GatewaySpec] = {}

    for site_i, st in enumerate(site_tables):
        where = f"{source}: site #{site_i + 1}"
        sname = _req(st, "name", str, where)
        where = f"{source}: site {sname}"
        gvlan = _req(st, "global_vlan", int, where)
        if gvlan not in GLOBAL_IDS:
            raise InventoryError(f"{where}: global_vlan {gvlan} is not in 10-21")
        if gvlan in globals_seen:
            raise InventoryError(f"{where}: global VLAN {gvlan} already belongs to {globals_seen[gvlan]}")
        globals_seen[gvlan] = sname
        default_subnet = _net(_req(st, "default_subnet", str, where), where)
        default_tag = int(st.get("default_tag", 100))
        tag_base = int(st.get("tag_base", 700))
        raw_subnets = st.get("subnets", {})
        subnets[(sname, DEFAULT)] = default_subnet
        for vid in range(1, 10):
            if str(vid) not in raw_subnets:
                raise InventoryError(f"{where}: no subnet for VLAN {vid} in [site.subnets]")
            net = _net(raw_subnets[str(vid)], f"{where}, VLAN {vid}")
            want = 20 if vid < 4 else 18
            if net.prefixlen != want:
                raise InventoryError(f"{where}: VLAN {vid} needs a /{want} subnet, got {net}")
            subnets[(sname, vid)] = net
        subnets[(sname, gvlan)] = _net(_req(st, "global_subnet", str, where), f"{where}, global VLAN")
        overrides = {int(k): int(v) for k, v in st.get("tags", {}).items()}
        tags[(sname, DEFAULT)] = overrides.get(DEFAULT, default_tag)
        for vid in [*range(1, 10), *GLOBAL_IDS]:
            tags[(sname, vid)] = overrides.get(vid, tag_base + vid)

        dhcp_table = st.get("dhcp", {})
        server = str(dhcp_table.get("server", "simulated"))
        if server not in ("simulated", "dnsmasq"):
            raise InventoryError(f"{where}: dhcp server {server!r} is not simulated or dnsmasq")
        dhcp_servers[sname] = server
        for vid_text, place in dhcp_table.get("vlans", {}).items():
            if not str(vid_text).isdigit() or not isinstance(place, dict):
                raise InventoryError(f"{where}: [site.dhcp.vlans] maps VLAN ids to {{ netns, interface }}")
            dhcp[(sname, int(vid_text))] = DhcpPlacement(
                str(place.get("netns", "")),
                _req(place, "interface", str, f"{where}, dhcp of VLAN {vid_text}"),
            )
        for vid_text, gw in st.get("gateway", {}).items():
            if not str(vid_text).isdigit() or int(vid_text) not in range(1, 4) or not isinstance(gw, dict):
                raise InventoryError(
                    f"{where}: [site.gateway] maps local VLAN ids (1-3) to {{ address, port, user }}"
                )
            gateways[(sname, int(vid_text))] = GatewaySpec(
                f"kavlan-{int(vid_text)}",
                _req(gw, "address", str, f"{where}, gateway {vid_text}"),
                int(gw.get("port", 22)),
                str(gw.get("user", "root")),
            )

        sw_names: list[str] = []
        for sw in st.get("switch", []):
            swhere = f"{where}, switch #{len(sw_names) + 1}"
            swname = _req(sw, "name", str, swhere)
            switches.append(
                Switch(
                    name=swname,
                    site=sname,
                    driver=_req(sw, "driver", str, f"{where}, switch {swname}"),
                    address=str(sw.get("address", "")),
                    credentials=str(sw.get("credentials", "")),
                    options=dict(sw.get("options", {})),
                )
            )
            sw_names.append(swname)
        known_switches = set(sw_names)

        cl_names: list[str] = []
        for cluster_i, ct in enumerate(st.get("cluster", [])):
            cwhere = f"{where}, cluster #{cluster_i + 1}"
            cname = _req(ct, "name", str, cwhere)
            cwhere = f"{where}, cluster {cname}"
            if "-" in cname or not cname.isalnum() or not cname.islower():
                raise InventoryError(f"{cwhere}: cluster names are lower-case letters and digits")
            cores = int(ct.get("cores", 1))
            built: list[Node] = []
            # compact form: nodes = N with cabling ranges
            if "nodes" in ct:
                count = _req(ct, "nodes", int, cwhere)
                cabled: dict[int, list[Nic]] = {n: [] for n in range(1, count + 1)}
                nic_names: list[str] = []
                for cab in ct.get("cabling", []):
                    nic_name = str(cab.get("nic", "eth0"))
                    if nic_name not in nic_names:
                        nic_names.append(nic_name)
                    nic_i = nic_names.index(nic_name)
                    swname = _req(cab, "switch", str, cwhere)
                    if swname not in known_switches:
                        raise InventoryError(f"{cwhere}: cabling names unknown switch {swname!r}")
                    template = _req(cab, "port", str, cwhere)
                    offset = int(cab.get("port_offset", 0))
                    for k, n in enumerate(_ranges(_req(cab, "nodes", str, cwhere), cwhere), start=1):
                        if n not in cabled:
                            raise InventoryError(f"{cwhere}: cabling names node {n}, the cluster has {count}")
                        port = template.format(n=n, k=k + offset)
                        cabled[n].append(
                            Nic(nic_name, _mac(site_i, cluster_i, n, nic_i), swname, port, primary=nic_i == 0)
                        )
                for n, nics in cabled.items():
                    if len({nic.name for nic in nics}) != len(nics):
                        raise InventoryError(f"{cwhere}: node {cname}-{n} is cabled twice for the same NIC")
                    if not nics or nics[0].name != nic_names[0]:
                        raise InventoryError(
                            f"{cwhere}: node {cname}-{n} has no cabling for {nic_names[0] if nic_names else 'eth0'}"
                        )
                    host_counter += 1
                    built.append(Node(f"{cname}-{n}", sname, cname, cores, tuple(nics), host_counter))
            for nt in ct.get("node", []):
                nname = _req(nt, "name", str, cwhere)
                nwhere = f"{cwhere}, node {nname}"
                try:
                    parsed = names.parse(nname)
                except names.BadHostname as exc:
                    raise InventoryError(f"{nwhere}: {exc}") from None
                if parsed.node != nname or not nname.startswith(cname + "-"):
                    raise InventoryError(f"{nwhere}: a node of {cname} is named {cname}-N")
                nics_list = []
                for i, nic in enumerate(nt.get("nic", [])):
                    swname = _req(nic, "switch", str, nwhere)
                    if swname not in known_switches:
                        raise InventoryError(f"{nwhere}: NIC names unknown switch {swname!r}")
                    nics_list.append(
                        Nic(
                            str(nic.get("name", f"eth{i}")),
                            _req(nic, "mac", str, nwhere).lower(),
                            swname,
                            _req(nic, "port", str, nwhere),
                            primary=i == 0,
                        )
                    )
                if not nics_list:
                    raise InventoryError(f"{nwhere}: no [[...nic]]")
                host_counter += 1
                host = int(nt.get("host", host_counter))
                built.append(Node(nname, sname, cname, int(nt.get("cores", cores)), tuple(nics_list), host))
            for node in built:
                if node.name in seen_nodes:
                    raise InventoryError(f"{cwhere}: node {node.name} is defined twice")
                seen_nodes.add(node.name)
            nodes.extend(built)
            clusters.append(Cluster(cname, sname, tuple(n.name for n in built)))
            cl_names.append(cname)

        sites.append(
            Site(
                sname, domain, gvlan, default_subnet, tags[(sname, DEFAULT)], tuple(cl_names), tuple(sw_names)
            )
        )

    # every site sees every global VLAN: give it the owner's subnet under its own tag
    for s in sites:
        for gvid, owner in globals_seen.items():
            subnets.setdefault((s.name, gvid), subnets[(owner, gvid)])

    for node in nodes:
        for vid in [DEFAULT, *range(1, 10)]:
            net = subnets[(node.site, vid)]
            if node.host >= net.num_addresses - 1:
                raise InventoryError(f"{source}: node {node.name} (host {node.host}) does not fit in {net}")
    return Inventory(
        domain, sites, clusters, nodes, switches, subnets, tags, source, dhcp_servers, dhcp, gateways
    )
