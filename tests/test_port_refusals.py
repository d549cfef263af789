"""A port a driver refuses (``PortState.refused``) is refused alone, with the driver's reason, by the core: in a
move's plan, and in its read-back (the objects that place a port disagree after a write: a failure, rolled
back like any other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_inventory
from kavlan_core import inventory as inventory_mod
from kavlan_core.drivers.base import PortChange, PortState
from kavlan_core.inventory import Inventory
from kavlan_core.model import DEFAULT
from kavlan_core.moves import SwitchOutcome, read_back_error, verdicts
from kavlan_core.plan import PortMove, SwitchPlan, plan_move
from kavlan_core.reports import Outcome, SwitchTiming

# the small testbed: suno-1, suno-2 on sw1 (Gi1/0/1, Gi1/0/2), suno-3 on sw2 (Gi1/0/1); DEFAULT is tag 100,
# VLAN N is tag 700 + N
DOWN = "has dot1qPvid 100 but is a member of no VLAN: its VLAN is unknown"
HALF = "is an untagged member of VLAN 704 but has dot1qPvid 100"


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return inventory_mod.load(small_inventory(Path(tmp_path_factory.mktemp("refusals")) / "testbed.toml"))


def fqdn(node: str) -> str:
    return f"{node}.sophia.grid5000.fr"


def test_a_refused_port_is_refused_with_the_driver_s_reason(inv: Inventory) -> None:
    targets = [(ref, inv.hostname(ref, DEFAULT)) for ref in map(inv.resolve, ["suno-1", "suno-2", "suno-3"])]
    reads = {
        "sw1": {"Gi1/0/1": PortState(None, refused=DOWN), "Gi1/0/2": PortState(100)},
        "sw2": {"Gi1/0/1": PortState(100)},
    }
    planned = plan_move(4, targets, reads, inv)
    assert planned.refused
    assert [(r.name, r.status, r.message) for r in planned.results] == [
        (fqdn("suno-1"), Outcome.FAILURE, f"port Gi1/0/1 of sw1 {DOWN}"),
        (fqdn("suno-2"), Outcome.UNCHANGED, "not moved: another port of this move was refused"),
        (fqdn("suno-3"), Outcome.UNCHANGED, "not moved: another port of this move was refused"),
    ]
    # without the refused port, the others of the same switch are planned
    planned = plan_move(4, targets[1:], reads, inv)
    assert not planned.refused and planned.plan is not None
    assert [c.port for sp in planned.plan.switches for c in sp.changes] == ["Gi1/0/2", "Gi1/0/1"]


def test_a_read_back_that_disagrees_is_a_failure_with_the_reason(inv: Inventory) -> None:
    ref = inv.resolve("suno-1")
    moved = PortMove(ref, fqdn("suno-1"), DEFAULT, 4, PortChange("Gi1/0/1", 100, 704))
    sp = SwitchPlan("sw1", "snmp_qbridge", [moved])
    error = read_back_error(sp, {"Gi1/0/1": PortState(None, refused=HALF)})
    assert error is not None and error.ports == ("Gi1/0/1",)
    assert error.reason == f"after the write, port Gi1/0/1 {HALF} (read-back)"
    trunk = read_back_error(sp, {"Gi1/0/1": PortState(None, trunk=True)})
    assert (
        trunk is not None
        and trunk.reason == "after the write, port Gi1/0/1 reads back as a trunk (read-back)"
    )
    # the node's verdict: a failure, with the reason; the port could not be read back in a VLAN
    outcome = SwitchOutcome(
        sp, {"Gi1/0/1": PortState(None, refused=HALF)}, error, SwitchTiming("sw1", 1, 0.1, False)
    )
    results, held = verdicts([outcome], lambda switch, tag: {100: DEFAULT, 704: 4}.get(tag or 0))
    assert [(r.status, r.message) for r in results] == [
        (Outcome.FAILURE, f"{error.reason}; the port's VLAN could not be read back")
    ]
    assert held == {}
