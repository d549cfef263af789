"""The TUI's typed messages and the view model they carry: the board of VLANs, their nodes, the user's jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from kavlan_core.events import Event
from kavlan_core.model import DEFAULT, GLOBAL_IDS, VlanKind, vlan_label

if TYPE_CHECKING:
    from kavlan_core.plan import Plan
    from kavlan_core.reports import MoveReport, StagedReport

NodeKey = tuple[str, str]
"""(node, NIC): what a switch port is cabled to, and what a move acts on."""
VlanKey = tuple[str, int]
"""(owner site, VLAN id): a global VLAN is its owner site's, DEFAULT and 1-9 are each site's own."""

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


@dataclass(frozen=True, slots=True)
class Section:
    """What one part of the board shows: a VLAN and the nodes of it listed there (all, or only the user's)."""

    vlan: VlanView
    nodes: tuple[NodeView, ...]
    only_mine: bool = False


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


# --- messages ------------------------------------------------------------------------------------


class BoardLoaded(Message):
    """A worker read the whole board from the service."""

    def __init__(self, board: Board, seconds: float) -> None:
        super().__init__()
        self.board = board
        self.seconds = seconds


class DriftChecked(Message):
    """The switches were read: each port whose real VLAN differs from the recorded one (None: a tag that is no
    VLAN of the site, or an unreadable port), and the tag the switch has."""

    def __init__(
        self, drift: dict[NodeKey, int | None], seconds: float, tags: dict[NodeKey, int | None] | None = None
    ) -> None:
        super().__init__()
        self.drift = drift
        self.seconds = seconds
        self.tags = tags or {}


class LeasesRead(Message):
    """DHCP leases of the VLANs whose server is on, by NIC."""

    def __init__(self, leases: dict[NodeKey, str]) -> None:
        super().__init__()
        self.leases = leases


class ReachChecked(Message):
    """Which of the user's (real) nodes answered over SSH: True, False."""

    def __init__(self, reach: dict[NodeKey, bool]) -> None:
        super().__init__()
        self.reach = reach


class ServiceEvent(Message, bubble=False):
    """An event of the service (a node moved, a switch finished, DHCP changed, a job ended...). It does not
    bubble: the app hands a copy to each screen that wants it."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class DragStarted(Message):
    """Nodes are being dragged with the mouse."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        super().__init__()
        self.nodes = tuple(nodes)


class DragEnded(Message):
    """A drag ended: on a VLAN (``target``), or nowhere (None)."""

    def __init__(self, nodes: Sequence[NodeView], target: VlanKey | None) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.target = target


class MoveRequested(Message):
    """Move these nodes into that VLAN: a drop, or "move to VLAN..." from the keyboard or the palette."""

    def __init__(self, nodes: Sequence[NodeView], target: VlanKey, via: str = "keyboard") -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.target = target
        self.via = via


class PickTarget(Message):
    """Ask where to move these nodes (the keyboard's "move to VLAN...")."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        super().__init__()
        self.nodes = tuple(nodes)


class SelectionChanged(Message):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class SshRequested(Message):
    def __init__(self, node: NodeView) -> None:
        super().__init__()
        self.node = node


class DhcpToggleRequested(Message):
    def __init__(self, vlan: VlanKey, on: bool) -> None:
        super().__init__()
        self.vlan = vlan
        self.on = on


class VlanChosen(Message):
    """A VLAN was picked in the side list: show it on the board."""

    def __init__(self, vlan: VlanKey) -> None:
        super().__init__()
        self.vlan = vlan


class JobChosen(Message):
    def __init__(self, job: int) -> None:
        super().__init__()
        self.job = job


class PlanReady(Message):
    """The dry run of a move: its plan, or why it is refused (nothing changed either way)."""

    def __init__(self, plan: Plan | None, error: str = "", refused: bool = False) -> None:
        super().__init__()
        self.plan = plan
        self.error = error
        self.refused = refused


class MoveDone(Message):
    """A move ended: the plain move's report, or the staged move's."""

    def __init__(
        self, report: MoveReport | None = None, staged: StagedReport | None = None, error: str = ""
    ) -> None:
        super().__init__()
        self.report = report
        self.staged = staged
        self.error = error


class ActionFailed(Message):
    """A worker's action failed with an error the user can understand (one sentence)."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class JobReserved(Message):
    def __init__(self, job: int, summary: str) -> None:
        super().__init__()
        self.job = job
        self.summary = summary


class CommandFinished(Message):
    """A registry command ran (from the palette): its output lines and error lines."""

    def __init__(self, line: str, lines: list[str], errors: list[str], ok: bool) -> None:
        super().__init__()
        self.line = line
        self.lines = lines
        self.errors = errors
        self.ok = ok


class RolledBack(Message, bubble=False):
    """A rollback from the report ended (``error`` empty when every port is back where it was)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
