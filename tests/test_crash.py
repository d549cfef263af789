"""Crash-safe state: a move (and a job's end) stopped at each of its steps by SIGKILL, SIGTERM or Ctrl-C twice, then
the next command; the invariants are checked from outside the project's code (tests/crash_harness.py): nothing left
unfinished, store and switches in agreement, no NIC in a VLAN no running job holds, no lock held, and the user told.

Simulated switches (answering in 5 ms, one switch at a time, so that each step is a moment of its own) carry the
whole matrix; real snmpd agents a representative part of it.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crash_harness import (
    EXIT_STATUS,
    KILLS,
    SMALL_CABLING,
    advisory_locks,
    check_invariants,
    held_lock_files,
    kavlan,
    read_postgresql,
    read_sqlite,
    stopped_at,
    vlan_of_tag,
)
from snmpd_fixture import RW_COMMUNITY, Snmpd, running_snmpd

from conftest import SUBNETS, run
from kavlan_core import config
from kavlan_core.model import Job
from kavlan_core.service import KavlanService

ROUTED = "{\"type='kavlan'\"}/vlan=1"
MOVE_STEPS = (
    "after-intent",
    "after-apply:sw1",
    "after-apply:sw2",
    "after-readback:sw2",
    "after-apply:sw3",
    "before-record",
)
END_STEPS = ("end-claimed", "after-apply:sw2")
SIGNAL_NAME = {"sigterm": "SIGTERM", "sigint-twice": "SIGINT"}


@dataclass
class Bed:
    """A testbed, its database, a job of alice's (a routed VLAN and suno-1..6, on sw1..sw3), the environment of
    the console scripts."""

    svc: KavlanService
    job: Job
    env: dict[str, str]
    data: Path

    @property
    def vlan(self) -> int:
        return self.job.vlans[0].vlan

    @property
    def db(self) -> Path:
        return self.data / "kavlan.db"

    def names(self) -> list[str]:
        return [f"{n}.sophia.grid5000.fr" for n in self.job.nodes]

    def placed(self, seen_switches: dict[tuple[str, str], int | None]) -> set[int | None]:
        """The VLANs the job's nodes are in on the switches."""
        return {seen_switches[(n, "eth0")] for n in self.job.nodes}


@pytest.fixture
def bed(make_service, kenv, tmp_path) -> Bed:
    slow = {sw: {"latency_ms": 5} for sw in ("sw1", "sw2", "sw3", "sw4")}
    svc = make_service(options=slow, switch_concurrency=1)
    job = run(svc.submit(ROUTED + ",{\"cluster='suno'\"}/nodes=6"))
    assert job.nodes == tuple(f"suno-{i}" for i in range(1, 7))
    env = {**kenv, "KAVLAN_INVENTORY": str(tmp_path / "testbed.toml"), "KAVLAN_SWITCH_CONCURRENCY": "1"}
    return Bed(svc, job, env, Path(kenv["KAVLAN_DATA_DIR"]))


@pytest.mark.parametrize("kill", KILLS)
@pytest.mark.parametrize("step", MOVE_STEPS)
def test_a_move_stopped_at_each_step(bed: Bed, step: str, kill: str, tmp_path: Path) -> None:
    with stopped_at(step, bed.env, "kavlan", "-s", "-j", str(bed.job.id), where=tmp_path / "stop") as p:
        done = p.kill(kill)
    after = kavlan(bed.env, "kavlan", "-g", "-j", str(bed.job.id))
    assert after.returncode == 0, after.stderr
    seen = read_sqlite(bed.db, SMALL_CABLING)
    check_invariants(seen, held_lock_files(bed.data))
    placed = bed.placed(seen.switch_vlans)
    assert placed in ({0}, {bed.vlan}), f"a move happens whole or not at all: {placed}"
    label = str(bed.vlan) if placed == {bed.vlan} else "DEFAULT"
    assert after.stdout == "".join(f"{n}: {label}\n" for n in bed.names())
    if step == "before-record":
        assert placed == {bed.vlan}, "every switch was done: the move stands"
    if kill == "kill-9":
        told_left(
            after.stderr, f"move of 6 port(s) into VLAN {bed.vlan} by alice, job {bed.job.id}", placed, bed
        )
        assert [a for a, _ in seen.audit].count("intent.settled") == 1
        if step in ("after-intent", "after-apply:sw1"):
            assert placed == {0}, "a move half done by a dead process is rolled back"
    else:
        told_stopped(done, kill, placed, bed)
        assert "unfinished" not in after.stderr, "a stopped move leaves nothing to settle"
        if step == "after-intent":
            assert placed == {0}, "stopped before any switch was touched"


def told_left(stderr: str, what: str, placed: set[int | None], bed: Bed) -> None:
    """The next command says what it found and what it did."""
    outcome = "completed" if placed == {bed.vlan} else "rolled back"
    assert f"kavlan: unfinished {what} (left by " in stderr and stderr.endswith(f"): {outcome}\n"), stderr


def told_stopped(done, kill: str, placed: set[int | None], bed: Bed) -> None:
    """The stopped command ended with its signal's status, said so, and reported every node not moved."""
    name = SIGNAL_NAME[kill]
    assert done.returncode == EXIT_STATUS[kill], done.stderr
    assert done.stderr.endswith(f"kavlan: stopped by {name}\n"), done.stderr
    if placed == {0}:  # it was under way when the signal came: it said so
        assert f"kavlan: {name}: the move stops at its next step" in done.stderr
        if kill == "sigint-twice":
            assert "kavlan: SIGINT: still stopping the move" in done.stderr
        assert [line.split(":")[0] for line in done.stdout.splitlines()] == bed.names(), done.stdout
        assert all(": unchanged (" in line for line in done.stdout.splitlines())
    else:  # done before the signal was handled, or finished after it: kavlan -s prints only the nodes not moved
        assert done.stdout == ""


@pytest.mark.parametrize("kill", KILLS)
@pytest.mark.parametrize("step", END_STEPS)
def test_a_jobs_end_stopped_at_each_step(bed: Bed, step: str, kill: str, tmp_path: Path) -> None:
    """kavlan-oardel stopped after it claimed the end, or while it puts the nodes back: the end is resumed by the
    next command until every node is in DEFAULT."""
    assert run(bed.svc.set_vlan(list(bed.job.nodes), bed.vlan)).ok
    with stopped_at(step, bed.env, "kavlan-oardel", str(bed.job.id), where=tmp_path / "stop") as p:
        done = p.kill(kill)
    if kill != "kill-9":
        assert done.returncode == EXIT_STATUS[kill], done.stderr
        assert done.stderr.endswith(f"kavlan-oardel: stopped by {SIGNAL_NAME[kill]}\n"), done.stderr
    after = kavlan(bed.env, "kavlan", "-g", *(f"-m{n}" for n in bed.job.nodes))
    assert after.returncode == 0, after.stderr
    assert after.stdout == "".join(f"{n}: DEFAULT\n" for n in bed.names())
    seen = read_sqlite(bed.db, SMALL_CABLING)
    check_invariants(seen, held_lock_files(bed.data))
    assert seen.jobs[bed.job.id] == "Terminated"
    resumed = [a for a, _ in seen.audit].count("job.end.resumed")
    assert resumed == after.stderr.count(f"kavlan: unfinished end of job {bed.job.id} (left by "), (
        after.stderr
    )
    if kill == "kill-9":
        assert resumed == 1 and after.stderr.endswith(": finished\n"), after.stderr
    if kill == "kill-9" and step != "end-claimed":
        assert "kavlan: unfinished move of 6 port(s) into VLAN DEFAULT by kavlan (left by " in after.stderr


# --- on real snmpd agents ---------------------------------------------------------------------------------------

PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Snmpd]]:
    """Three snmpd switches (8 ports each), for the module."""
    with contextlib.ExitStack() as stack:
        workdir = tmp_path_factory.mktemp("crash-snmpd")
        yield [stack.enter_context(running_snmpd(workdir / f"sw{i}", ports=8)) for i in (1, 2, 3)]


@pytest.fixture
def snmp_bed(agents: list[Snmpd], kenv, tmp_path: Path) -> Iterator[Bed]:
    """suno-1..6 on ports 1-2 of the snmpd switches sw1..sw3 (VLAN 1 is DEFAULT); a job of alice's holding them."""
    for a in agents:
        a.reset()
    switches = "\n".join(
        f'[[site.switch]]\nname = "sw{i}"\ndriver = "snmp_qbridge"\naddress = "{a.address}"\n'
        f'credentials = "crash"\noptions = {{ timeout = 1, retries = 1 }}\n'
        for i, a in enumerate(agents, start=1)
    )
    cabling = "\n".join(
        f'[[site.cluster.cabling]]\nnodes = "{2 * i - 1}-{2 * i}"\nswitch = "sw{i}"\nport = "ge-0/0/{{k}}"\n'
        "port_offset = -1\n"
        for i in (1, 2, 3)
    )
    inv = tmp_path / "snmp.toml"
    inv.write_text(
        f'[[site]]\nname = "sophia"\nglobal_vlan = 18\ndefault_subnet = "10.64.0.0/18"\n'
        f'global_subnet = "10.76.0.0/18"\ndefault_tag = 1\n{SUBNETS}\n{switches}\n'
        f'[[site.cluster]]\nname = "suno"\nnodes = 6\n{cabling}'
    )
    creds = tmp_path / "credentials.toml"
    creds.write_text(
        f'[crash]\nversion = "2c"\ncommunity = "{RW_COMMUNITY}"\nwrite_community = "{RW_COMMUNITY}"\n'
    )
    creds.chmod(0o600)
    env = {
        **kenv,
        "KAVLAN_INVENTORY": str(inv),
        "KAVLAN_CREDENTIALS": str(creds),
        "KAVLAN_SWITCH_CONCURRENCY": "1",
    }
    svc = KavlanService(config.load(env=env))
    try:
        job = run(svc.submit(ROUTED + ",nodes=6"))
        yield Bed(svc, job, env, Path(kenv["KAVLAN_DATA_DIR"]))
    finally:
        run(svc.close())


def snmp_switches(agents: list[Snmpd]) -> dict[tuple[str, str], int | None]:
    """Each node's VLAN as its switch's PVID says, asked with net-snmp's snmpget."""
    out: dict[tuple[str, str], int | None] = {}
    for i, agent in enumerate(agents, start=1):
        pvids = agent.snmpget(f"{PVID}.1", f"{PVID}.2")
        for k, pvid in enumerate(pvids):
            out[(f"suno-{2 * i - 1 + k}", "eth0")] = vlan_of_tag(int(pvid), default_tag=1)
    return out


SNMP_CABLING = {(f"suno-{n}", "eth0"): (f"sw{(n + 1) // 2}", f"ge-0/0/{1 - n % 2}") for n in range(1, 7)}


@pytest.mark.parametrize(
    ("step", "kill"),
    [
        ("after-intent", "sigint-twice"),
        ("after-apply:sw1", "kill-9"),
        ("after-apply:sw2", "sigterm"),
        ("after-readback:sw2", "kill-9"),
        ("before-record", "sigterm"),
    ],
)
def test_a_move_on_snmp_switches_stopped(snmp_bed: Bed, agents: list[Snmpd], step: str, kill: str, tmp_path):
    bed = snmp_bed
    with stopped_at(step, bed.env, "kavlan", "-s", "-j", str(bed.job.id), where=tmp_path / "stop") as p:
        done = p.kill(kill)
    after = kavlan(bed.env, "kavlan", "-g", "-j", str(bed.job.id))
    assert after.returncode == 0, after.stderr
    seen = read_sqlite(bed.db, SNMP_CABLING, lambda: snmp_switches(agents))
    check_invariants(seen, held_lock_files(bed.data))
    placed = bed.placed(seen.switch_vlans)
    assert placed in ({0}, {bed.vlan}), placed
    if kill == "kill-9":
        told_left(
            after.stderr, f"move of 6 port(s) into VLAN {bed.vlan} by alice, job {bed.job.id}", placed, bed
        )
    else:
        told_stopped(done, kill, placed, bed)
    if step == "before-record":
        assert placed == {bed.vlan}, "every switch was done: the move stands"
    else:
        assert placed == {0}, "stopped, or killed, with switches left to do: rolled back"


def test_a_jobs_end_on_snmp_switches_killed_while_it_puts_nodes_back(
    snmp_bed: Bed, agents: list[Snmpd], tmp_path: Path
) -> None:
    bed = snmp_bed
    assert run(bed.svc.set_vlan(list(bed.job.nodes), bed.vlan)).ok
    with stopped_at(
        "after-apply:sw2", bed.env, "kavlan-oardel", str(bed.job.id), where=tmp_path / "stop"
    ) as p:
        p.kill("kill-9")
    after = kavlan(bed.env, "kavlan", "-g", *(f"-m{n}" for n in bed.job.nodes))
    assert after.stdout == "".join(f"{n}: DEFAULT\n" for n in bed.names()), after.stderr
    seen = read_sqlite(bed.db, SNMP_CABLING, lambda: snmp_switches(agents))
    check_invariants(seen, held_lock_files(bed.data))
    assert bed.placed(seen.switch_vlans) == {0}
    assert f"unfinished end of job {bed.job.id}" in after.stderr and after.stderr.endswith(": finished\n")


# --- a job's end racing a move, in two processes -------------------------------------------------------------------


@pytest.mark.parametrize("step", ("after-intent", "after-apply:sw2", "before-record"))
def test_the_walltime_ends_during_a_move_and_another_process_ends_the_job(
    bed: Bed, step: str, tmp_path: Path
):
    """kavlan -s stopped at a step of its move; the job's walltime passes; kavlan-oarstat (another process) ends the
    job and waits for the move's switches; the move goes on, finds its job ended, puts its ports back and says so."""
    with stopped_at(step, bed.env, "kavlan", "-s", "-j", str(bed.job.id), where=tmp_path / "stop") as mover:
        mover.wait_reached()
        with contextlib.closing(sqlite3.connect(bed.db)) as db, db:  # the walltime passes, as the clock would
            db.execute("UPDATE jobs SET started = started - walltime - 1 WHERE id = ?", (bed.job.id,))
        ender = subprocess.Popen(
            ["kavlan-oarstat"], env=bed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_until(lambda: job_state(bed.db, bed.job.id) == "Terminated")  # the end is claimed
            mover.go_on()
            moved = mover.proc.communicate(timeout=60)
            ended = ender.communicate(timeout=60)
        finally:
            if ender.poll() is None:
                ender.kill()
    assert mover.proc.returncode == 1 and ender.returncode == 0, (moved, ended)
    why = f"job {bed.job.id}, which held VLAN {bed.vlan}, ended during the move"
    if step == "after-intent":  # its switches were read before the end: it went on, then put them back
        assert all(
            f": failure ({why}; put back: the port is in VLAN DEFAULT)" in line
            for line in moved[1].splitlines()
        )
    assert len(moved[1].splitlines()) == 6, moved
    seen = read_sqlite(bed.db, SMALL_CABLING)
    check_invariants(seen, held_lock_files(bed.data))
    assert bed.placed(seen.switch_vlans) == {0} and seen.jobs[bed.job.id] == "Terminated"


def job_state(db: Path, job_id: int) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_move_that_does_not_stop_in_time_leaves_its_intent_and_says_so(make_service, kenv, tmp_path: Path):
    """SIGTERM while a switch hangs (its batch stalls 10 s), with stop_deadline at 0.5 s: the command exits at the
    deadline saying so, the intent stays; the next command puts back the port the switch had already changed."""
    stall = {"sw1": {"timeout_ports": ["Gi1/0/2"], "timeout_s": 10}}
    svc = make_service(options=stall, switch_retries=0)
    job = run(svc.submit(ROUTED + ",nodes=2"))
    env = {
        **kenv,
        "KAVLAN_INVENTORY": str(tmp_path / "testbed.toml"),
        "KAVLAN_STOP_DEADLINE": "0.5",
        "KAVLAN_SWITCH_RETRIES": "0",
    }
    with stopped_at("after-intent", env, "kavlan", "-s", "-j", str(job.id), where=tmp_path / "stop") as p:
        p.wait_reached()
        p.signal(signal.SIGTERM)
        p.go_on()
        out, err = p.proc.communicate(timeout=60)
    assert p.proc.returncode == 143 and out == "", err
    assert err.endswith(
        "kavlan: the move did not stop within 0.5 s: exiting now; its intent stays in the database, and the next "
        "kavlan command completes or rolls it back\n"
    ), err
    data = Path(kenv["KAVLAN_DATA_DIR"])
    seen = read_sqlite(data / "kavlan.db", SMALL_CABLING)
    assert [i[1:3] for i in seen.intents] == [("move", job.id)], "the intent stays for the next command"
    assert seen.switch_vlans[("suno-1", "eth0")] == job.vlans[0].vlan and seen.nic_vlans == {}
    make_service(options={})  # the switch answers again
    after = kavlan(env, "kavlan", "-g", "-j", str(job.id))
    assert after.stdout == "suno-1.sophia.grid5000.fr: DEFAULT\nsuno-2.sophia.grid5000.fr: DEFAULT\n"
    assert "move of 2 port(s) into VLAN" in after.stderr and after.stderr.endswith(": rolled back\n")
    check_invariants(read_sqlite(data / "kavlan.db", SMALL_CABLING), held_lock_files(data))


# --- PostgreSQL restarted, or gone, in the middle of a move --------------------------------------------------------


@pytest.mark.parametrize("fault", ("restarted", "down until the move ended"))
def test_postgresql_lost_in_the_middle_of_a_move(
    make_service, kenv, pg_server, pg_url, fault: str, tmp_path: Path
):
    """The server goes away after two switches changed: restarted (the move's connections and its switches' locks
    end with it), or down until the move gave up. The move never reports what it cannot vouch for; the next
    command, the server back, settles its intent."""
    slow = {sw: {"latency_ms": 5} for sw in ("sw1", "sw2", "sw3", "sw4")}
    svc = make_service(options=slow, switch_concurrency=1, database=pg_url)
    job = run(svc.submit(ROUTED + ",{\"cluster='suno'\"}/nodes=6"))
    run(svc.close())
    env = {
        **kenv,
        "KAVLAN_INVENTORY": str(tmp_path / "testbed.toml"),
        "KAVLAN_DATABASE": pg_url,
        "KAVLAN_SWITCH_CONCURRENCY": "1",
    }
    try:
        with stopped_at(
            "after-apply:sw2", env, "kavlan", "-s", "-j", str(job.id), where=tmp_path / "stop"
        ) as p:
            p.wait_reached()
            pg_server.restart() if fault == "restarted" else pg_server.stop()
            p.go_on()
            out, err = p.proc.communicate(timeout=120)
    finally:
        pg_server.start()
    assert p.proc.returncode == 1 and "Traceback" not in err, err
    assert sorted(line.split(":")[0] for line in err.splitlines()) == [
        f"{n}.sophia.grid5000.fr" for n in job.nodes
    ]
    after = kavlan(env, "kavlan", "-g", "-j", str(job.id))
    assert after.returncode == 0, after.stderr
    assert f"kavlan: unfinished move of 6 port(s) into VLAN {job.vlans[0].vlan} by alice" in after.stderr
    seen = read_postgresql(pg_url, SMALL_CABLING)
    check_invariants(seen, advisory_locks(pg_url))
    assert {seen.switch_vlans[(n, "eth0")] for n in job.nodes} in ({0}, {job.vlans[0].vlan})
