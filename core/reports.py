"""The result types every face and the API share: node outcomes, move reports, VLANs, members, drift, leases.

Nothing heavy is imported here (no store, no driver session, no HTTP), so that the remote client and the faces
can hold these objects without loading the engine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .drivers.base import PortChange
from .inventory import NicRef
from .model import VlanKind, vlan_label


class Outcome(enum.StrEnum):
    """What became of one node (or NIC) in a move; the words every face prints and the API carries."""

    SUCCESS = "success"
    """The switch was read back holding the port in the new VLAN (and, staged, the node answered there)."""
    FAILURE = "failure"
    """The move did not happen or did not finish for this node; the message says why and where it is."""
    UNCHANGED = "unchanged"
    """Nothing was done to it: already there, or not moved because another part of the move failed."""
    ROLLED_BACK = "rolled-back"
    """Staged move: it was switched, did not come back, and its port was put back."""
    PENDING = "pending"
    """Staged move: not decided yet."""


@dataclass(slots=True)
class PortMove:
    """One NIC's port to change: from its VLAN (and tag) as read, to the move's."""

    ref: NicRef
    name: str
    """The in-testbed name of the NIC: ``suno-2.sophia.grid5000.fr`` or ``uvb-3-eth1...``."""
    old_vlan: int | None
    new_vlan: int
    change: PortChange


@dataclass(slots=True)
class SwitchPlan:
    """One switch's part of a move: its port changes (one batch), and the commands its driver would send."""

    switch: str
    driver: str
    moves: list[PortMove] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[PortChange]:
        return [m.change for m in self.moves]


@dataclass(slots=True)
class Plan:
    """A move's port changes, per switch, and the NICs already in its VLAN; what a dry run prints."""

    vlan: int
    switches: list[SwitchPlan] = field(default_factory=list)
    unchanged: list[tuple[NicRef, str]] = field(default_factory=list)
    """NICs already in the VLAN, with their names."""

    @property
    def port_count(self) -> int:
        return sum(len(s.moves) for s in self.switches)

    def render(self) -> list[str]:
        lines = [
            f"plan: move {self.port_count} port(s) on {len(self.switches)} switch(es) into VLAN {vlan_label(self.vlan)}"
        ]
        for sp in self.switches:
            lines.append(f"switch {sp.switch} ({sp.driver}): {len(sp.moves)} port(s)")
            for m in sp.moves:
                old = vlan_label(m.old_vlan) if m.old_vlan is not None else f"tag {m.change.old_tag}"
                lines.append(
                    f"  {m.change.port:<28} {m.name}: VLAN {old} (tag {m.change.old_tag}) -> "
                    f"VLAN {vlan_label(m.new_vlan)} (tag {m.change.new_tag})"
                )
            for cmd in sp.commands:
                lines.append(f"    | {cmd}")
        for _ref, name in self.unchanged:
            lines.append(f"unchanged: {name} is already in VLAN {vlan_label(self.vlan)}")
        return lines

    def as_dict(self) -> dict[str, object]:
        return {
            "vlan": vlan_label(self.vlan),
            "switches": [
                {
                    "switch": sp.switch,
                    "driver": sp.driver,
                    "ports": [
                        {
                            "port": m.change.port,
                            "node": m.name,
                            "old_vlan": vlan_label(m.old_vlan) if m.old_vlan is not None else None,
                            "new_vlan": vlan_label(m.new_vlan),
                            "old_tag": m.change.old_tag,
                            "new_tag": m.change.new_tag,
                        }
                        for m in sp.moves
                    ],
                    "commands": sp.commands,
                }
                for sp in self.switches
            ],
            "unchanged": [name for _ref, name in self.unchanged],
        }


@dataclass(slots=True)
class NodeResult:
    """One NIC's outcome in a move of switch ports."""

    name: str
    """The NIC's name in the testbed (plain FQDN, ``-ethX`` for secondary NICs)."""
    status: Outcome
    message: str = ""
    switch: str = ""
    port: str = ""
    old_vlan: int | None = None
    new_vlan: int | None = None


@dataclass(slots=True)
class SwitchTiming:
    """How one switch's part of a move went."""

    switch: str
    ports: int
    seconds: float
    ok: bool
    error: str = ""
    tries: int = 1


@dataclass(slots=True)
class MoveReport:
    """Every node of a move with its outcome, the switches' timings and the plan that was applied."""

    vlan: int
    results: list[NodeResult] = field(default_factory=list)
    switches: list[SwitchTiming] = field(default_factory=list)
    seconds: float = 0.0
    plan: Plan | None = None
    dry_run: bool = False
    unreadable: list[UnreadableSwitch] = field(default_factory=list)
    """A repair: the switches it could not read (their ports were not checked, nor repaired)."""

    @property
    def failed(self) -> list[NodeResult]:
        return [r for r in self.results if r.status == Outcome.FAILURE]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unreadable

    def counts(self) -> dict[str, int]:
        out = {str(o): 0 for o in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNCHANGED)}
        for r in self.results:
            out[r.status] += 1
        return out


@dataclass(frozen=True, slots=True)
class VlanInfo:
    """A VLAN as a site's nodes see it: kind, holder, DHCP state, member count."""

    site: str
    id: int
    kind: VlanKind
    owner: str
    subnet: str
    tag: int
    job: int | None
    user: str | None
    dhcp: str
    members: int

    @property
    def label(self) -> str:
        return vlan_label(self.id)


@dataclass(frozen=True, slots=True)
class Member:
    """A NIC in a VLAN, under its in-VLAN name."""

    name: str
    """In-VLAN FQDN."""
    node: str
    nic: str
    site: str
    cluster: str
    switch: str
    port: str
    address: str
    job: int | None


@dataclass(frozen=True, slots=True)
class Drift:
    """A port whose VLAN on the switch differs from the store's."""

    switch: str
    port: str
    node: str
    nic: str
    expected: int
    actual: int | None
    actual_tag: int | None


@dataclass(frozen=True, slots=True)
class UnreadableSwitch:
    """A switch that drift or repair could not read: its ports, and its reason as one sentence."""

    switch: str
    ports: tuple[str, ...]
    reason: str
    """``cannot read switch NAME: REASON``."""


@dataclass(slots=True)
class DriftReport:
    """What drift found on a site's switches: the ports not in the store's VLAN, on the switches that answered,
    and each switch that could not be read (its ports were not checked)."""

    drifts: list[Drift] = field(default_factory=list)
    unreadable: list[UnreadableSwitch] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every switch of the site was read."""
        return not self.unreadable


@dataclass(frozen=True, slots=True)
class Lease:
    """One line of dnsmasq's lease file: ``expiry mac ip hostname client-id``."""

    expiry: int
    """Seconds since the epoch; 0 means never."""
    mac: str
    ip: str
    hostname: str
    """Empty when the client sent none (``*`` in the file)."""
    client_id: str
    """Empty when the client sent none (``*`` in the file)."""


@dataclass(slots=True)
class NodeOutcome:
    """One node's outcome in a staged move (at-safeguarded network restart)."""

    name: str
    status: Outcome = Outcome.PENDING
    """success, failure, unchanged (nothing was done to it), rolled-back."""
    message: str = ""
    old_vlan: int | None = None
    new_vlan: int | None = None
    at_job: str = ""
    """The at job of the restart that adopts the new VLAN."""
    undo_job: str = ""
    """The at job of the undo restart, which runs unless the move is confirmed on the node ("" once removed)."""
    port_vlan: int | None = None
    """Where its port is at the end (None: unknown, a switch that could not be read)."""
    answers_in: int | None = None
    """The VLAN it was last seen answering in, with an address of that VLAN (None: it was not seen answering
    after the move; a node the move left alone is not dialled)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds from the start: preflight, scheduled, switched, back (when it answered from its new VLAN),
    confirmed, returned (when it answered again where its port went back)."""


@dataclass(slots=True)
class StagedReport:
    """A staged move: every node's outcome, each stage's time, and the move of the ports inside it."""

    vlan: int
    nodes: list[NodeOutcome] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds each stage took."""
    move: MoveReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(n.status == Outcome.SUCCESS for n in self.nodes)

    @property
    def not_back(self) -> list[NodeOutcome]:
        return [
            n
            for n in self.nodes
            if n.status == Outcome.FAILURE
            and n.timings.get("switched") is not None
            and n.port_vlan == self.vlan
        ]


@dataclass(slots=True)
class DeployReport:
    """A deployment: what each part did (one sentence each), and every node's outcome in the VLAN part."""

    vlan: int
    environment: str
    installed: str = ""
    """What the site's deployment tool did: its command's outcome, or that there is no system to install."""
    key: str = ""
    dhcp: str = ""
    staged: StagedReport = field(default_factory=lambda: StagedReport(vlan=0))
    seconds: float = 0.0

    def state(self, node: NodeOutcome) -> str:
        """g5k-api's word for a node: OK when it answers in the VLAN (or was left there answering), else KO."""
        return "OK" if node.status == Outcome.SUCCESS else "KO"

    @property
    def ok(self) -> bool:
        return all(self.state(n) == "OK" for n in self.staged.nodes)
