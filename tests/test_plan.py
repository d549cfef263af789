"""Planning a move, a pure function: from what the switches answered to the plan and the NICs it settles."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_inventory
from kavlan_core import inventory as inventory_mod
from kavlan_core.drivers.base import PortChange, PortState, SwitchError, SwitchTimeout
from kavlan_core.inventory import Inventory
from kavlan_core.model import DEFAULT
from kavlan_core.plan import Planned, by_switch, plan_move
from kavlan_core.reports import Outcome

# the small testbed: suno-1, suno-2 on sw1 (Gi1/0/1, Gi1/0/2), suno-3, suno-4 on sw2, ...; site sophia's DEFAULT
# is tag 100, VLAN N is tag 700 + N
NODES = ["suno-1", "suno-3", "suno-2"]


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return inventory_mod.load(small_inventory(Path(tmp_path_factory.mktemp("plan")) / "testbed.toml"))


def targets(inv: Inventory, nodes: list[str] = NODES) -> list:
    return [(ref, inv.hostname(ref, DEFAULT)) for ref in map(inv.resolve, nodes)]


def fqdn(node: str) -> str:
    return f"{node}.sophia.grid5000.fr"


def plan(inv: Inventory, vlan: int, reads: dict, nodes: list[str] = NODES) -> Planned:
    return plan_move(vlan, targets(inv, nodes), reads, inv)


def test_nics_are_grouped_by_switch_in_the_order_given(inv):
    groups = by_switch(targets(inv))
    assert list(groups) == ["sw1", "sw2"]
    assert [name for _ref, name in groups["sw1"]] == [fqdn("suno-1"), fqdn("suno-2")]


def test_ports_to_change_per_switch(inv):
    reads = {
        "sw1": {"Gi1/0/1": PortState(100), "Gi1/0/2": PortState(705)},
        "sw2": {"Gi1/0/1": PortState(100)},
    }
    planned = plan(inv, 4, reads)
    assert not planned.refused and planned.results == []
    assert planned.plan is not None
    assert [(sp.switch, sp.driver) for sp in planned.plan.switches] == [
        ("sw1", "simulated"),
        ("sw2", "simulated"),
    ]
    sw1 = planned.plan.switches[0]
    assert sw1.changes == [PortChange("Gi1/0/1", 100, 704), PortChange("Gi1/0/2", 705, 704)]
    assert [(m.name, m.old_vlan, m.new_vlan) for m in sw1.moves] == [
        (fqdn("suno-1"), DEFAULT, 4),
        (fqdn("suno-2"), 5, 4),
    ]
    assert sw1.commands == []  # the driver's (the service asks it): planning talks to no one


def test_a_port_already_there_is_left_alone(inv):
    reads = {
        "sw1": {"Gi1/0/1": PortState(704), "Gi1/0/2": PortState(100)},
        "sw2": {"Gi1/0/1": PortState(704)},
    }
    planned = plan(inv, 4, reads)
    assert not planned.refused and planned.plan is not None
    assert [sp.switch for sp in planned.plan.switches] == ["sw1"]
    assert [name for _ref, name in planned.plan.unchanged] == [fqdn("suno-1"), fqdn("suno-3")]
    assert [(r.name, r.status, r.message, r.old_vlan, r.new_vlan) for r in planned.results] == [
        (fqdn("suno-1"), Outcome.UNCHANGED, "already in VLAN 4", 4, 4),
        (fqdn("suno-3"), Outcome.UNCHANGED, "already in VLAN 4", 4, 4),
    ]


def test_a_tag_no_vlan_has_and_a_port_the_switch_did_not_report(inv):
    reads = {"sw1": {"Gi1/0/1": PortState(999)}, "sw2": {"Gi1/0/1": PortState(None)}}
    planned = plan(inv, 4, reads)
    assert planned.plan is not None
    moves = {m.name: m for sp in planned.plan.switches for m in sp.moves}
    assert (moves[fqdn("suno-1")].old_vlan, moves[fqdn("suno-1")].change.old_tag) == (None, 999)
    assert (moves[fqdn("suno-2")].old_vlan, moves[fqdn("suno-2")].change.old_tag) == (
        None,
        -1,
    )  # not in the read
    assert (moves[fqdn("suno-3")].old_vlan, moves[fqdn("suno-3")].change.old_tag) == (None, -1)  # no tag


ROWS = [
    pytest.param(
        {"sw1": {"Gi1/0/1": PortState(None, trunk=True), "Gi1/0/2": PortState(100)}, "sw2": {}},
        [
            (fqdn("suno-1"), Outcome.FAILURE, "port Gi1/0/1 of sw1 is a trunk: refusing to touch it"),
            (fqdn("suno-3"), Outcome.UNCHANGED, "not moved: another port of this move was refused"),
            (fqdn("suno-2"), Outcome.UNCHANGED, "not moved: another port of this move was refused"),
        ],
        True,
        id="a trunk port refuses the whole move",
    ),
    pytest.param(
        {"sw1": {}, "sw2": SwitchTimeout("sw2", "no answer (timed out)")},
        [
            (fqdn("suno-3"), Outcome.FAILURE, "cannot read switch sw2: no answer (timed out)"),
            (fqdn("suno-1"), Outcome.UNCHANGED, "not moved: another switch of this move failed"),
            (fqdn("suno-2"), Outcome.UNCHANGED, "not moved: another switch of this move failed"),
        ],
        False,
        id="an unreadable switch: nothing is planned",
    ),
    pytest.param(
        {"sw1": SwitchError("sw1", "bad community"), "sw2": SwitchError("sw2", "no route")},
        [
            (fqdn("suno-1"), Outcome.FAILURE, "cannot read switch sw1: bad community"),
            (fqdn("suno-2"), Outcome.FAILURE, "cannot read switch sw1: bad community"),
            (fqdn("suno-3"), Outcome.FAILURE, "cannot read switch sw2: no route"),
        ],
        False,
        id="every switch unreadable",
    ),
]


@pytest.mark.parametrize(("reads", "expected", "has_plan"), ROWS)
def test_refusals(inv, reads, expected, has_plan):
    planned = plan(inv, 4, reads)
    assert planned.refused
    assert [(r.name, r.status, r.message) for r in planned.results] == expected
    assert all(
        (r.switch, r.port) == (ref.nic.switch, ref.nic.port)
        for r in planned.results
        for ref in [inv.resolve(r.name)]
    )
    assert (planned.plan is not None) == has_plan
