"""Planning a move: a pure function from the ports read on the switches to the plan (per switch, the port
changes; the plan's types are results, in :mod:`kavlan_core.reports`) and the NICs it refuses or leaves alone.

Nothing here talks to a switch or to the store: the caller reads, this decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .drivers.base import PortChange, PortState, SwitchError
from .inventory import Inventory, NicRef
from .model import vlan_label
from .reports import NodeResult, Outcome, Plan, PortMove, SwitchPlan

__all__ = [
    "Plan",
    "Planned",
    "PortMove",
    "SwitchPlan",
    "Reads",
    "Targets",
    "by_switch",
    "keep_only",
    "not_begun",
    "plan_move",
]

Targets = Sequence[tuple[NicRef, str]]
"""The NICs of a move with their names, in the order the user gave them."""
Reads = Mapping[str, Mapping[str, PortState] | SwitchError]
"""What each switch of a move answered to the planning read: its ports' state, or its error."""


# --- planning ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Planned:
    """What planning decided: the plan, and the NICs it already settled (refused, or left alone)."""

    plan: Plan | None
    """None when a switch could not be read: nothing is planned on a half-read testbed."""
    results: list[NodeResult] = field(default_factory=list)
    """In the order a move reports them: refusals first, then the NICs left alone because of them; or, when
    nothing was refused, the NICs already in the VLAN."""
    refused: bool = False
    """A NIC was refused (its switch unreadable, its port a trunk): nothing may be applied."""


def by_switch(targets: Targets) -> dict[str, list[tuple[NicRef, str]]]:
    """The NICs of a move grouped by switch, in the order each switch first appears."""
    out: dict[str, list[tuple[NicRef, str]]] = {}
    for ref, name in targets:
        out.setdefault(ref.nic.switch, []).append((ref, name))
    return out


def plan_move(vlan: int, targets: Targets, reads: Reads, inventory: Inventory) -> Planned:
    """The plan of moving ``targets`` into ``vlan``, from what their switches answered (``reads``): per switch,
    the ports to change; trunk ports refused; ports already in the VLAN left alone. A refusal anywhere leaves
    every other NIC unchanged too: a move happens whole or not at all."""
    unreadable = {s: r for s, r in reads.items() if isinstance(r, SwitchError)}
    if unreadable:
        return Planned(None, _unreadable(targets, unreadable), refused=True)
    plan = Plan(vlan=vlan)
    refusals: list[NodeResult] = []
    for switch, members in by_switch(targets).items():
        states = reads[switch]
        assert not isinstance(states, SwitchError)
        sp = _plan_switch(vlan, switch, members, states, inventory, plan, refusals)
        if sp.moves:
            plan.switches.append(sp)
    if refusals:
        return Planned(plan, refusals + _left_alone(targets, refusals), refused=True)
    return Planned(plan, [_already_there(vlan, ref, name) for ref, name in plan.unchanged])


def _plan_switch(
    vlan: int,
    switch: str,
    members: Sequence[tuple[NicRef, str]],
    states: Mapping[str, PortState],
    inventory: Inventory,
    plan: Plan,
    refusals: list[NodeResult],
) -> SwitchPlan:
    """One switch's part of the plan; its trunk ports and the ports its driver refuses (with the driver's reason)
    go to ``refusals``, its ports already there to the plan's ``unchanged``."""
    sw = inventory.switches[switch]
    sp = SwitchPlan(switch=switch, driver=sw.driver)
    new_tag = inventory.tag(sw.site, vlan)
    for ref, name in members:
        state = states.get(ref.nic.port)
        old_tag = state.tag if state else None
        if state is not None and state.refused:
            why = f"port {ref.nic.port} of {switch} {state.refused}"
            refusals.append(_result(name, ref, why, failed=True))
        elif state is not None and state.trunk:
            why = f"port {ref.nic.port} of {switch} is a trunk: refusing to touch it"
            refusals.append(_result(name, ref, why, failed=True))
        elif old_tag == new_tag:
            plan.unchanged.append((ref, name))
        else:
            old_vlan = None if old_tag is None else inventory.vlan_of_tag(sw.site, old_tag)
            change = PortChange(ref.nic.port, old_tag if old_tag is not None else -1, new_tag)
            sp.moves.append(PortMove(ref, name, old_vlan, vlan, change))
    return sp


def _unreadable(targets: Targets, unreadable: Mapping[str, SwitchError]) -> list[NodeResult]:
    """Every NIC of an unreadable switch fails; every other NIC is left alone."""
    groups = by_switch(targets)
    failed = [
        _result(name, ref, f"cannot read switch {switch}: {error.reason}", failed=True)
        for switch, error in unreadable.items()
        for ref, name in groups[switch]
    ]
    spared = [
        _result(name, ref, "not moved: another switch of this move failed", failed=False)
        for switch, members in groups.items()
        if switch not in unreadable
        for ref, name in members
    ]
    return failed + spared


def _left_alone(targets: Targets, refusals: Sequence[NodeResult]) -> list[NodeResult]:
    refused = {r.name for r in refusals}
    why = "not moved: another port of this move was refused"
    return [_result(name, ref, why, failed=False) for ref, name in targets if name not in refused]


def _already_there(vlan: int, ref: NicRef, name: str) -> NodeResult:
    return _result(name, ref, f"already in VLAN {vlan_label(vlan)}", failed=False, vlan=vlan)


def _result(name: str, ref: NicRef, why: str, *, failed: bool, vlan: int | None = None) -> NodeResult:
    """A NIC planning settled: failed (refused), or unchanged; ``vlan`` when it is already there."""
    outcome = Outcome.FAILURE if failed else Outcome.UNCHANGED
    return NodeResult(name, outcome, why, ref.nic.switch, ref.nic.port, vlan, vlan)


def keep_only(planned: Planned, keep: Callable[[PortMove], bool] | None) -> Planned:
    """The plan without the ports ``keep`` refuses, as the switches were read holding them (a job's end moves
    only the ports still the job's); each of those NICs is reported unchanged."""
    if keep is None or planned.plan is None or planned.refused:
        return planned
    plan = planned.plan
    dropped: list[NodeResult] = []
    for sp in plan.switches:
        kept: list[PortMove] = []
        for m in sp.moves:
            if keep(m):
                kept.append(m)
            else:
                why = "left alone: it is not the job's any more"
                dropped.append(_result(m.name, m.ref, why, failed=False, vlan=m.old_vlan))
        sp.moves = kept
    plan.switches = [sp for sp in plan.switches if sp.moves]
    return Planned(plan, planned.results + dropped)


def not_begun(plan: Plan, why: str) -> list[NodeResult]:
    """Every NIC a plan would have moved, unchanged: the move stopped before it touched a switch."""
    return [
        _result(m.name, m.ref, why, failed=False, vlan=m.old_vlan) for sp in plan.switches for m in sp.moves
    ]
