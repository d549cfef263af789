"""The TUI's view model: the board of VLANs, their nodes and the user's jobs, read from the service in one pass."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from kavlan_core.authz import Rights
from kavlan_core.errors import KavlanError
from kavlan_core.grids import job_sites
from kavlan_core.interface import Service
from kavlan_core.inventory import NicRef
from kavlan_core.model import DEFAULT, GLOBAL_IDS, Job, VlanKind, vlan_label

NodeKey = tuple[str, str]
"""(node, NIC): what a switch port is cabled to, and what a move acts on."""
VlanKey = tuple[str, int]
"""(owner site, VLAN id): a global VLAN is its owner site's, DEFAULT and 1-9 are each site's own."""
GroupKey = tuple[str, str]
"""(``cluster`` or ``switch``, its name): a part of the board when it is grouped by cluster or by switch."""
SectionKey = VlanKey | GroupKey

PORT_PREFIXES = (
    ("HundredGigE", "Hu"),
    ("FortyGigabitEthernet", "Fo"),
    ("TwentyFiveGigE", "Twe"),
    ("TenGigabitEthernet", "Te"),
    ("GigabitEthernet", "Gi"),
    ("FastEthernet", "Fa"),
    ("Ethernet", "Et"),
    ("ethernet", "eth"),
)


def short_port(port: str) -> str:
    """``GigabitEthernet1/0/12`` is ``Gi1/0/12``, as switch CLIs abbreviate it."""
    for long, short in PORT_PREFIXES:
        if port.startswith(long):
            return short + port[len(long) :]
    return port


KIND_WORD = {
    VlanKind.DEFAULT: "default",
    VlanKind.LOCAL: "local",
    VlanKind.ROUTED: "routed",
    VlanKind.GLOBAL: "global",
}


@dataclass(frozen=True, slots=True)
class NodeView:
    """One NIC of a node, where it is now."""

    node: str
    nic: str
    site: str
    cluster: str
    name: str
    """In-VLAN FQDN: suno-2-kavlan-4.sophia.grid5000.fr."""
    plain: str
    """The name the service takes (the DEFAULT FQDN, -ethX for a secondary NIC)."""
    switch: str
    port: str
    address: str
    mac: str
    vlan: int
    job: int | None
    user: str | None
    """Who holds the job the node is in (None: in no running job)."""
    mine: bool
    """In a running job of the user: they may move it."""
    simulated: bool
    """Cabled to a simulated switch: nobody answers at its address."""

    @property
    def key(self) -> NodeKey:
        return (self.node, self.nic)

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Annotations:
    """What the background polls learnt about one NIC."""

    drift: bool = False
    actual: int | None = None
    """The VLAN the switch has it in, when it drifted (None: a tag of no VLAN of the site, or unread)."""
    tag: int | None = None
    lease: str = ""
    reach: bool | None = None


NO_NOTE = Annotations()


@dataclass(slots=True)
class VlanView:
    site: str
    """The owner site."""
    id: int
    kind: VlanKind
    subnet: str
    tag: int
    job: int | None
    user: str | None
    dhcp: str
    nodes: list[NodeView]
    refusal: str | None
    """Why the user may not move nodes into it; None if they may."""
    dhcp_refusal: str | None
    """Why the user may not switch its DHCP server; None if they may."""

    @property
    def key(self) -> VlanKey:
        return (self.site, self.id)

    @property
    def label(self) -> str:
        return vlan_label(self.id)

    @property
    def kind_word(self) -> str:
        return KIND_WORD[self.kind]

    @property
    def title(self) -> str:
        """``VLAN 4 (sophia)``, ``DEFAULT (lille)``: what dialogs call it."""
        return f"{'VLAN ' if self.id != DEFAULT else ''}{self.label} ({self.site})"


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    user: str
    name: str
    nodes: tuple[str, ...]
    vlans: tuple[VlanKey, ...]
    deadline: float
    walltime: int
    grid: int | None = None
    """The grid reservation this job is one site's part of."""
    site: str = ""
    """Where the job is: its site, or its sites joined by +."""


@dataclass(frozen=True, slots=True)
class Section:
    """What one part of the board shows: a VLAN and the nodes of it listed there (all, or only the user's); or,
    grouped by cluster or switch, the nodes of one (``vlan`` is None then)."""

    vlan: VlanView | None
    nodes: tuple[NodeView, ...]
    only_mine: bool = False
    group: GroupKey | None = None
    listed: int | None = None
    """How many nodes the section has before the filter (None: no filter applies)."""
    hidden: bool = False
    """The filter leaves none of its nodes: not shown."""

    @property
    def collapsed(self) -> bool:
        """The filter leaves none of its nodes, but it stays, as its header alone (the user's VLAN, a target)."""
        return self.listed is not None and not self.nodes and not self.hidden

    @property
    def key(self) -> SectionKey:
        if self.vlan is not None:
            return self.vlan.key
        assert self.group is not None, "a section is a VLAN's or a group's"
        return self.group


@dataclass(slots=True)
class Board:
    """Everything the main screen shows, read in one pass of the service."""

    user: str
    home: str
    admin: bool
    sites: list[str]
    """Every site of the testbed."""
    site_vlans: dict[str, list[VlanKey]]
    """The VLANs of each site that was read (the home site, the user's jobs' sites, the sites looked at)."""
    vlans: dict[VlanKey, VlanView]
    jobs: list[JobView]
    """The user's running jobs."""
    others: int
    """Running jobs of other users."""
    simulated: bool
    """Every switch of the testbed is simulated (the demo)."""
    nodes: dict[NodeKey, NodeView] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Nodes a job's end could not bring back, with the reason: no new job gets them until an administrator clears
    them."""

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = {n.key: n for v in self.vlans.values() for n in v.nodes}

    def vlan(self, key: VlanKey) -> VlanView | None:
        return self.vlans.get(key)

    def target(self, site: str, vlan: int) -> VlanKey:
        """The key of VLAN ``vlan`` as a node of ``site`` sees it."""
        if vlan in GLOBAL_IDS:
            for key in self.vlans:
                if key[1] == vlan:
                    return key
        return (site, vlan)

    def targets_for(self, nodes: Iterable[NodeView]) -> list[VlanView]:
        """The VLANs these nodes can go to: those of their sites (DEFAULT, local, routed) and every global one."""
        sites = {n.site for n in nodes} or {self.home}
        seen: dict[VlanKey, VlanView] = {}
        for site in sorted(sites, key=self.sites.index):
            for key in self.site_vlans.get(site, []):
                if key in self.vlans and key not in seen:
                    seen[key] = self.vlans[key]
        return list(seen.values())

    def my_nodes(self) -> set[str]:
        return {n for j in self.jobs for n in j.nodes}

    def my_sections(self) -> list[Section]:
        """Each VLAN the user's jobs hold with all its nodes, then the user's nodes wherever else they are
        (DEFAULT of the home site always, as the place to put them back)."""
        held: list[VlanKey] = []
        for job in self.jobs:
            held += [k for k in job.vlans if k not in held]
        mine = self.my_nodes()
        out = [Section(self.vlans[k], tuple(self.vlans[k].nodes)) for k in held if k in self.vlans]
        site_of = {key[0]: view.site for key, view in self.nodes.items()}
        my_sites = {self.home} | {site_of[n] for n in mine if n in site_of}
        for key, vlan in self.vlans.items():
            if key in held:
                continue
            nodes = tuple(n for n in vlan.nodes if n.node in mine)
            if nodes or (key[1] == DEFAULT and key[0] in my_sites):
                out.append(Section(vlan, nodes, only_mine=True))
        return out

    def site_sections(self, site: str) -> list[Section]:
        return [
            Section(self.vlans[k], tuple(self.vlans[k].nodes))
            for k in self.site_vlans.get(site, [])
            if k in self.vlans
        ]


async def read_board(service: Service, sites: Collection[str] = ()) -> Board:
    """Where every NIC is, and the VLANs of the home site, of the user's jobs' sites and of ``sites`` (the
    others are read when their tab is shown); the user's rights decide what they may do."""
    running = await service.jobs(running=True)
    user = service.user
    rights = Rights.of(user, running, service.settings.admins)
    reachable = service.reachable_sites()  # remote, only the sites a configured server serves
    by_vlan = await _nics_by_vlan(service, reachable, running, rights)
    mine = [j for j in running if j.user == user]
    site_vlans, vlans = await _vlans(service, _wanted_sites(service, mine, sites, reachable), by_vlan, rights)
    return Board(
        user=user,
        home=service.site,
        admin=rights.admin,
        sites=reachable,
        site_vlans=site_vlans,
        vlans=vlans,
        jobs=[_job_view(j, service) for j in mine],
        others=len(running) - len(mine),
        simulated=all(sw.driver == "simulated" for sw in service.inventory.switches.values()),
        nodes={n.key: n for views in by_vlan.values() for n in views},
        unavailable=await _unavailable(service),
    )


async def _unavailable(service: Service) -> dict[str, str]:
    """The nodes marked unavailable; none when the service cannot say (an API server that does not list them)."""
    try:
        return await service.unavailable()
    except KavlanError:
        return {}


async def _nics_by_vlan(
    service: Service, reachable: list[str], running: list[Job], rights: Rights
) -> dict[VlanKey, list[NodeView]]:
    """Every NIC of the reachable sites, in the VLAN it is in. One ``vlan_of`` of them all: one read of the
    store, not one per VLAN."""
    inv = service.inventory
    busy = {node: job for job in running for node in job.nodes}
    refs = [NicRef(node, nic) for node in inv.nodes.values() if node.site in reachable for nic in node.nics]
    plains = [inv.hostname(ref, DEFAULT) for ref in refs]
    placed = await service.vlan_of(plains)
    by_vlan: dict[VlanKey, list[NodeView]] = {}
    for ref, plain, (_name, vid) in zip(refs, plains, placed, strict=True):
        node, nic = ref.node, ref.nic
        owner = inv.global_owner.get(vid, node.site) if vid in GLOBAL_IDS else node.site
        by_vlan.setdefault((owner, vid), []).append(
            NodeView(
                node=node.name,
                nic=nic.name,
                site=node.site,
                cluster=node.cluster,
                name=inv.hostname(ref, vid),
                plain=plain,
                switch=nic.switch,
                port=nic.port,
                address=str(inv.address(node, vid)),
                mac=nic.mac,
                vlan=vid,
                job=busy[node.name].id if node.name in busy else None,
                user=busy[node.name].user if node.name in busy else None,
                mine=node.name in rights.nodes,
                simulated=inv.switches[nic.switch].driver == "simulated",
            )
        )
    return by_vlan


def _wanted_sites(
    service: Service, mine: list[Job], sites: Collection[str], reachable: list[str]
) -> list[str]:
    """The sites whose VLANs are read: the home site, the sites of the user's jobs (their VLANs and nodes)
    and the sites asked for, in the testbed's order."""
    inv = service.inventory
    wanted = {service.site, *sites}
    for job in mine:
        wanted |= {v.site for v in job.vlans} | {inv.nodes[n].site for n in job.nodes if n in inv.nodes}
    return [s for s in reachable if s in wanted]


async def _vlans(
    service: Service, sites: list[str], by_vlan: dict[VlanKey, list[NodeView]], rights: Rights
) -> tuple[dict[str, list[VlanKey]], dict[VlanKey, VlanView]]:
    """Each site's VLANs (a global VLAN is listed by every site, held once, by its owner's key)."""
    vlans: dict[VlanKey, VlanView] = {}
    site_vlans: dict[str, list[VlanKey]] = {}
    for site in sites:
        keys = site_vlans.setdefault(site, [])
        for info in await service.vlans(site):
            key = (info.owner, info.id)
            keys.append(key)
            if key not in vlans:
                vlans[key] = VlanView(
                    site=info.owner,
                    id=info.id,
                    kind=info.kind,
                    subnet=info.subnet,
                    tag=info.tag,
                    job=info.job,
                    user=info.user,
                    dhcp=info.dhcp,
                    nodes=by_vlan.get(key, []),
                    refusal=rights.may_use_vlan(info.owner, info.id),
                    dhcp_refusal=rights.may_manage_vlan(info.owner, info.id),
                )
    return site_vlans, vlans


def _job_view(job: Job, service: Service) -> JobView:
    vlans = tuple((v.site, v.vlan) for v in job.vlans)
    site = "+".join(job_sites(service.inventory, job))
    return JobView(job.id, job.user, job.name, job.nodes, vlans, job.deadline, job.walltime, job.grid, site)
