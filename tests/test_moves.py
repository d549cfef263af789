"""A move's steps on the switches (apply and read back, roll back) and the per-node verdicts, one row per branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run, small_inventory
from kavlan_core import inventory as inventory_mod
from kavlan_core.drivers.base import PortChange, PortState, SwitchError, SwitchTimeout
from kavlan_core.events import SwitchFinished, SwitchStarted
from kavlan_core.inventory import Inventory
from kavlan_core.model import DEFAULT
from kavlan_core.moves import (
    SwitchOutcome,
    apply_plan,
    read_back_error,
    read_switches,
    roll_back,
    verdict,
    verdicts,
)
from kavlan_core.plan import PortMove, SwitchPlan, by_switch, plan_move
from kavlan_core.reports import NodeResult, Outcome, SwitchTiming


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return inventory_mod.load(small_inventory(Path(tmp_path_factory.mktemp("moves")) / "testbed.toml"))


def move(inv: Inventory, node: str = "suno-1", old_vlan: int | None = DEFAULT, vlan: int = 4) -> PortMove:
    ref = inv.resolve(node)
    old_tag = 100 if old_vlan == DEFAULT else 700 + (old_vlan or 0)
    return PortMove(
        ref, f"{node}.sophia.grid5000.fr", old_vlan, vlan, PortChange(ref.nic.port, old_tag, 700 + vlan)
    )


OTHER = "switch sw2 failed: refused to set port Gi1/0/1 to VLAN tag 704"
REFUSED = SwitchError("sw1", "refused to set port Gi1/0/1 to VLAN tag 704", ports=["Gi1/0/1"])
REFUSED_OTHER_PORT = SwitchError("sw1", "refused to set port Gi1/0/2 to VLAN tag 704", ports=["Gi1/0/2"])
NO_ANSWER = SwitchTimeout("sw1", "no answer (timed out)")
DROPPED = SwitchError(
    "sw1",
    "the switch acknowledged the write but port(s) Gi1/0/1 did not change (read-back)",
    ports=["Gi1/0/1"],
)

# (read back, own switch's error, any switch failed, cause) -> (outcome, message, VLAN reported)
VERDICTS = [
    pytest.param(4, None, False, "", Outcome.SUCCESS, "", 4, id="success"),
    pytest.param(
        DEFAULT,
        REFUSED,
        True,
        "switch sw1 failed: " + REFUSED.reason,
        Outcome.FAILURE,
        "refused to set port Gi1/0/1 to VLAN tag 704 (the port is in VLAN DEFAULT)",
        DEFAULT,
        id="failure with the switch's reason",
    ),
    pytest.param(
        DEFAULT,
        NO_ANSWER,
        True,
        "switch sw1 failed: no answer (timed out)",
        Outcome.FAILURE,
        "no answer (timed out) (the port is in VLAN DEFAULT)",
        DEFAULT,
        id="failure of the whole switch (no port named)",
    ),
    pytest.param(
        DEFAULT,
        None,
        True,
        OTHER,
        Outcome.UNCHANGED,
        f"rolled back because {OTHER}",
        DEFAULT,
        id="unchanged: another switch failed, rolled back",
    ),
    pytest.param(
        DEFAULT,
        REFUSED_OTHER_PORT,
        True,
        "switch sw1 failed: " + REFUSED_OTHER_PORT.reason,
        Outcome.UNCHANGED,
        "rolled back because switch sw1 failed: refused to set port Gi1/0/2 to VLAN tag 704",
        DEFAULT,
        id="unchanged: another port of its switch failed, rolled back",
    ),
    pytest.param(
        4,
        None,
        True,
        OTHER,
        Outcome.FAILURE,
        f"{OTHER}; rollback failed, the port stays in VLAN 4",
        4,
        id="rolled back, but the rollback failed: the port stays in the new VLAN",
    ),
    pytest.param(
        4,
        REFUSED_OTHER_PORT,
        True,
        OTHER,
        Outcome.FAILURE,
        "refused to set port Gi1/0/2 to VLAN tag 704; rollback failed, the port stays in VLAN 4",
        4,
        id="its own switch failed and its rollback too",
    ),
    pytest.param(
        None,
        None,
        True,
        OTHER,
        Outcome.FAILURE,
        f"{OTHER}; the port's VLAN could not be read back",
        None,
        id="the port's VLAN could not be read back",
    ),
    pytest.param(
        None,
        NO_ANSWER,
        True,
        "switch sw1 failed: no answer (timed out)",
        Outcome.FAILURE,
        "no answer (timed out); the port's VLAN could not be read back",
        None,
        id="its own switch stopped answering",
    ),
    pytest.param(
        DEFAULT,
        DROPPED,
        True,
        "switch sw1 failed: " + DROPPED.reason,
        Outcome.FAILURE,
        "the switch acknowledged the write but port(s) Gi1/0/1 did not change (read-back) (the port is in VLAN DEFAULT)",
        DEFAULT,
        id="read-back disagreeing with what the switch acknowledged",
    ),
]


@pytest.mark.parametrize(
    ("read_back", "error", "any_failed", "cause", "status", "message", "new_vlan"), VERDICTS
)
def test_verdict(inv, read_back, error, any_failed, cause, status, message, new_vlan):
    assert verdict(move(inv), read_back, error, any_failed, cause) == NodeResult(
        "suno-1.sophia.grid5000.fr", status, message, "sw1", "Gi1/0/1", DEFAULT, new_vlan
    )


def test_read_back_catches_a_silently_dropped_write(inv):
    sp = SwitchPlan("sw1", "simulated", [move(inv, "suno-1"), move(inv, "suno-2")])
    assert read_back_error(sp, {"Gi1/0/1": PortState(704), "Gi1/0/2": PortState(704)}) is None
    error = read_back_error(sp, {"Gi1/0/1": PortState(100), "Gi1/0/2": PortState(704)})
    assert error is not None and (error.switch, error.reason, error.ports) == (
        "sw1",
        "the switch acknowledged the write but port(s) Gi1/0/1 did not change (read-back)",
        ("Gi1/0/1",),
    )
    missing = read_back_error(sp, {"Gi1/0/1": PortState(704)})
    assert missing is not None and missing.ports == ("Gi1/0/2",)


def test_verdicts_record_only_what_was_read_back(inv):
    a, b, c = move(inv, "suno-1"), move(inv, "suno-2"), move(inv, "suno-3")
    timing = SwitchTiming("sw1", 2, 0.1, False)
    outcomes = [
        SwitchOutcome(SwitchPlan("sw1", "simulated", [a, b]), {"Gi1/0/1": PortState(100)}, REFUSED, timing),
        SwitchOutcome(SwitchPlan("sw2", "simulated", [c]), None, None, SwitchTiming("sw2", 1, 0.1, True)),
    ]
    results, held = verdicts(outcomes, lambda switch, tag: {100: DEFAULT, 704: 4}.get(tag))  # type: ignore[arg-type]
    assert [(r.name.split(".")[0], r.status) for r in results] == [
        ("suno-1", Outcome.FAILURE),
        ("suno-2", Outcome.FAILURE),
        ("suno-3", Outcome.FAILURE),
    ]
    unread = "the port's VLAN could not be read back"
    assert results[1].message == f"{REFUSED.reason}; {unread}"  # its own switch's reason
    assert results[2].message == f"switch sw1 failed: {REFUSED.reason}; {unread}"  # the move's cause
    assert held == {a.ref.key: DEFAULT}  # suno-2 and suno-3 were not read back: the store keeps what it had


def test_apply_reads_back_and_rollback_restores(make_service):
    svc = make_service(options={"sw1": {"latency_ms": 30}, "sw2": {"drop_ports": ["Gi1/0/2"]}})
    targets = [
        (ref, svc.inventory.hostname(ref, DEFAULT))
        for ref in map(svc.inventory.resolve, ["suno-1", "suno-3", "suno-4"])
    ]
    seen: list = []

    async def go() -> list[SwitchOutcome]:
        groups = by_switch(targets)
        async with svc.switches.hold(groups):
            planned = plan_move(4, targets, await read_switches(svc.switches, groups), svc.inventory)
            assert planned.plan is not None and not planned.refused
            outcomes = await apply_plan(svc.switches, planned.plan, seen.append)
            applied = {o.switch: (o.error, o.tag_of("Gi1/0/1"), o.tag_of("Gi1/0/2")) for o in outcomes}
            assert applied["sw1"] == (None, 704, None)
            error, *tags = applied["sw2"]
            assert error is not None and error.ports == ("Gi1/0/2",) and tags == [704, 100]
            await roll_back(svc.switches, outcomes, seen.append)
            return outcomes

    outcomes = run(go())
    assert [o.tag_of("Gi1/0/1") for o in outcomes] == [100, 100]  # read back again after the rollback
    assert [o.timing.ok for o in outcomes] == [True, False]
    finished = [e for e in seen if isinstance(e, SwitchFinished) and e.action == "apply"]
    assert [e.switch for e in finished] == ["sw1", "sw2"]  # the plan's order, though sw1 answered last
    assert "did not change (read-back)" in finished[1].error
    rolled = [
        (type(e).__name__, e.switch, e.ports if isinstance(e, SwitchStarted) else e.ok)
        for e in seen
        if e.action == "rollback"
    ]
    assert sorted(rolled) == [
        ("SwitchFinished", "sw1", True),
        ("SwitchFinished", "sw2", True),
        ("SwitchStarted", "sw1", 1),
        ("SwitchStarted", "sw2", 1),  # only the port that changed: the dropped one is already where it was
    ]


def test_the_simulated_driver_gets_its_ports_through_a_typed_context(make_service):
    from kavlan_core.drivers.base import DriverContext
    from kavlan_core.drivers.simulated import LocalPorts, SimulatedDriver
    from kavlan_core.model import Switch

    alone = SimulatedDriver(Switch("sw9", "sophia", "simulated"))  # no core: its ports live in this process
    assert run(alone.read_ports(["p1"])) == {"p1": PortState(1)}
    run(alone.apply([PortChange("p1", 1, 704)]))
    assert run(alone.read_ports(["p1", "p2"])) == {"p1": PortState(704), "p2": PortState(1)}

    memory = LocalPorts()
    given = SimulatedDriver(Switch("sw9", "sophia", "simulated"), context=DriverContext(100, memory))
    run(given.apply([PortChange("p2", 100, 705)]))
    assert memory.read("sw9", ["p1", "p2"]) == {"p2": 705}

    svc = make_service()  # the core hands its drivers the store's memory: every process sees one testbed
    run(svc.switches.driver("sw1").apply([PortChange("Gi1/0/1", 100, 704)]))
    with svc.store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/1"]) == {"Gi1/0/1": 704}
    assert run(make_service().switches.driver("sw1").read_ports(["Gi1/0/1", "Gi1/0/2"])) == {
        "Gi1/0/1": PortState(704),
        "Gi1/0/2": PortState(100),
    }
