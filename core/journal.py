"""The intent journal's records, and what an unfinished move's ports, read again, call for.

A move writes its intent (who, into which VLAN, the job holding that VLAN, each port with its old and new tag) before
it touches a switch, records each switch's outcome as that switch completes, and deletes the intent in the
transaction that records the move. A job's end is an intent too, deleted once every NIC of the job's nodes and
VLANs is back in DEFAULT. An intent still in the store is unfinished: its process died, was stopped past its
deadline, or lost its database mid-way; :mod:`kavlan_core.recovery` settles it. The store keeps the records
(:mod:`kavlan_core.store`); the decision is here, a pure function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .drivers.base import PortChange, PortState
from .reports import Plan

MOVE, END, STAGED = "move", "end", "staged"
"""The kinds of intent: a move of ports, a job's end, a staged move between its switch and its verdict
(:mod:`kavlan_core.staged_journal`)."""
PLANNED, APPLIED, FAILED, CONFIRMED = "planned", "applied", "failed", "confirmed"
"""A port's state in the journal: written before any switch is touched; its switch applied the batch and read it
back (``tag`` says what it read); its switch failed; (a staged move's) its node confirmed in the new VLAN."""
COMPLETED, ROLLED_BACK = "completed", "rolled back"
"""How recovery settled an unfinished move."""


@dataclass(frozen=True, slots=True)
class IntentPort:
    """One port an intent changes: where it is cabled, its tag before, the tag the move sets."""

    switch: str
    port: str
    node: str
    nic: str
    old_tag: int
    """-1: the port had no tag when the move read it (it is never put back to that)."""
    new_tag: int
    state: str = PLANNED
    tag: int | None = None
    """The tag its switch was read back with after the apply (None: not read back yet, or unreadable)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.nic)


@dataclass(frozen=True, slots=True)
class Intent:
    """An unfinished move or job's end, as the journal holds it."""

    id: int
    kind: str
    user: str
    vlan: int
    """The move's VLAN (DEFAULT for a job's end)."""
    job: int | None
    """A move: the running job that held its VLAN when it began (None: DEFAULT, or an administrator's move into a
    VLAN nobody held); a job's end: the job."""
    created: float
    owner: str
    """``host:pid`` of the process that wrote it: for the sentences that tell what was found."""
    attempts: int = 0
    """How often recovery tried and could not settle it (a switch that does not answer)."""
    retry_at: float = 0.0
    """Recovery leaves it alone until then (a failed attempt waits before the next)."""
    note: str = ""
    """Why the last attempt could not settle it."""
    ports: tuple[IntentPort, ...] = ()

    @property
    def switches(self) -> list[str]:
        return sorted({p.switch for p in self.ports})

    def describe(self) -> str:
        """``move of 3 port(s) into VLAN 4 by alice (job 1000)``, ``end of job 1000``."""
        from .model import vlan_label

        if self.kind == END:
            return f"end of job {self.job}"
        if self.kind == STAGED:
            return (
                f"staged move of {len(self.ports)} node(s) into VLAN {vlan_label(self.vlan)} by {self.user}"
            )
        job = f", job {self.job}" if self.job is not None else ""
        return f"move of {len(self.ports)} port(s) into VLAN {vlan_label(self.vlan)} by {self.user}{job}"


def ports_of(plan: Plan) -> list[IntentPort]:
    """The ports a plan changes, as the journal records them before the first switch is touched."""
    return [
        IntentPort(
            sp.switch, m.change.port, m.ref.node.name, m.ref.nic.name, m.change.old_tag, m.change.new_tag
        )
        for sp in plan.switches
        for m in sp.moves
    ]


@dataclass(slots=True)
class Settlement:
    """What recovery does with an unfinished move whose ports it read again."""

    complete: bool
    """Every port holds its new tag and the move is still allowed: record it as done."""
    undo: dict[str, list[PortChange]] = field(default_factory=dict)
    """Otherwise, per switch, the ports to put back (those holding the new tag, back to the old one)."""


def settle(intent: Intent, reads: Mapping[str, Mapping[str, PortState]], allowed: bool) -> Settlement:
    """The rule of a normal move, applied to an unfinished one: it stands only whole and allowed (the job holding
    its VLAN still runs, the user may still move those nodes); else every port it changed goes back."""
    at_new = [p for p in intent.ports if _tag(reads, p) == p.new_tag]
    if allowed and len(at_new) == len(intent.ports):
        return Settlement(complete=True)
    undo: dict[str, list[PortChange]] = {}
    for p in at_new:
        if p.old_tag >= 0 and p.old_tag != p.new_tag:
            undo.setdefault(p.switch, []).append(PortChange(p.port, p.new_tag, p.old_tag))
    return Settlement(complete=False, undo=undo)


def _tag(reads: Mapping[str, Mapping[str, PortState]], port: IntentPort) -> int | None:
    state = reads.get(port.switch, {}).get(port.port)
    return state.tag if state is not None else None


class StagedRecord(Protocol):
    """A staged move's intent as its process holds it (:mod:`kavlan_core.staged_journal`): nodes ``confirmed`` as
    they are, ``close`` at the verdict, ``release`` always."""

    def confirmed(self, ports: Sequence[IntentPort]) -> None: ...

    def close(self) -> None: ...

    def release(self) -> None: ...
