"""KavlanService on simulated switches: moves, rights, read-back, rollback, DHCP, job expiry, drift."""

from __future__ import annotations

import pytest
from pg_fixture import BACKENDS

from conftest import run
from kavlan_core.errors import BadInput, NotAllowed, NotFound, Unavailable
from kavlan_core.events import MoveFinished, SwitchFinished, SwitchStarted
from kavlan_core.model import DEFAULT
from kavlan_core.reports import DriftReport

ROUTED = "{\"type='kavlan'\"}/vlan=1"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here that builds a service runs on SQLite and on PostgreSQL."""
    return str(request.param)


def test_the_store_is_the_backend_asked_for(make_service, backend):
    assert make_service().store.is_sqlite == (backend == "sqlite")


def reserve(svc, nodes: str = "nodes=2", vlan: str | None = ROUTED, **kw):
    request = f"{vlan},{nodes}" if vlan else nodes
    return run(svc.submit(request, **kw))


def vlan_of(svc, names):
    return dict(run(svc.vlan_of(names)))


def test_move_into_vlan_and_back(make_service):
    svc = make_service()
    job = reserve(svc, "{\"cluster='suno'\"}/nodes=3")
    vlan = job.vlans[0].vlan
    assert vlan in range(4, 10)
    report = run(svc.set_vlan(list(job.nodes), vlan))
    assert report.ok and report.counts()["success"] == 3
    assert set(vlan_of(svc, job.nodes).values()) == {vlan}
    # the switches really hold it: a fresh service (another process's view) reads the same ports
    assert run(make_service().drift()) == DriftReport()
    again = run(svc.set_vlan(list(job.nodes), vlan))
    assert [r.status for r in again.results] == ["unchanged"] * 3
    back = run(svc.set_vlan(list(job.nodes), DEFAULT))
    assert back.ok and set(vlan_of(svc, job.nodes).values()) == {DEFAULT}


def test_move_groups_by_switch_and_publishes_events(make_service):
    svc = make_service()
    job = reserve(svc, "nodes=8")
    seen = []
    svc.events.subscribe(seen.append)
    report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    assert report.ok
    assert sorted(t.switch for t in report.switches) == ["sw1", "sw2", "sw3", "sw4"]
    assert all(t.ports == 2 for t in report.switches)
    assert sum(isinstance(e, SwitchFinished) for e in seen) == 4
    assert isinstance(seen[-1], MoveFinished) and seen[-1].ok == 8


def test_dry_run_plans_without_changing(make_service):
    svc = make_service()
    job = reserve(svc, "nodes=3")
    vlan = job.vlans[0].vlan
    plan = run(svc.plan(list(job.nodes), vlan))
    assert plan.port_count == 3
    assert {sp.switch for sp in plan.switches} == {"sw1", "sw2"}
    text = "\n".join(plan.render())
    assert "suno-1.sophia.grid5000.fr" in text and f"VLAN {vlan} (tag {700 + vlan})" in text
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}


def test_someone_elses_nodes_are_refused_and_nothing_changes(make_service):
    alice = make_service("alice")
    bob = make_service("bob")
    a_job = reserve(alice, "nodes=2")
    b_job = reserve(bob, "nodes=2")
    with pytest.raises(NotAllowed) as err:
        run(bob.set_vlan([*b_job.nodes, a_job.nodes[0]], b_job.vlans[0].vlan))
    assert "Not enough privileges on Kavlan resources" in str(err.value)
    assert a_job.nodes[0] in str(err.value)
    assert [n for n, _ in err.value.refusals] == [f"{a_job.nodes[0]}.sophia.grid5000.fr"]
    assert set(vlan_of(bob, [*a_job.nodes, *b_job.nodes]).values()) == {DEFAULT}


def test_vlan_not_held_is_refused(make_service):
    alice = make_service("alice")
    job = reserve(alice, "nodes=1")
    other = 9 if job.vlans[0].vlan != 9 else 8
    with pytest.raises(NotAllowed, match=f"VLAN {other} of sophia is not held"):
        run(alice.set_vlan(list(job.nodes), other))


def test_vlan_and_nodes_in_two_jobs(make_service):
    """The tutorial's second part: the VLAN in one job, the nodes in another, both the user's."""
    svc = make_service()
    vjob = run(svc.submit("{\"type='kavlan-local'\"}/vlan=1,walltime=2"))
    njob = run(svc.submit("nodes=2"))
    assert vjob.nodes == () and vjob.walltime == 7200 and vjob.vlans[0].vlan in (1, 2, 3)
    report = run(svc.set_vlan(list(njob.nodes), vjob.vlans[0].vlan))
    assert report.ok


def test_bad_input(make_service):
    svc = make_service()
    job = reserve(svc, "nodes=1")
    with pytest.raises(BadInput, match="unknown node 'nosuch-1'"):
        run(svc.set_vlan(["nosuch-1"], job.vlans[0].vlan))
    with pytest.raises(BadInput, match="not a node name"):
        run(svc.set_vlan(["rm -rf /"], job.vlans[0].vlan))
    with pytest.raises(BadInput, match="out of range"):
        run(svc.set_vlan(list(job.nodes), 42))
    with pytest.raises(BadInput, match="belongs to no site"):
        run(svc.set_vlan(list(job.nodes), 20))
    with pytest.raises(NotFound, match="job 4242 does not exist"):
        run(svc.job_vlans(4242))
    run(svc.delete_job(job.id))
    with pytest.raises(NotFound, match="has ended"):
        run(svc.job_vlans(job.id))


def test_allocation_never_double_books(make_service):
    svc = make_service()
    jobs = [run(svc.submit("{\"type='kavlan'\"}/vlan=1")) for _ in range(6)]
    assert sorted(j.vlans[0].vlan for j in jobs) == [4, 5, 6, 7, 8, 9]
    with pytest.raises(Unavailable, match="no free kavlan VLAN on sophia"):
        run(svc.submit("{\"type='kavlan'\"}/vlan=1"))
    a = run(svc.submit("nodes=5"))
    with pytest.raises(Unavailable, match="asked for 4, 3 of 8 free"):
        run(svc.submit("nodes=4"))
    run(svc.delete_job(a.id))
    assert len(run(svc.submit("nodes=4")).nodes) == 4


def test_silently_dropped_write_is_a_failure(make_service):
    svc = make_service(options={"sw1": {"drop_ports": ["Gi1/0/2"]}})
    job = reserve(svc, "nodes=2")
    report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    status = {r.name.split(".")[0]: r for r in report.results}
    assert status["suno-2"].status == "failure"
    assert "did not change (read-back)" in status["suno-2"].message
    # the rest of the move was rolled back: the store records what the switch holds
    assert status["suno-1"].status == "unchanged" and "rolled back" in status["suno-1"].message
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}
    assert run(svc.drift()) == DriftReport()


def test_partial_failure_rolls_back_the_other_switches(make_service):
    """Four switches, the third fails mid-batch: the others are put back and every node is reported."""
    svc = make_service(options={"sw3": {"refuse_ports": ["Gi1/0/2"]}})
    job = reserve(svc, "nodes=8")
    vlan = job.vlans[0].vlan
    report = run(svc.set_vlan(list(job.nodes), vlan))
    assert not report.ok
    by_node = {r.name.split(".")[0]: r for r in report.results}
    assert sorted(by_node) == [f"suno-{i}" for i in range(1, 9)]
    assert (
        by_node["suno-6"].status == "failure" and "refused to set port Gi1/0/2" in by_node["suno-6"].message
    )
    for n in ("suno-1", "suno-2", "suno-3", "suno-4", "suno-5", "suno-7", "suno-8"):
        assert by_node[n].status == "unchanged", by_node[n]
        assert "switch sw3 failed" in by_node[n].message
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}
    assert run(svc.drift()) == DriftReport()


def test_timeout_is_retried_then_reported(make_service):
    svc = make_service(options={"sw2": {"timeout_ports": ["Gi1/0/1"], "timeout_s": 0.01}}, switch_retries=2)
    job = reserve(svc, "nodes=4")
    report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    sw2 = next(t for t in report.switches if t.switch == "sw2")
    assert not sw2.ok and "timed out" in sw2.error
    assert {r.name.split(".")[0]: r.status for r in report.results} == {
        "suno-1": "unchanged",
        "suno-2": "unchanged",
        "suno-3": "failure",
        "suno-4": "unchanged",
    }
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}


def test_unreachable_switch_changes_nothing(make_service):
    svc = make_service(options={"sw1": {"timeout": True, "timeout_s": 0.01}}, switch_retries=1)
    job = reserve(svc, "nodes=4")
    report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    statuses = {r.name.split(".")[0]: r.status for r in report.results}
    assert statuses == {
        "suno-1": "failure",
        "suno-2": "failure",
        "suno-3": "unchanged",
        "suno-4": "unchanged",
    }
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}


def test_dhcp_rights_and_idempotence(make_service):
    alice, bob = make_service("alice"), make_service("bob")
    job = reserve(alice, "nodes=1")
    vlan = job.vlans[0].vlan
    assert run(alice.dhcp(vlan, True)) == "on"
    assert run(alice.dhcp(vlan, True)) == "on"
    assert run(bob.dhcp_state(vlan)) == "on"
    with pytest.raises(NotAllowed):
        run(bob.dhcp(vlan, False))
    with pytest.raises(NotAllowed, match="DEFAULT"):
        run(alice.dhcp(DEFAULT, False))
    assert run(alice.dhcp(vlan, False)) == "off"


def test_job_expiry_puts_nodes_back_even_with_no_process_running(make_service):
    now = [1_000_000.0]
    svc = make_service(clock=lambda: now[0])
    job = run(svc.submit(ROUTED + ",nodes=2,walltime=0:10"))
    vlan = job.vlans[0].vlan
    run(svc.set_vlan(list(job.nodes), vlan))
    run(svc.dhcp(vlan, True))
    run(svc.close())
    # later, another process starts: the job has expired while nobody ran
    now[0] += 601
    later = make_service(clock=lambda: now[0])
    seen = []
    later.events.subscribe(seen.append)
    assert set(vlan_of(later, job.nodes).values()) == {DEFAULT}
    assert seen and {e.at for e in seen} == {
        now[0]
    }  # stamped with the service's clock, as the faces show them
    ended = run(later.job(job.id))
    assert ended.state.value == "Terminated"
    assert run(later.dhcp_state(vlan)) == "off"
    assert run(later.jobs(user="alice")) == []
    with pytest.raises(NotAllowed):
        run(later.set_vlan(list(job.nodes), vlan))


def test_deleting_the_vlan_job_empties_the_vlan(make_service):
    svc = make_service()
    vjob = run(svc.submit("{\"type='kavlan-local'\"}/vlan=1"))
    njob = run(svc.submit("nodes=2"))
    run(svc.set_vlan(list(njob.nodes), vjob.vlans[0].vlan))
    run(svc.delete_job(vjob.id))
    assert set(vlan_of(svc, njob.nodes).values()) == {DEFAULT}


def test_global_vlan_spans_sites(make_service):
    svc = make_service()
    job = run(svc.submit("{\"type='kavlan-global'\"}/vlan=1,nodes=1,{\"site='lille'\"}/nodes=2"))
    assert job.vlans[0].vlan == 18 and job.vlans[0].site == "sophia"
    assert sorted(job.nodes) == ["chetemi-1", "chetemi-2", "suno-1"]
    report = run(svc.set_vlan(list(job.nodes), 18))
    assert report.ok
    names = sorted(m.name for m in run(svc.members(18)))
    assert names == [
        "chetemi-1-kavlan-18.lille.grid5000.fr",
        "chetemi-2-kavlan-18.lille.grid5000.fr",
        "suno-1-kavlan-18.sophia.grid5000.fr",
    ]
    infos = {v.label: v for v in run(svc.vlans("lille"))}
    assert (
        infos["18"].kind.value == "kavlan-global"
        and infos["18"].owner == "sophia"
        and infos["18"].members == 3
    )


def test_drift_is_found_and_repaired(make_service):
    svc = make_service()
    admin = make_service("root")
    job = reserve(svc, "nodes=2")
    vlan = job.vlans[0].vlan
    run(svc.set_vlan(list(job.nodes), vlan))
    with svc.store.write() as tx:  # someone changes a port behind kavlan's back
        tx.sim_write("sw1", {"Gi1/0/1": 100})
    drift = run(svc.drift()).drifts
    assert [(d.node, d.expected, d.actual) for d in drift] == [("suno-1", vlan, DEFAULT)]
    with pytest.raises(NotAllowed):
        run(svc.repair())
    assert run(admin.repair()).ok
    assert run(svc.drift()) == DriftReport()


def test_secondary_nic_moves_alone(make_service, tmp_path):
    from kavlan_core import inventory

    inv = inventory.load(None)
    ref = inv.resolve("uvb-3-eth1.sophia.grid5000.fr")
    assert ref.nic.name == "eth1" and not ref.nic.primary
    assert inv.hostname(ref, 4) == "uvb-3-eth1-kavlan-4.sophia.grid5000.fr"
    assert inv.hostname(inv.resolve("uvb-3"), 4) == "uvb-3-kavlan-4.sophia.grid5000.fr"


def test_a_cancelled_move_still_verifies_and_records(make_service):
    """A caller that gives up (Ctrl-C, a cancelled TUI worker) must not leave the store and the switches apart."""
    import asyncio

    svc = make_service(options={"sw1": {"latency_ms": 150}})
    job = reserve(svc, "nodes=2")
    vlan = job.vlans[0].vlan

    async def give_up():
        applying = asyncio.Event()

        def seen(event):
            if isinstance(event, SwitchStarted):
                applying.set()

        unsubscribe = svc.events.subscribe(seen)
        task = asyncio.ensure_future(svc.set_vlan(list(job.nodes), vlan))
        await asyncio.wait_for(applying.wait(), 10)  # the read is done, the batch is on its way
        unsubscribe()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(give_up())
    assert run(svc.drift()) == DriftReport()
    assert set(vlan_of(svc, job.nodes).values()) == {vlan}


def test_simulated_nodes_are_never_dialled(make_service):
    from kavlan_core.errors import BadInput as Bad

    svc = make_service()
    job = reserve(svc, "nodes=1")
    with pytest.raises(Bad, match="is a simulated node"):
        svc.ssh_target(job.nodes[0], DEFAULT)
    with pytest.raises(Bad, match="is a simulated node"):
        run(svc.run(list(job.nodes), "hostname"))
    with pytest.raises(Bad, match="is a simulated node"):
        run(svc.move_with_restart(list(job.nodes), job.vlans[0].vlan, delay=5))
    assert set(vlan_of(svc, job.nodes).values()) == {DEFAULT}, "the staged move changed nothing"


def test_ssh_config_matches_the_tutorial(make_service):
    text = make_service().ssh_config("proxycommand")
    assert "Host *-*-kavlan-2 *-*-kavlan-2.*\n    ProxyCommand ssh -a -x kavlan-2 nc -q 0 %h %p\n" in text
