"""The testbed description (TOML): sites, clusters, nodes, NICs, switches, VLAN subnets and tags; the demo testbed."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from . import names, textfile
from .errors import Misconfigured
from .model import DEFAULT, GLOBAL_IDS, Cluster, Nic, Node, Site, Switch, Vlan, VlanKind

DEMO = "demo"


class InventoryError(Misconfigured, ValueError):
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
class DeploySpec:
    """What deploying an environment runs at a site (``[site.deploy]``): the VLAN part (keys, ports, DHCP, the
    network restart, the wait) is this project's whatever it says."""

    command: str = ""
    """The site's deployment tool, run once for all the nodes (the real ``kadeploy3 -e {env} -f {nodefile}``; its
    ``--vlan`` is left to this project); {env}, {nodefile}, {keyfile} are filled in."""
    node_command: str = ""
    """Or a command per node ({node}, {env}); neither: the site has no operating system to install."""
    authorized_keys: str = ""
    """Where root's authorized keys are on the nodes, to install a given public key over SSH; "" not at all."""


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
        consoles: Mapping[str, str] | None = None,
        reachable: Iterable[str] = (),
        subnet_gateways: Mapping[tuple[str, int], ipaddress.IPv4Address] | None = None,
        dns: Mapping[str, ipaddress.IPv4Address] | None = None,
        deploys: Mapping[str, DeploySpec] | None = None,
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
        self.consoles: dict[str, str] = dict(consoles or {})
        """Per site, the command that brings a node back from its console (``[site.console]``: ``{node}`` is the
        node's name), e.g. an IPMI power cycle; used for a node a job's end cannot bring back over SSH."""
        self.reachable: set[str] = set(reachable)
        """The sites whose nodes are hosts kavlan reaches over SSH (``reachable_nodes = true``): a job's end brings
        them back, and moves into a VLAN without DHCP are refused for them. A testbed that only drives switches
        (its nodes imaginary, as in tests against switch emulators) leaves it out: no node of it is ever dialled."""
        self._subnet_gateways = dict(subnet_gateways or {})
        self._dns = dict(dns or {})
        self.deploys: dict[str, DeploySpec] = dict(deploys or {})
        """Per site, what deploying runs (``[site.deploy]``); a site not named installs no operating system."""
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

    def subnet_gateway(self, site: str, vlan_id: int) -> ipaddress.IPv4Address:
        """The router of a VLAN's subnet (``[site.subnet_gateways]``; host .1 unless it says), as the site's
        reference document gives it to clients (EnOSlib configures networks with it)."""
        vlan = self.vlan(site, vlan_id)
        return self._subnet_gateways.get((vlan.site, vlan_id), vlan.subnet.network_address + 1)

    def dns_server(self, site: str) -> ipaddress.IPv4Address:
        """The site's DNS server (``dns``; its DEFAULT gateway unless it says)."""
        return self._dns.get(site, self.subnet_gateway(site, DEFAULT))

    def site_index(self, site: str) -> int:
        """The site's number, from 1 in the description's order (g5k's ``ipv6.site_index``)."""
        return list(self.sites).index(site) + 1

    def dhcp_placement(self, site: str, vlan_id: int) -> DhcpPlacement | None:
        return self.dhcp.get((site, vlan_id))

    # --- nodes -------------------------------------------------------------

    def site_nodes(self, site: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.site == site]

    def switch_ports(self, switch: str) -> list[NicRef]:
        return [ref for (sw, _port), ref in self._port_owner.items() if sw == switch]

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
    """Load a testbed description; None or ``demo`` gives the built-in demo testbed. The parsed form is kept in a
    cache keyed by the text (inventory_cache): a start-up reads it instead of parsing again."""
    from . import inventory_cache

    if path is None or str(path) == DEMO:
        text = resources.files("kavlan_core").joinpath("data/demo.toml").read_text()
        return inventory_cache.load(text, source="built-in demo testbed")
    p = Path(path).expanduser()
    text = textfile.read_text(p, "the testbed description", InventoryError)
    return inventory_cache.load(text, source=str(p))


def _req(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise InventoryError(f"{where}: missing '{key}'")
    value = table[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise InventoryError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def _opt_int(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    """An optional integer: refused, not coerced, when the file gives it another type (``cores = "2"``)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InventoryError(f"{where}: '{key}' must be an integer, not {_shown(value)}")
    return value


def _opt_str(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    """An optional string: refused, not converted, when the file gives it another type (``address = 7``)."""
    value = table.get(key, default)
    if not isinstance(value, str):
        raise InventoryError(f"{where}: '{key}' must be a string, not {_shown(value)}")
    return value


def _table(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """An optional table (``[site.subnets]``, ``options = { ... }``); empty when absent."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise InventoryError(f"{where}: '{key}' must be a table, not {_shown(value)}")
    return value


def _tables(parent: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """An optional array of tables (``[[site.switch]]``); empty when absent."""
    value = parent.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise InventoryError(
            f"{where}: '{key}' must be an array of tables ([[...{key}]]), not {_shown(value)}"
        )
    return value


def _shown(value: Any) -> str:
    """A value as the file wrote it (``true``, not Python's ``True``)."""
    from . import tomlw

    try:
        return tomlw.value(value)
    except TypeError:
        return repr(value)


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
    """A testbed description from its TOML text; raises InventoryError naming where it is malformed."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from None
    site_tables = _tables(doc, "site", source)
    if not site_tables:
        raise InventoryError(f"{source}: no [[site]] defined")
    testbed = _Testbed(source, _opt_str(doc, "domain", "grid5000.fr", source), _Lines(text, source))
    for site_i, table in enumerate(site_tables):
        _read_site(testbed, site_i, table)
    _check_subnets_apart(testbed)
    _share_global_vlans(testbed)
    _check_hosts_fit(testbed)
    return testbed.inventory()


class _Lines:
    """Where things are in the description's text, for the errors that name a line (tomllib keeps no positions)."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        self.sites = [i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*site\s*\]\]", line)]

    def at(self, site_i: int, name: str = "") -> _SiteLines:
        """The lines of the ``site_i``-th [[site]] (from its header to the next one)."""
        start = self.sites[site_i] if site_i < len(self.sites) else 0
        end = self.sites[site_i + 1] if site_i + 1 < len(self.sites) else len(self.lines)
        return _SiteLines(self, start, end, name)

    def all(self, pattern: str, start: int = 0, end: int | None = None) -> list[int]:
        """The numbers (from 1) of the lines matching ``pattern``."""
        stop = len(self.lines) if end is None else end
        rx = re.compile(pattern)
        return [i + 1 for i in range(start, stop) if rx.search(self.lines[i])]

    def where(self, line: int | None, fallback: str, site: str = "") -> str:
        if line is None:
            return fallback
        return f"{self.source}, line {line}" + (f" (site {site})" if site else "")


@dataclass(frozen=True)
class _SiteLines:
    text: _Lines
    start: int
    end: int
    site: str

    def find(self, pattern: str) -> int | None:
        found = self.text.all(pattern, self.start, self.end)
        return found[0] if found else None

    def where(self, line: int | None, fallback: str) -> str:
        return self.text.where(line, fallback, self.site)


def _named(name: str) -> str:
    """The pattern of a ``name = "NAME"`` line."""
    return rf"""^\s*name\s*=\s*["']{re.escape(name)}["']"""


@dataclass
class _Testbed:
    """What the description has said so far, site after site."""

    source: str
    domain: str
    lines: _Lines
    sites: list[Site] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    subnets: dict[tuple[str, int], ipaddress.IPv4Network] = field(default_factory=dict)
    tags: dict[tuple[str, int], int] = field(default_factory=dict)
    global_owners: dict[int, str] = field(default_factory=dict)
    dhcp_servers: dict[str, str] = field(default_factory=dict)
    dhcp: dict[tuple[str, int], DhcpPlacement] = field(default_factory=dict)
    gateways: dict[tuple[str, int], GatewaySpec] = field(default_factory=dict)
    consoles: dict[str, str] = field(default_factory=dict)
    reachable: set[str] = field(default_factory=set)
    subnet_gateways: dict[tuple[str, int], ipaddress.IPv4Address] = field(default_factory=dict)
    dns: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)
    deploys: dict[str, DeploySpec] = field(default_factory=dict)
    node_names: set[str] = field(default_factory=set)
    last_host: int = 10
    """Host numbers are handed out in description order, from 11, to nodes that do not give their own."""

    def next_host(self) -> int:
        self.last_host += 1
        return self.last_host

    def inventory(self) -> Inventory:
        return Inventory(
            self.domain,
            self.sites,
            self.clusters,
            self.nodes,
            self.switches,
            self.subnets,
            self.tags,
            self.source,
            self.dhcp_servers,
            self.dhcp,
            self.gateways,
            self.consoles,
            self.reachable,
            self.subnet_gateways,
            self.dns,
            self.deploys,
        )


@dataclass(frozen=True, slots=True)
class _ClusterPlace:
    """Where a cluster's nodes are described: for their names, MACs, cabling and the errors' ``where``."""

    site: str
    site_i: int
    cluster: str
    cluster_i: int
    cores: int
    switches: frozenset[str]
    where: str


# --- sites ----------------------------------------------------------------------------------------------------


def _read_site(testbed: _Testbed, site_i: int, table: Mapping[str, Any]) -> None:
    """One [[site]]: its VLANs (global VLAN, subnets, tags), DHCP servers, gateways, switches and clusters."""
    where = f"{testbed.source}: site #{site_i + 1}"
    name = _req(table, "name", str, where)
    where = f"{testbed.source}: site {name}"
    global_vlan = _global_vlan(table, name, testbed.global_owners, where)
    default_subnet = _net(_req(table, "default_subnet", str, where), where)
    default_tag = _opt_int(table, "default_tag", 100, where)
    tag_base = _opt_int(table, "tag_base", 700, where)
    testbed.subnets.update(_subnets(table, name, global_vlan, default_subnet, where))
    testbed.subnet_gateways.update(_subnet_gateways(table, name, testbed.subnets, where))
    if "dns" in table:
        testbed.dns[name] = _address(table["dns"], f"{where}, dns")
    lines = testbed.lines.at(site_i, name)
    testbed.tags.update(_tags(table, name, default_tag, tag_base, lines, where))
    testbed.dhcp_servers[name] = _dhcp_server(table, where)
    testbed.dhcp.update(_dhcp_placements(table, name, where))
    testbed.gateways.update(_gateways(table, name, where))
    if "deploy" in table:
        testbed.deploys[name] = _deploy(table, where)
    console = _console(table, where)
    if console:
        testbed.consoles[name] = console
    reachable = table.get("reachable_nodes", False)
    if not isinstance(reachable, bool):
        raise InventoryError(f"{where}: 'reachable_nodes' must be true or false, not {_shown(reachable)}")
    if reachable:
        testbed.reachable.add(name)
    switches = _switches(table, name, where)
    for sw in switches:
        if sw.name in {s.name for s in testbed.switches}:
            line = testbed.lines.all(_named(sw.name))
            raise InventoryError(
                f"{testbed.lines.where(line[1] if len(line) > 1 else None, where, name)}: switch {sw.name} is "
                "defined twice"
            )
        testbed.switches.append(sw)
    known_switches = frozenset(s.name for s in switches)
    clusters = [
        _read_cluster(testbed, cluster, _ClusterPlace(name, site_i, "", cluster_i, 1, known_switches, where))
        for cluster_i, cluster in enumerate(_tables(table, "cluster", where))
    ]
    testbed.sites.append(
        Site(
            name,
            testbed.domain,
            global_vlan,
            default_subnet,
            testbed.tags[(name, DEFAULT)],
            tuple(c.name for c in clusters),
            tuple(s.name for s in switches),
        )
    )


def _global_vlan(table: Mapping[str, Any], site: str, owners: dict[int, str], where: str) -> int:
    """The site's own global VLAN (10-21), which no other site may own; recorded in ``owners``."""
    vlan = _req(table, "global_vlan", int, where)
    if vlan not in GLOBAL_IDS:
        raise InventoryError(f"{where}: global_vlan {vlan} is not in 10-21")
    if vlan in owners:
        raise InventoryError(f"{where}: global VLAN {vlan} already belongs to {owners[vlan]}")
    owners[vlan] = site
    return vlan


def _subnets(
    table: Mapping[str, Any],
    site: str,
    global_vlan: int,
    default_subnet: ipaddress.IPv4Network,
    where: str,
) -> dict[tuple[str, int], ipaddress.IPv4Network]:
    """The subnet of each of the site's VLANs: DEFAULT, local (/20), routed (/18) and its global one."""
    raw = _table(table, "subnets", where)
    out = {(site, DEFAULT): default_subnet}
    for vid in range(1, 10):
        if str(vid) not in raw:
            raise InventoryError(f"{where}: no subnet for VLAN {vid} in [site.subnets]")
        net = _net(raw[str(vid)], f"{where}, VLAN {vid}")
        want = 20 if vid < 4 else 18
        if net.prefixlen != want:
            raise InventoryError(f"{where}: VLAN {vid} needs a /{want} subnet, got {net}")
        out[(site, vid)] = net
    out[(site, global_vlan)] = _net(_req(table, "global_subnet", str, where), f"{where}, global VLAN")
    return out


def _tags(
    table: Mapping[str, Any], site: str, default_tag: int, tag_base: int, lines: _SiteLines, where: str
) -> dict[tuple[str, int], int]:
    """The 802.1Q tag of every VLAN on the site's switches: ``tag_base`` + id unless [site.tags] says; two VLANs
    never share a tag (nor any the DEFAULT one)."""
    overrides: dict[int, int] = {}
    for key, value in _table(table, "tags", where).items():
        if not str(key).isdigit() or isinstance(value, bool) or not isinstance(value, int):
            raise InventoryError(
                f"{where}: [site.tags] maps VLAN ids to integer tags, not {key!r} = {value!r}"
            )
        overrides[int(key)] = value
    out = {(site, DEFAULT): overrides.get(DEFAULT, default_tag)}
    owner: dict[int, int] = {out[(site, DEFAULT)]: DEFAULT}
    for vid in [*range(1, 10), *GLOBAL_IDS]:
        tag = overrides.get(vid, tag_base + vid)
        if tag in owner:
            other = "DEFAULT" if owner[tag] == DEFAULT else f"VLAN {owner[tag]}"
            line = lines.find(rf"""^\s*["']?{vid}["']?\s*=\s*{tag}\b""") or lines.find(
                r"^\s*(tag_base|default_tag)\s*="
            )
            raise InventoryError(
                f"{lines.where(line, where)}: VLAN {vid} would have tag {tag}, already {other}'s"
            )
        owner[tag] = vid
        out[(site, vid)] = tag
    return out


def _dhcp_server(table: Mapping[str, Any], where: str) -> str:
    server = _opt_str(_table(table, "dhcp", where), "server", "simulated", where)
    if server not in ("simulated", "dnsmasq"):
        raise InventoryError(f"{where}: dhcp server {server!r} is not simulated or dnsmasq")
    return server


def _dhcp_placements(table: Mapping[str, Any], site: str, where: str) -> dict[tuple[str, int], DhcpPlacement]:
    """Where each VLAN's DHCP server runs ([site.dhcp.vlans])."""
    out: dict[tuple[str, int], DhcpPlacement] = {}
    for vid_text, place in _table(_table(table, "dhcp", where), "vlans", where).items():
        if not str(vid_text).isdigit() or not isinstance(place, dict):
            raise InventoryError(f"{where}: [site.dhcp.vlans] maps VLAN ids to {{ netns, interface }}")
        out[(site, int(vid_text))] = DhcpPlacement(
            _opt_str(place, "netns", "", f"{where}, dhcp of VLAN {vid_text}"),
            _req(place, "interface", str, f"{where}, dhcp of VLAN {vid_text}"),
        )
    return out


def _gateways(table: Mapping[str, Any], site: str, where: str) -> dict[tuple[str, int], GatewaySpec]:
    """The SSH gateways kavlan-N of the local VLANs ([site.gateway])."""
    out: dict[tuple[str, int], GatewaySpec] = {}
    for vid_text, gw in _table(table, "gateway", where).items():
        if not str(vid_text).isdigit() or int(vid_text) not in range(1, 4) or not isinstance(gw, dict):
            raise InventoryError(
                f"{where}: [site.gateway] maps local VLAN ids (1-3) to {{ address, port, user }}"
            )
        out[(site, int(vid_text))] = GatewaySpec(
            f"kavlan-{int(vid_text)}",
            _req(gw, "address", str, f"{where}, gateway {vid_text}"),
            _opt_int(gw, "port", 22, f"{where}, gateway {vid_text}"),
            _opt_str(gw, "user", "root", f"{where}, gateway {vid_text}"),
        )
    return out


def _address(text: Any, where: str) -> ipaddress.IPv4Address:
    if not isinstance(text, str):
        raise InventoryError(f"{where}: an address must be a string, not {_shown(text)}")
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as exc:
        raise InventoryError(f"{where}: {exc}") from None


def _subnet_gateways(
    table: Mapping[str, Any], site: str, subnets: Mapping[tuple[str, int], ipaddress.IPv4Network], where: str
) -> dict[tuple[str, int], ipaddress.IPv4Address]:
    """``[site.subnet_gateways]``: the router of a VLAN's subnet where it is not host .1 ("DEFAULT" or the id =
    an address inside that subnet)."""
    out: dict[tuple[str, int], ipaddress.IPv4Address] = {}
    for key, value in _table(table, "subnet_gateways", where).items():
        vid = DEFAULT if str(key).upper() == "DEFAULT" else int(key) if str(key).isdigit() else None
        at = f"{where}, [site.subnet_gateways] {key}"
        if vid is None or (site, vid) not in subnets:
            raise InventoryError(f"{at}: not a VLAN of the site (DEFAULT, 1-9 or its global VLAN)")
        address = _address(value, at)
        if address not in subnets[(site, vid)]:
            raise InventoryError(f"{at}: {address} is not in the VLAN's subnet {subnets[(site, vid)]}")
        out[(site, vid)] = address
    return out


def _deploy(table: Mapping[str, Any], where: str) -> DeploySpec:
    """``[site.deploy]``: ``command`` (all nodes at once) or ``node_command`` (one per node), ``authorized_keys``."""
    deploy = _table(table, "deploy", where)
    at = f"{where}, [site.deploy]"
    unknown = sorted(set(deploy) - {"command", "node_command", "authorized_keys"})
    if unknown:
        raise InventoryError(
            f"{at}: unknown key(s) {', '.join(unknown)} (command, node_command, authorized_keys)"
        )
    spec = DeploySpec(
        _opt_str(deploy, "command", "", at),
        _opt_str(deploy, "node_command", "", at),
        _opt_str(deploy, "authorized_keys", "", at),
    )
    if spec.command and spec.node_command:
        raise InventoryError(
            f"{at}: give command (all nodes at once) or node_command (one per node), not both"
        )
    if spec.node_command and "{node}" not in spec.node_command:
        raise InventoryError(f"{at}: node_command must name the node as {{node}}")
    if spec.command and "{nodefile}" not in spec.command:
        raise InventoryError(f"{at}: command must name the nodefile as {{nodefile}}")
    return spec


def _console(table: Mapping[str, Any], where: str) -> str:
    """The command that brings a node back from its console ([site.console] command = "... {node} ..."); ""."""
    console = _table(table, "console", where)
    if not console:
        return ""
    command = _req(console, "command", str, f"{where}, [site.console]")
    if "{node}" not in command:
        raise InventoryError(f"{where}, [site.console]: the command must name the node as {{node}}")
    return command


def _switches(table: Mapping[str, Any], site: str, where: str) -> list[Switch]:
    switches: list[Switch] = []
    for sw in _tables(table, "switch", where):
        name = _req(sw, "name", str, f"{where}, switch #{len(switches) + 1}")
        at = f"{where}, switch {name}"
        switches.append(
            Switch(
                name=name,
                site=site,
                driver=_req(sw, "driver", str, at),
                address=_opt_str(sw, "address", "", at),
                credentials=_opt_str(sw, "credentials", "", at),
                options=dict(_table(sw, "options", at)),
            )
        )
    return switches


# --- clusters and nodes ---------------------------------------------------------------------------------------


def _read_cluster(testbed: _Testbed, table: Mapping[str, Any], place: _ClusterPlace) -> Cluster:
    """One [[site.cluster]]: its nodes in the compact form (``nodes = N`` and cabling ranges), listed one by
    one ([[site.cluster.node]]), or both."""
    where = f"{place.where}, cluster #{place.cluster_i + 1}"
    name = _req(table, "name", str, where)
    where = f"{place.where}, cluster {name}"
    if "-" in name or not name.isalnum() or not name.islower():
        raise InventoryError(f"{where}: cluster names are lower-case letters and digits")
    place = replace(place, cluster=name, cores=_opt_int(table, "cores", 1, where), where=where)
    built = _cabled_nodes(testbed, table, place) if "nodes" in table else []
    built += [_listed_node(testbed, node, place) for node in _tables(table, "node", where)]
    for node in built:
        if node.name in testbed.node_names:
            raise InventoryError(
                f"{_second(testbed, (node.name, name), where)}: node {node.name} is defined twice"
            )
        testbed.node_names.add(node.name)
    testbed.nodes.extend(built)
    cluster = Cluster(name, place.site, tuple(n.name for n in built))
    testbed.clusters.append(cluster)
    return cluster


def _cabled_nodes(testbed: _Testbed, table: Mapping[str, Any], place: _ClusterPlace) -> list[Node]:
    """The compact form: ``nodes = N``, and [[site.cluster.cabling]] ranges giving each node's NICs."""
    where = place.where
    count = _req(table, "nodes", int, where)
    cabled: dict[int, list[Nic]] = {n: [] for n in range(1, count + 1)}
    nic_names: list[str] = []
    for cabling in _tables(table, "cabling", where):
        _cable(cabling, place, cabled, nic_names)
    nodes: list[Node] = []
    for n, nics in cabled.items():
        if len({nic.name for nic in nics}) != len(nics):
            raise InventoryError(f"{where}: node {place.cluster}-{n} is cabled twice for the same NIC")
        if not nics or nics[0].name != nic_names[0]:
            raise InventoryError(
                f"{where}: node {place.cluster}-{n} has no cabling for {nic_names[0] if nic_names else 'eth0'}"
            )
        nodes.append(
            Node(
                f"{place.cluster}-{n}",
                place.site,
                place.cluster,
                place.cores,
                tuple(nics),
                testbed.next_host(),
            )
        )
    return nodes


def _cable(
    cabling: Mapping[str, Any], place: _ClusterPlace, cabled: dict[int, list[Nic]], nic_names: list[str]
) -> None:
    """One cabling range: NIC ``nic`` of nodes ``nodes`` to ``port`` (a template) of ``switch``; the first NIC
    named is every node's primary one."""
    where = place.where
    nic_name = _opt_str(cabling, "nic", "eth0", where)
    if nic_name not in nic_names:
        nic_names.append(nic_name)
    nic_i = nic_names.index(nic_name)
    switch = _req(cabling, "switch", str, where)
    if switch not in place.switches:
        raise InventoryError(f"{where}: cabling names unknown switch {switch!r}")
    template = _req(cabling, "port", str, where)
    offset = _opt_int(cabling, "port_offset", 0, where)
    for k, n in enumerate(_ranges(_req(cabling, "nodes", str, where), where), start=1):
        if n not in cabled:
            raise InventoryError(f"{where}: cabling names node {n}, the cluster has {len(cabled)}")
        port = template.format(n=n, k=k + offset)
        mac = _mac(place.site_i, place.cluster_i, n, nic_i)
        cabled[n].append(Nic(nic_name, mac, switch, port, primary=nic_i == 0))


def _listed_node(testbed: _Testbed, table: Mapping[str, Any], place: _ClusterPlace) -> Node:
    """One [[site.cluster.node]] with its [[...nic]] list (the first NIC is the primary one)."""
    name = _req(table, "name", str, place.where)
    where = f"{place.where}, node {name}"
    try:
        parsed = names.parse(name)
    except names.BadHostname as exc:
        raise InventoryError(f"{where}: {exc}") from None
    if parsed.node != name or not name.startswith(place.cluster + "-"):
        raise InventoryError(f"{where}: a node of {place.cluster} is named {place.cluster}-N")
    nics = []
    for i, nic in enumerate(_tables(table, "nic", where)):
        switch = _req(nic, "switch", str, where)
        if switch not in place.switches:
            raise InventoryError(f"{where}: NIC names unknown switch {switch!r}")
        nics.append(
            Nic(
                _opt_str(nic, "name", f"eth{i}", where),
                _req(nic, "mac", str, where).lower(),
                switch,
                _req(nic, "port", str, where),
                primary=i == 0,
            )
        )
    if not nics:
        raise InventoryError(f"{where}: no [[...nic]]")
    auto = testbed.next_host()  # counted for every listed node, given or not: the numbering stays as it was
    host = _opt_int(table, "host", auto, where)
    cores = _opt_int(table, "cores", place.cores, where)
    return Node(name, place.site, place.cluster, cores, tuple(nics), host)


# --- the whole testbed ----------------------------------------------------------------------------------------


def _second(testbed: _Testbed, names: Sequence[str], where: str) -> str:
    """Where something defined twice is defined the second time: the second line naming it (a listed node, or
    else its cluster)."""
    for name in names:
        found = testbed.lines.all(_named(name))
        if len(found) > 1 or found and name == names[0]:
            return testbed.lines.where(found[-1], where)
    return where


def _check_subnets_apart(testbed: _Testbed) -> None:
    """No two VLANs' subnets overlap: each site's DEFAULT, local, routed and own global VLAN, across every site."""
    seen: list[tuple[ipaddress.IPv4Network, str, int]] = []
    for site_i, site in enumerate(testbed.sites):
        lines = testbed.lines.at(site_i, site.name)
        for vid in [DEFAULT, *range(1, 10), site.global_vlan]:
            net = testbed.subnets[(site.name, vid)]
            for other, other_site, other_vid in seen:
                if net.overlaps(other):
                    line = lines.find(_subnet_line(vid, site.global_vlan))
                    fallback = f"{testbed.source}: site {site.name}"
                    raise InventoryError(
                        f"{lines.where(line, fallback)}: {_vlan_words(vid)}'s subnet {net} overlaps "
                        f"{_vlan_words(other_vid)}'s {other} (site {other_site})"
                    )
            seen.append((net, site.name, vid))


def _subnet_line(vid: int, global_vlan: int) -> str:
    """The pattern of the line giving VLAN ``vid``'s subnet in its site's table."""
    if vid == DEFAULT:
        return r"^\s*default_subnet\s*="
    if vid == global_vlan:
        return r"^\s*global_subnet\s*="
    return rf"""^\s*["']?{vid}["']?\s*=\s*["']"""


def _vlan_words(vid: int) -> str:
    return "DEFAULT" if vid == DEFAULT else f"VLAN {vid}"


def _share_global_vlans(testbed: _Testbed) -> None:
    """Every site sees every global VLAN: give it the owner's subnet (under the site's own tag)."""
    for site in testbed.sites:
        for vid, owner in testbed.global_owners.items():
            testbed.subnets.setdefault((site.name, vid), testbed.subnets[(owner, vid)])


def _check_hosts_fit(testbed: _Testbed) -> None:
    """Every node's host number fits in the subnets of its site's DEFAULT, local and routed VLANs."""
    for node in testbed.nodes:
        for vid in [DEFAULT, *range(1, 10)]:
            net = testbed.subnets[(node.site, vid)]
            if node.host >= net.num_addresses - 1:
                raise InventoryError(
                    f"{testbed.source}: node {node.name} (host {node.host}) does not fit in {net}"
                )
