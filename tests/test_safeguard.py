"""The staged move's stages (preflight, schedule, switch, verify, roll back) on simulated switches, with the
nodes' SSH answers played by a fake that answers from the VLAN each node's port is really in."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Sequence

import pytest

from conftest import run
from kavlan_core import testpoints
from kavlan_core.access import homing, safeguard
from kavlan_core.access.safeguard import ADDRESSES, PROBE, Restart, StagedMove
from kavlan_core.access.ssh import RunResult, Target
from kavlan_core.errors import BadInput, NoDhcp, NotAllowed
from kavlan_core.events import Event, IntentSettled, NodeUnavailable, SafeguardStep
from kavlan_core.journal import END, STAGED
from kavlan_core.model import DEFAULT
from kavlan_core.reports import Outcome
from kavlan_core.service import KavlanService
from kavlan_tui.present import sentence

ROUTED = "{\"type='kavlan'\"}/vlan=1"
SUNO = "{\"cluster='suno'\"}/nodes=2"


class Nodes:
    """The nodes over SSH: reached in a VLAN, each answers only where its port is (after the restart)."""

    def __init__(
        self,
        svc: KavlanService,
        *,
        no_at: Collection[str] = (),
        unreachable: Collection[str] = (),
        at_refuses: Collection[str] = (),
        never_back: Collection[str] = (),
        lost: Collection[str] = (),
    ) -> None:
        self.svc = svc
        self.no_at, self.unreachable = set(no_at), set(unreachable)
        self.at_refuses, self.never_back = set(at_refuses), set(never_back)
        self.lost = set(lost)
        self.consoled: set[str] = set()
        """Lost nodes a console command brought back (the test's console script adds them)."""
        """never_back: gets no address outside DEFAULT (its undo restart brings it back there); lost: none at all."""
        self.sent: list[tuple[str, str]] = []
        """(node, the command's first word) in the order they were run."""
        svc.ssh_target = self.target  # type: ignore[method-assign]
        svc.run_targets = self.run_targets  # type: ignore[method-assign]

    def target(self, name: str, vlan: int) -> Target:
        return Target(host=name, address=f"{name}@{vlan}")

    async def run_targets(
        self, targets: Sequence[Target], command: str, *, per_host_timeout: float = 60.0
    ) -> list[RunResult]:
        return [await self.answer(t, command) for t in targets]

    async def answer(self, target: Target, command: str) -> RunResult:
        assert target.address is not None
        name, vlan = target.host, int(target.address.split("@")[1])
        self.sent.append((name.split(".")[0], command.split()[0]))
        ((_, port_vlan),) = await self.svc.vlan_of([name])
        if name.split(".")[0] in self.unreachable or vlan != port_vlan:
            return RunResult(name, None, error=f"no SSH answer from {name}")
        if command == PROBE:
            return RunResult(name, 0, "at-missing" if name.split(".")[0] in self.no_at else "at-ok")
        if "| at now" in command:
            if name.split(".")[0] in self.at_refuses:
                return RunResult(name, 1, "Can't open /var/run/atd.pid to signal atd. No atd running?")
            at = "warning: commands will be executed using /bin/sh\njob {} at Thu\n"
            return RunResult(name, 0, at.format(17) + at.format(18))
        if command.startswith("atrm "):
            return RunResult(name, 0)
        assert command == ADDRESSES
        plain = name.split(".")[0]
        if plain in self.lost and plain in self.consoled:
            pass  # its console brought it back
        elif plain in self.lost or (plain in self.never_back and vlan != DEFAULT):
            return RunResult(name, None, error=f"no route to {name}")
        node = self.svc.inventory.resolve(name).node
        return RunResult(name, 0, f"2: eth0    inet {self.svc.inventory.address(node, vlan)}/18 brd")

    def of(self, word: str) -> list[str]:
        """The nodes a command went to, in order."""
        return [node for node, first in self.sent if first == word]


def steps(svc: KavlanService) -> list[Event]:
    """Every event the service publishes from now on."""
    seen: list[Event] = []
    svc.events.subscribe(seen.append)
    return seen


def stages(seen: list[Event]) -> list[str]:
    return [e.stage for e in seen if isinstance(e, SafeguardStep)]


def places(svc: KavlanService, names: Sequence[str]) -> dict[str, int]:
    return {name.split(".")[0]: vlan for name, vlan in run(svc.vlan_of(names))}


def test_a_staged_move_schedules_switches_and_sees_every_node_back(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{{\"cluster='suno'\"}}/nodes=3"))
    vlan = job.vlans[0].vlan
    run(svc.set_vlan([job.nodes[2]], vlan))  # already there: unchanged, and never dialled
    nodes, seen = Nodes(svc), steps(svc)

    report = run(svc.move_with_restart(list(job.nodes), vlan, delay=2, verify_timeout=5))

    by_name = {n.name.split(".")[0]: n for n in report.nodes}
    assert [by_name[n].status for n in job.nodes] == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.UNCHANGED]
    assert by_name[job.nodes[2]].message == f"already in VLAN {vlan}"
    assert set(by_name[job.nodes[0]].timings) == {"preflight", "scheduled", "switched", "back", "confirmed"}
    assert (by_name[job.nodes[0]].at_job, by_name[job.nodes[0]].undo_job) == ("17", ""), (
        "confirmed: undo removed"
    )
    assert by_name[job.nodes[0]].answers_in == by_name[job.nodes[0]].port_vlan == vlan
    assert list(report.stages) == ["preflight", "schedule", "switch", "verify", "confirm"]
    assert report.move is not None and report.seconds >= 2
    assert stages(seen) == ["preflight", "schedule", "switch", "verify", "back", "back", "confirm"]
    assert nodes.of("command") == list(job.nodes[:2]) and nodes.of("atrm") == list(job.nodes[:2])
    assert places(svc, job.nodes) == dict.fromkeys(job.nodes, vlan)


def test_the_restart_must_leave_time_to_switch(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    with pytest.raises(BadInput, match="at least 2 seconds"):
        run(svc.move_with_restart(list(job.nodes), job.vlans[0].vlan, delay=1))


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ({"no_at": ["suno-2"]}, "preflight: at is not installed (apt-get install at)"),
        ({"unreachable": ["suno-2"]}, "preflight: no SSH answer from suno-2.sophia.grid5000.fr"),
    ],
)
def test_a_failed_preflight_moves_no_node(make_service, fault, why):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    nodes, seen = Nodes(svc, **fault), steps(svc)

    report = run(svc.move_with_restart(list(job.nodes), job.vlans[0].vlan, delay=2))

    first, second = report.nodes
    assert (second.status, second.message) == (Outcome.FAILURE, why)
    assert (first.status, first.message) == (
        Outcome.UNCHANGED,
        "not moved: another node failed the preflight",
    )
    assert stages(seen) == ["preflight"] and list(report.stages) == ["preflight"]
    assert nodes.of("echo") == [] and places(svc, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)


def test_a_failed_schedule_cancels_the_others_and_moves_no_node(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    nodes, seen = Nodes(svc, at_refuses=["suno-2"]), steps(svc)

    report = run(svc.move_with_restart(list(job.nodes), job.vlans[0].vlan, delay=2))

    first, second = report.nodes
    assert second.status == Outcome.FAILURE
    assert second.message == (
        "could not schedule the restart: Can't open /var/run/atd.pid to signal atd. No atd running?"
    )
    assert (first.status, first.message) == (
        Outcome.UNCHANGED,
        "not moved: scheduling failed on another node",
    )
    assert nodes.of("atrm") == [job.nodes[0]] and first.at_job == ""
    assert stages(seen) == ["preflight", "schedule"]
    assert places(svc, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)


# --- the stages one by one, with a restart that fires at once ---------------------------------------------------


async def scheduled(svc: KavlanService, names: Sequence[str], vlan: int, user: str) -> StagedMove:
    restart = Restart(
        delay=0, command="true", verify_timeout=0.3, poll_interval=0.05, attempt_timeout=0.1, undo_margin=0
    )
    move = await safeguard.prepare(svc, names, vlan, user=user, restart=restart)
    assert await safeguard.preflight(move) and await safeguard.schedule(move)
    return move


def test_a_port_the_switch_refuses_moves_no_node_and_cancels_every_restart(make_service):
    svc = make_service(options={"sw1": {"refuse_ports": ["Gi1/0/2"]}})
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    nodes = Nodes(svc)

    async def stages_up_to_verify() -> tuple[StagedMove, list[str], list[str]]:
        move = await scheduled(svc, job.nodes, job.vlans[0].vlan, svc.user)
        moved = await safeguard.switch(move)
        return move, moved, await safeguard.verify(move, moved)

    move, moved, not_back = run(stages_up_to_verify())

    assert moved == [] and not_back == []
    first, second = move.report.nodes
    assert second.status == Outcome.FAILURE and second.message.startswith("switch: ")
    assert "refused to set port Gi1/0/2" in second.message
    assert first.status == Outcome.UNCHANGED and first.message.startswith("switch: ")
    assert sorted(nodes.of("atrm")) == sorted(job.nodes) and not any(n.at_job for n in move.report.nodes)
    assert places(svc, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)


@pytest.mark.parametrize("lost", [False, True])
def test_a_node_that_does_not_come_back_has_its_port_put_back_and_is_checked_there(make_service, lost):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    vlan = job.vlans[0].vlan
    nodes = Nodes(svc, **{"lost" if lost else "never_back": ["suno-1"]})

    async def every_stage() -> StagedMove:
        move = await scheduled(svc, job.nodes, vlan, svc.user)
        not_back = await safeguard.verify(move, await safeguard.switch(move))
        assert not_back == [move.order[0]]
        await safeguard.confirm(move, move.order[1:])
        await safeguard.bring_back(move, not_back)
        return move

    move = run(every_stage())

    first, second = move.report.nodes
    assert (second.status, second.answers_in, second.undo_job) == (Outcome.SUCCESS, vlan, "")
    gone = f"did not come back in VLAN {vlan} within 0.3 s: no route to {first.name}"
    assert places(svc, job.nodes) == {job.nodes[0]: DEFAULT, job.nodes[1]: vlan}, "its port goes back, always"
    assert first.port_vlan == DEFAULT and move.report.not_back == []
    assert nodes.of("atrm") == [job.nodes[1]], "the undo restart of the node not back stays queued"
    if lost:
        assert first.status == Outcome.FAILURE and first.answers_in is None
        assert first.message == (
            f"{gone}; its port is back in VLAN DEFAULT, but it does not answer there: no route to {first.name}"
        )
    else:
        assert (first.status, first.answers_in) == (Outcome.ROLLED_BACK, DEFAULT)
        assert first.message == f"{gone}; its port is back in VLAN DEFAULT, where it answers again"
        assert "returned" in first.timings


def test_nothing_to_move_dials_no_node(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    nodes = Nodes(svc)

    report = run(svc.move_with_restart(list(job.nodes), DEFAULT, delay=2))

    assert [n.message for n in report.nodes] == ["already in VLAN DEFAULT"] * 2
    assert nodes.sent == [] and report.stages == {}


# --- the DHCP check: real nodes are not moved into a VLAN where nobody answers DHCP --------------------------


def real_switch(svc: KavlanService, switch: str = "sw1") -> None:
    """Make ``switch`` a real one as far as the check is concerned (no driver is made: nothing is moved here)."""
    svc.inventory.switches[switch] = dataclasses.replace(
        svc.inventory.switches[switch], driver="linux_bridge"
    )
    svc.inventory.reachable.add("sophia")  # and its site's nodes hosts to reach


def test_real_nodes_are_not_moved_into_a_vlan_whose_dhcp_is_off(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    vlan = job.vlans[0].vlan
    run(svc.check_dhcp(list(job.nodes), vlan))  # simulated nodes have no network to lose
    real_switch(svc)

    with pytest.raises(NoDhcp) as refused:
        run(svc.check_dhcp(list(job.nodes), vlan))

    assert str(refused.value) == (
        f"VLAN {vlan}'s DHCP server is off: suno-1, suno-2 would restart their network there, get no address "
        "and be reachable by nobody; start the VLAN's DHCP server first, or, if you run your own DHCP server in "
        "it or your nodes have static addresses, say so"
    )
    assert refused.value.about == "dhcp"
    svc.inventory.reachable.discard("sophia")
    run(svc.check_dhcp(list(job.nodes), vlan))  # a testbed whose nodes are not hosts: nothing to strand
    svc.inventory.reachable.add("sophia")
    assert sentence(refused.value).endswith(
        "say so (kavlan -e starts it; kavlan -s --no-dhcp-check moves all the same)"
    )
    run(svc.check_dhcp(list(job.nodes), DEFAULT))  # DEFAULT's DHCP is the site's own
    run(svc.dhcp(vlan, True))
    run(svc.check_dhcp(list(job.nodes), vlan))


def test_a_staged_move_into_a_vlan_without_dhcp_is_refused_before_any_node_is_dialled(make_service):
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    nodes, checked = Nodes(svc), svc.check_dhcp

    async def as_real(names: Sequence[str], vlan: int) -> None:
        simulated = svc.inventory.switches["sw1"]
        real_switch(svc)  # for the check alone: the plan before it reads the simulated switch
        try:
            await checked(names, vlan)
        finally:
            svc.inventory.switches["sw1"] = simulated

    svc.check_dhcp = as_real  # type: ignore[method-assign]

    with pytest.raises(NoDhcp):
        run(svc.move_with_restart(list(job.nodes), job.vlans[0].vlan, delay=2))

    assert nodes.sent == [] and places(svc, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)


# --- a job's end brings its real nodes home ------------------------------------------------------------------


def test_a_jobs_end_restarts_its_nodes_into_default_and_marks_the_one_that_does_not_answer(
    make_service, monkeypatch
):
    monkeypatch.setattr(homing, "END_DELAY", 0)
    monkeypatch.setattr(homing, "END_UNDO_MARGIN", 0)
    svc = make_service(verify_timeout=1)
    job = run(svc.submit(f"{ROUTED},{{\"cluster='suno'\"}}/nodes=3"))
    vlan = job.vlans[0].vlan
    run(svc.set_vlan(list(job.nodes), vlan))
    svc.is_real = lambda name: not name.startswith("suno-3")  # type: ignore[method-assign]
    nodes, seen = Nodes(svc, lost=["suno-2"]), steps(svc)

    run(svc.delete_job(job.id))

    assert places(svc, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)
    assert nodes.of("echo") == ["suno-1", "suno-2"], (
        "the restarts are queued where the nodes are, real ones only"
    )
    assert nodes.of("atrm") == ["suno-1"], "the node back in DEFAULT is confirmed"
    with svc.store.read() as tx:
        marked = tx.unavailable()
    assert list(marked) == ["suno-2"]
    reason, _since, by_job = marked["suno-2"]
    assert by_job == job.id and reason.startswith(f"not back after the end of job {job.id}: does not answer")
    assert [e.node for e in seen if isinstance(e, NodeUnavailable)] == ["suno-2"]
    nxt = run(svc.submit("{\"cluster='suno'\"}/nodes=2"))
    assert "suno-2" not in nxt.nodes, "never handed to the next job"
    assert run(svc.unavailable()) == {"suno-2": reason}
    with pytest.raises(NotAllowed, match="only an administrator"):
        run(svc.set_available("suno-2"))
    admin = make_service(user="root")
    assert run(admin.set_available("suno-2")) and not run(admin.set_available("suno-2"))
    assert run(svc.unavailable()) == {}
    assert "suno-2" in run(svc.submit("{\"cluster='suno'\"}/nodes=1")).nodes


def test_the_staged_report_says_where_each_node_is_and_whether_it_answers() -> None:
    from kavlan_core.reports import NodeOutcome, StagedReport
    from kavlan_tui.commands import staged_result

    back = NodeOutcome("a", Outcome.SUCCESS, "", DEFAULT, 4, port_vlan=4, answers_in=4, timings={"back": 3.0})
    returned = NodeOutcome(
        "b",
        Outcome.ROLLED_BACK,
        "did not come back in VLAN 4 within 8 s: x; its port is back in VLAN DEFAULT, where it answers again",
        DEFAULT,
        4,
        port_vlan=DEFAULT,
        answers_in=DEFAULT,
        timings={"switched": 1.0},
    )
    stuck = NodeOutcome(
        "c", Outcome.FAILURE, "did not come back", DEFAULT, 4, port_vlan=4, timings={"switched": 1.0}
    )
    res = staged_result(StagedReport(vlan=4, nodes=[back, returned, stuck]))

    assert not res.ok and res.lines == []
    assert res.errors[0].startswith(
        "b: rolled-back (did not come back in VLAN 4 within 8 s: x; its port is back"
    )
    assert res.errors[-1] == (
        "1 node(s) did not come back and their ports could not be put back: kavlan -s -i OLD_VLAN puts them back, "
        "and their undo restart brings them back there"
    )
    nodes = res.data["nodes"]
    assert (nodes["a"]["port_vlan"], nodes["a"]["answers_in"]) == ("4", "4")
    assert (nodes["b"]["port_vlan"], nodes["b"]["answers_in"]) == ("DEFAULT", "DEFAULT")
    assert (nodes["c"]["port_vlan"], nodes["c"]["answers_in"]) == ("4", None)


def test_a_node_lost_at_a_jobs_end_is_brought_back_by_its_sites_console(make_service, monkeypatch, tmp_path):
    monkeypatch.setattr(homing, "END_DELAY", 0)
    monkeypatch.setattr(homing, "END_UNDO_MARGIN", 0)
    svc = make_service(verify_timeout=1)
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    svc.is_real = lambda name: True  # type: ignore[method-assign]
    nodes = Nodes(svc, lost=["suno-2", "suno-1"])
    log = tmp_path / "console.log"
    svc.inventory.consoles["sophia"] = f"sh -c 'echo {{node}} >> {log}'"
    real_console = homing.run_bounded

    async def console(argv: list[str], timeout: float) -> str:
        why = await real_console(argv, timeout)
        nodes.consoled.update(log.read_text().split())  # what the console did, the fake node sees
        return why

    monkeypatch.setattr(homing, "run_bounded", console)

    run(svc.delete_job(job.id))

    assert sorted(log.read_text().split()) == ["suno-1", "suno-2"], "each lost node's console, once"
    assert run(svc.unavailable()) == {}


def test_a_console_that_fails_says_why_and_the_node_is_marked(make_service, monkeypatch):
    monkeypatch.setattr(homing, "END_DELAY", 0)
    monkeypatch.setattr(homing, "END_UNDO_MARGIN", 0)
    svc = make_service(verify_timeout=1)
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    svc.is_real = lambda name: name.startswith("suno-2")  # type: ignore[method-assign]
    Nodes(svc, lost=["suno-2"])
    svc.inventory.consoles["sophia"] = "sh -c 'echo no power for {node} >&2; exit 3'"

    run(svc.delete_job(job.id))

    (reason,) = run(svc.unavailable()).values()
    assert reason.endswith("; nor after its console's command: sh exited with status 3: no power for suno-2")


def recorded(svc: KavlanService) -> dict[str, int]:
    """Where the store says each NIC is, read without a command (a command settles what a dead process left)."""
    with svc.store.read() as tx:
        return {node: vid for (node, _nic), vid in tx.nic_vlans().items() if vid != DEFAULT}


class Crash(BaseException):
    """The process dies here: nothing after this point runs (its locks die with it)."""


def crash_at(monkeypatch: pytest.MonkeyPatch, wanted: str) -> None:
    def reached(point: str) -> None:
        if point == wanted:
            raise Crash(point)

    monkeypatch.setattr(testpoints, "reached", reached)


def test_a_staged_move_whose_process_dies_after_the_switch_is_put_back_by_the_next_command(
    make_service, monkeypatch
):
    """Killed between the switch and the verdict: the ports moved, no node confirmed. The next command finds the
    journaled staged move and puts every port back before the undo restart fires (which then brings each node
    back where it was); found after that time, it leaves the ports and says so."""
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    vlan = job.vlans[0].vlan
    Nodes(svc)
    crash_at(monkeypatch, "staged-switched")
    with pytest.raises(Crash):
        run(svc.move_with_restart(list(job.nodes), vlan, delay=2, verify_timeout=5))
    assert recorded(svc) == dict.fromkeys(job.nodes, vlan), "the ports had moved"
    with svc.store.read() as tx:
        (left,) = tx.intents()
    assert left.kind == STAGED and {p.state for p in left.ports} == {"planned"}
    assert left.describe() == f"staged move of 2 node(s) into VLAN {vlan} by alice"

    nxt = make_service()  # the next command: another process on the same store
    seen = steps(nxt)
    run(nxt.reap())
    assert places(nxt, job.nodes) == dict.fromkeys(job.nodes, DEFAULT)
    (settled,) = [e for e in seen if isinstance(e, IntentSettled)]
    assert settled.outcome == (
        f"rolled back (not confirmed): {', '.join(job.nodes)} in VLAN DEFAULT put back before the undo restart"
    )
    with nxt.store.read() as tx:
        assert tx.intents() == []

    # the same death, found after the undo time: the undo restarts ran where the ports were; nothing is moved
    Nodes(nxt)
    crash_at(monkeypatch, "staged-switched")
    with pytest.raises(Crash):
        run(nxt.move_with_restart(list(job.nodes), vlan, delay=2, verify_timeout=5))
    late = make_service(clock=lambda: time.time() + 120)  # past the undo restart (+22 s), not the walltime
    seen = steps(late)
    run(late.reap())
    assert recorded(late) == dict.fromkeys(job.nodes, vlan)
    (settled,) = [e for e in seen if isinstance(e, IntentSettled)]
    assert settled.outcome.startswith("found after its undo time: the ports of suno-1, suno-2 were left")


def test_a_staged_move_that_confirmed_its_nodes_leaves_them_to_recovery(make_service, monkeypatch):
    """Nodes confirmed before the death stay where they were confirmed: only the others' ports go back."""
    svc = make_service()
    job = run(svc.submit(f"{ROUTED},{SUNO}"))
    vlan = job.vlans[0].vlan
    Nodes(svc, never_back=[job.nodes[1]])
    real_bring_back = safeguard.bring_back

    async def dies(move: StagedMove, not_back: Sequence[str]) -> None:
        raise Crash("bring-back")

    monkeypatch.setattr(safeguard, "bring_back", dies)
    with pytest.raises(Crash):
        run(svc.move_with_restart(list(job.nodes), vlan, delay=2, verify_timeout=1))
    monkeypatch.setattr(safeguard, "bring_back", real_bring_back)
    with svc.store.read() as tx:
        (left,) = tx.intents()
    assert {p.node: p.state for p in left.ports} == {job.nodes[0]: "confirmed", job.nodes[1]: "planned"}
    nxt = make_service()
    run(nxt.reap())
    assert places(nxt, job.nodes) == {job.nodes[0]: vlan, job.nodes[1]: DEFAULT}


def test_a_jobs_end_that_dies_once_its_ports_are_back_is_resumed_and_sees_its_nodes_home(
    make_service, monkeypatch
):
    """Killed after the ports went back, before any node was seen home: the end's intent names the nodes it had
    still to see; the next command resumes it, checks them in DEFAULT and marks the one answering nowhere."""
    monkeypatch.setattr(homing, "END_DELAY", 0)
    monkeypatch.setattr(homing, "END_UNDO_MARGIN", 0)

    def real(svc: KavlanService) -> KavlanService:
        svc.is_real = lambda name: not name.startswith("suno-3")  # type: ignore[method-assign]
        return svc

    svc = real(make_service(verify_timeout=1))
    job = run(svc.submit(f"{ROUTED},{{\"cluster='suno'\"}}/nodes=3"))
    run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
    Nodes(svc, lost=["suno-2"])
    crash_at(monkeypatch, "end-switched")
    with pytest.raises(Crash):
        run(svc.delete_job(job.id))
    assert recorded(svc) == {}, "the ports are back in DEFAULT"
    with svc.store.read() as tx:
        (end,) = tx.intents()
        assert tx.unavailable() == {}
    assert end.kind == END and {p.node: p.state for p in end.ports} == {
        "suno-1": "planned",
        "suno-2": "planned",
    }

    nxt = real(make_service(verify_timeout=1))
    nodes, seen = Nodes(nxt, lost=["suno-2"]), steps(nxt)
    run(nxt.reap())
    asked = nodes.of("ip")
    assert asked[0] == "suno-1" and set(asked) == {"suno-1", "suno-2"}, (
        "both checked in DEFAULT (the lost one: until its time is up)"
    )
    with nxt.store.read() as tx:
        assert tx.intents() == []
        marked = tx.unavailable()
    assert list(marked) == ["suno-2"] and marked["suno-2"][0].startswith(
        f"not back after the end of job {job.id}"
    )
    assert [e.node for e in seen if isinstance(e, NodeUnavailable)] == ["suno-2"]
    assert [e.outcome for e in seen if isinstance(e, IntentSettled)] == ["finished"]
