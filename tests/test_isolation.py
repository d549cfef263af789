"""The isolation invariant: no NIC stays in a VLAN that no running job holds. A job's end and the moves into its VLAN
are serialized (the race of a walltime ending during a move, another service ending the job, many rounds); an
unfinished end keeps its VLAN and nodes from any new job; repair never puts a port back into an ended job's VLAN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from crash_harness import SMALL_CABLING, check_invariants, held_lock_files, read_sqlite

from conftest import run
from kavlan_core.errors import NotAllowed, Unavailable
from kavlan_core.model import DEFAULT, Job
from kavlan_core.reports import DriftReport

ROUTED = "{\"type='kavlan'\"}/vlan=1"
DELAYS = [0.005 * i for i in range(12)]
"""The moments (seconds after the move began) when the walltime passes and the job is ended, one per round: during
the move (4 switches, 10 ms each) and after it recorded, whatever the machine's load."""


def slow(latency_ms: int = 10, **extra: dict[str, object]) -> dict[str, dict[str, object]]:
    return {sw: {"latency_ms": latency_ms, **extra.get(sw, {})} for sw in ("sw1", "sw2", "sw3", "sw4")}


def test_a_walltime_ending_during_a_move_leaves_no_node_in_its_vlan(make_service, kenv):
    """The issue's race: a move into a job's VLAN runs while the walltime ends and another service (another
    process's: its own switch pool, the locks shared through the data dir) ends the job. Whether the move records
    first (the end then puts its nodes back) or the end is claimed first (the move then finds the job ended and
    puts its ports back), no node stays in the dead job's VLAN."""
    now = [1_000_000.0]
    mover = make_service(options=slow(), clock=lambda: now[0])
    ender = make_service(clock=lambda: now[0])
    data = Path(kenv["KAVLAN_DATA_DIR"])
    outcomes = set()
    for delay in DELAYS:
        job = run(mover.submit(ROUTED + ",nodes=8,walltime=0:10"))
        vlan = job.vlans[0].vlan

        async def race(job: Job = job, vlan: int = vlan, delay: float = delay) -> str:
            move = asyncio.ensure_future(mover.set_vlan(list(job.nodes), vlan))
            await asyncio.sleep(delay)
            now[0] += 601  # the walltime passes
            ended = await ender.reap()
            report = await move
            assert [j.id for j in ended] in ([job.id], []), ended
            return "recorded first" if report.ok else "ended first"

        outcomes.add(run(race()))
        run(ender.reap())  # the mover's own reap may have claimed the end: done either way
        seen = read_sqlite(data / "kavlan.db", SMALL_CABLING)
        check_invariants(seen, held_lock_files(data))
        assert seen.jobs[job.id] == "Terminated"
        assert set(seen.switch_vlans.values()) == {DEFAULT}
    assert "ended first" in outcomes, "the end came during a move at least once"


def test_a_move_that_finds_its_job_ended_puts_its_ports_back_and_says_why(make_service):
    svc = make_service(options=slow())
    other = make_service()
    job = run(svc.submit(ROUTED + ",nodes=4"))
    vlan = job.vlans[0].vlan

    def journaled() -> bool:
        with svc.store.read() as tx:
            return tx.has_intents()

    async def scenario():
        move = asyncio.ensure_future(svc.set_vlan(list(job.nodes), vlan))
        async with asyncio.timeout(10):
            # the move is under way once its intent is written (its switches answer in 10 ms)
            while not journaled():
                await asyncio.sleep(0.001)
        await other.delete_job(job.id)  # claims the end, then waits for the move's switches: it withdraws
        return await move

    report = run(scenario())
    assert {r.status for r in report.results} == {"failure"}
    for r in report.results:
        assert r.message == (
            f"job {job.id}, which held VLAN {vlan}, ended during the move; put back: the port is in VLAN DEFAULT"
        )
    assert dict(run(svc.vlan_of(list(job.nodes)))) == {f"{n}.sophia.grid5000.fr": DEFAULT for n in job.nodes}
    with svc.store.read() as tx:
        assert [a["action"] for a in tx.audit_log(2)] == ["vlan.withdrawn", "job.end"]  # newest first


def test_an_unfinished_end_keeps_its_vlan_from_new_jobs(make_service):
    now = [1_000_000.0]
    svc = make_service(clock=lambda: now[0])
    job = run(svc.submit(ROUTED + ",nodes=2"))
    vlan = job.vlans[0].vlan
    assert run(svc.set_vlan(list(job.nodes), vlan)).ok
    down = make_service(
        options={"sw1": {"timeout": True, "timeout_s": 0.01}}, switch_retries=0, clock=lambda: now[0]
    )
    run(
        down.delete_job(job.id)
    )  # sw1 does not answer: suno-1 and suno-2 stay in the VLAN, the end is unfinished
    with down.store.read() as tx:
        (end,) = tx.intents()
        assert (end.kind, end.job, end.attempts) == ("end", job.id, 1) and "not back in DEFAULT" in end.note
    others = [run(down.submit(ROUTED)) for _ in range(5)]
    assert vlan not in {j.vlans[0].vlan for j in others}
    with pytest.raises(Unavailable, match="no free kavlan VLAN"):
        run(down.submit(ROUTED))
    with pytest.raises(Unavailable, match="not enough free nodes"):
        run(down.submit("{\"cluster='suno'\"}/nodes=7"))  # suno-1 and -2 are still the ended job's
    up = make_service(options={}, clock=lambda: now[0])  # sw1 answers again
    run(up.reap())
    with up.store.read() as tx:
        assert len(tx.intents()) == 1, "a failed end waits before it is tried again"
    now[0] += 10
    run(up.reap())
    with up.store.read() as tx:
        assert tx.intents() == []
    assert run(up.submit(ROUTED)).vlans[0].vlan == vlan
    assert run(up.drift()) == DriftReport()


def test_repair_never_puts_a_port_back_into_an_ended_jobs_vlan(make_service):
    """A store that records NICs in a VLAN no job holds (what the race left before this version): repair puts them
    in DEFAULT, whether the switch agreed or had drifted."""
    svc = make_service()
    admin = make_service("root", admins="root")
    with svc.store.write() as tx:
        tx.set_nic_vlans({("suno-1", "eth0"): 5, ("suno-3", "eth0"): 5}, 1.0)
        tx.sim_write("sw1", {"Gi1/0/1": 705})  # suno-1: the switch agrees with the store
    assert [(d.node, d.expected, d.actual) for d in run(svc.drift()).drifts] == [("suno-3", 5, DEFAULT)]
    report = run(admin.repair())
    assert sorted((r.name, r.status, r.new_vlan) for r in report.results) == [
        ("suno-1.sophia.grid5000.fr", "success", DEFAULT),
        ("suno-3.sophia.grid5000.fr", "unchanged", DEFAULT),
    ]
    with svc.store.read() as tx:
        assert tx.nic_vlans() == {} and tx.sim_read("sw1", ["Gi1/0/1"]) == {"Gi1/0/1": 100}
    with pytest.raises(NotAllowed):
        run(svc.repair())


def test_the_api_server_settles_what_a_killed_process_left_as_it_starts(make_service, tmp_path):
    """An intent left by a process killed after its first switch changed: the API server settles it when it starts,
    before any request (and every SETTLE_EVERY seconds after)."""
    from aiohttp.test_utils import TestServer

    from kavlan_core.api.server.app import init_app
    from kavlan_core.api.server.options import Options
    from kavlan_core.journal import MOVE, IntentPort

    svc = make_service()
    job = run(svc.submit(ROUTED + ",nodes=4"))
    vlan = job.vlans[0].vlan
    with svc.store.write() as tx:  # a move of suno-1 and suno-3, killed once sw1 applied
        ports = [
            IntentPort("sw1", "Gi1/0/1", "suno-1", "eth0", 100, 700 + vlan),
            IntentPort("sw2", "Gi1/0/1", "suno-3", "eth0", 100, 700 + vlan),
        ]
        tx.open_intent(MOVE, "alice", vlan, job.id, ports, at=1.0, owner="elsewhere:4242")
        tx.sim_write("sw1", {"Gi1/0/1": 700 + vlan})
    server = make_service()
    app = init_app(server, Options(insecure_http=True, access_log="", audit_log=str(tmp_path / "audit.log")))

    def settled() -> bool:
        with svc.store.read() as tx:
            return not tx.has_intents()

    async def serve() -> None:
        async with TestServer(app):
            async with asyncio.timeout(20):
                while not settled():
                    await asyncio.sleep(0.01)

    run(serve())
    assert run(svc.drift()) == DriftReport()
    assert dict(run(svc.vlan_of(["suno-1", "suno-3"]))) == {
        "suno-1.sophia.grid5000.fr": DEFAULT,
        "suno-3.sophia.grid5000.fr": DEFAULT,
    }
    with svc.store.read() as tx:
        (entry,) = [a for a in tx.audit_log(5) if a["action"] == "intent.settled"]
    assert (entry["outcome"], entry["left_by"]) == ("rolled back", "elsewhere:4242")


def test_a_stopping_api_server_says_how_many_moves_it_leaves_to_the_next_command():
    """The server waits for the moves in flight (bounded); those that outlive the wait are counted, to be said."""
    from kavlan_core.api.server.longmoves import LongMoves

    async def scenario() -> tuple[int, int]:
        moves = LongMoves()
        quick = moves.start(asyncio.sleep(0.01, result=(200, {})))
        stuck = asyncio.Event()
        moves.start(_wait_then(stuck))
        left = await moves.finish(timeout=0.2)
        assert quick.done()
        stuck.set()
        return left, await moves.finish(timeout=5)

    assert run(scenario()) == (1, 0)


async def _wait_then(event: asyncio.Event) -> tuple[int, dict[str, str]]:
    await event.wait()
    return 200, {}
