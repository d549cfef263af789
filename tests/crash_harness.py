"""The fault-injection harness: a console script stopped at a named step of a move (core/testpoints.py) and killed
there, and the invariants checked from outside the project's code: the database's tables read with sqlite3 or
psycopg, the simulated switches' ports from their table, real switches with snmpget, the locks with flock or
pg_locks.

The invariants, after the next command ran:
- no intent is left unfinished;
- the store and the switches agree on every NIC;
- no NIC is in a VLAN that no running job holds (DEFAULT aside);
- no lock is held.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REACH_SECONDS = 60.0
"""How long a process may take to reach its step (its start included) before the test fails."""
END_SECONDS = 60.0
"""How long a process let go on may take to end."""

KILLS = ("kill-9", "sigterm", "sigint-twice")
EXIT_STATUS = {"sigterm": 143, "sigint-twice": 130}
DEFAULT_TAG, TAG_BASE = 100, 700
"""The small testbed's tags (tests/conftest.py): DEFAULT is 100, VLAN N is 700 + N."""


def kavlan(env: Mapping[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=dict(env), capture_output=True, text=True, timeout=timeout)


# --- stopping a process at a step ------------------------------------------------------------------------------


@dataclass
class Stopped:
    """A console script started with KAVLAN_TEST_STOP_AT: wait until it reaches its step, then kill it there."""

    proc: subprocess.Popen[str]
    where: Path
    point: str

    def wait_reached(self) -> None:
        reached = self.where / "reached"
        deadline = time.monotonic() + REACH_SECONDS
        while not reached.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"ended ({self.proc.returncode}) before {self.point}: {out}{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"did not reach {self.point} in {REACH_SECONDS:g} s")
            time.sleep(0.01)
        assert reached.read_text() == self.point

    def go_on(self) -> None:
        """Let it go on from its step (it blocks opening the FIFO for reading: this opens it for writing)."""
        with open(self.where / "go", "wb"):
            pass

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` and wait until the kernel delivered it (two SIGINTs must not merge into one)."""
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 10
        while _pending(self.proc.pid, sig) and time.monotonic() < deadline:
            time.sleep(0.005)

    def kill(self, how: str) -> subprocess.CompletedProcess[str]:
        """Kill it at its step: SIGKILL there; SIGTERM, or SIGINT twice, there and then let it go on to its end."""
        self.wait_reached()
        if how == "kill-9":
            self.proc.kill()
        elif how == "sigterm":
            self.signal(signal.SIGTERM)
            self.go_on()
        elif how == "sigint-twice":
            self.signal(signal.SIGINT)
            self.signal(signal.SIGINT)
            self.go_on()
        else:
            raise ValueError(how)
        out, err = self.proc.communicate(timeout=END_SECONDS)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def _pending(pid: int, sig: signal.Signals) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    bit = 1 << (int(sig) - 1)
    masks = [
        int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:"))
    ]
    return any(m & bit for m in masks)


@contextmanager
def stopped_at(point: str, env: Mapping[str, str], *args: str, where: Path) -> Iterator[Stopped]:
    """Start ``args`` so that it stops at ``point``; it is killed if the test leaves it running."""
    where.mkdir(parents=True, exist_ok=True)
    for name in ("reached", "go"):
        (where / name).unlink(missing_ok=True)
    os.mkfifo(where / "go")
    full = {**env, "KAVLAN_TEST_STOP_AT": point, "KAVLAN_TEST_STOP_DIR": str(where)}
    proc = subprocess.Popen(list(args), env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield Stopped(proc, where, point)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=END_SECONDS)


# --- the state, read from outside ------------------------------------------------------------------------------


def vlan_of_tag(tag: int | None, default_tag: int = DEFAULT_TAG) -> int | None:
    """The small testbed's VLAN for a tag (None: no VLAN of the testbed)."""
    if tag is None or tag == default_tag:
        return 0
    return tag - TAG_BASE if TAG_BASE < tag <= TAG_BASE + 21 else None


@dataclass
class Seen:
    """What the database and the switches hold, read without the project's code."""

    nic_vlans: dict[tuple[str, str], int]
    switch_vlans: dict[tuple[str, str], int | None]
    """(node, nic) -> the VLAN its port is in on its switch."""
    intents: list[tuple[Any, ...]]
    held: set[tuple[str, int]]
    """(site, VLAN) held by running jobs."""
    jobs: dict[int, str] = field(default_factory=dict)
    """job id -> state."""
    audit: list[tuple[str, str]] = field(default_factory=list)
    """(action, detail), oldest first."""


SwitchVlans = Callable[[], dict[tuple[str, str], int | None]]
"""Real switches read from outside: (node, nic) -> the VLAN its port is in."""


def read_sqlite(
    db: Path, cabling: Mapping[tuple[str, str], tuple[str, str]], switches: SwitchVlans | None = None
) -> Seen:
    """``cabling``: (node, nic) -> (switch, port); simulated switches' ports are in the ``sim_ports`` table, real
    ones are read by ``switches``."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return _seen(conn.execute, cabling, switches)
    finally:
        conn.close()


def _seen(
    execute: Callable[..., Any],
    cabling: Mapping[tuple[str, str], tuple[str, str]],
    switches: SwitchVlans | None,
) -> Seen:
    sim = {(r[0], r[1]): r[2] for r in execute("SELECT switch, port, tag FROM sim_ports").fetchall()}
    nic_vlans = {(r[0], r[1]): r[2] for r in execute("SELECT node, nic, vlan FROM nic_vlans").fetchall()}
    if switches is not None:
        switch_vlans = switches()
    else:
        switch_vlans = {key: vlan_of_tag(sim.get(port, DEFAULT_TAG)) for key, port in cabling.items()}
    held = execute(
        "SELECT v.site, v.vlan FROM job_vlans v JOIN jobs j ON j.id = v.job_id WHERE j.state = 'Running'"
    ).fetchall()
    return Seen(
        nic_vlans=nic_vlans,
        switch_vlans=switch_vlans,
        intents=list(execute("SELECT id, kind, job, note FROM intents").fetchall()),
        held={(r[0], r[1]) for r in held},
        jobs={r[0]: r[1] for r in execute("SELECT id, state FROM jobs").fetchall()},
        audit=[(r[0], r[1]) for r in execute("SELECT action, detail FROM audit ORDER BY id").fetchall()],
    )


def read_postgresql(url: str, cabling: Mapping[tuple[str, str], tuple[str, str]]) -> Seen:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return _seen(conn.execute, cabling, None)


def advisory_locks(url: str) -> int:
    """PostgreSQL: the advisory locks held in this database (the switch locks and the jobs' end locks)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def held_lock_files(data_dir: Path) -> list[str]:
    """SQLite: the lock files (data dir's locks/) that some process still holds."""
    held = []
    for path in sorted((data_dir / "locks").glob("*.lock")):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(path.name)
        finally:
            os.close(fd)
    return held


GLOBAL_OWNERS = {18: "sophia", 11: "lille"}
"""The small testbed's global VLANs and the sites owning them."""


def site_of(node: str) -> str:
    """The small testbed's site of a node: suno is sophia's cluster, chetemi lille's."""
    return "lille" if node.startswith("chetemi") else "sophia"


def check_invariants(seen: Seen, locks_held: list[str] | int) -> None:
    """Store and switches agree, no NIC in a VLAN no running job holds, nothing unfinished, no lock held."""
    assert seen.intents == [], f"unfinished intents: {seen.intents}"
    recorded = {key: seen.nic_vlans.get(key, 0) for key in seen.switch_vlans}
    assert recorded == seen.switch_vlans, _disagreement(recorded, seen.switch_vlans)
    strays = [
        (node, nic, vlan)
        for (node, nic), vlan in seen.nic_vlans.items()
        if vlan != 0 and (GLOBAL_OWNERS.get(vlan, site_of(node)), vlan) not in seen.held
    ]
    assert strays == [], f"NICs in a VLAN no running job holds: {strays}"
    assert not locks_held, f"locks still held: {locks_held}"


def _disagreement(recorded: Mapping[Any, Any], switches: Mapping[Any, Any]) -> str:
    diff = {k: (recorded[k], switches[k]) for k in recorded if recorded[k] != switches[k]}
    return f"store and switches disagree (NIC: store, switch): {diff}"


SMALL_CABLING: dict[tuple[str, str], tuple[str, str]] = {
    **{(f"suno-{n}", "eth0"): (f"sw{(n + 1) // 2}", f"Gi1/0/{2 - n % 2}") for n in range(1, 9)},
    **{(f"chetemi-{n}", "eth0"): ("lille-sw1", f"ge-0/0/{n - 1}") for n in range(1, 5)},
}
"""The small testbed's cabling (tests/conftest.py): suno-1..8 two per switch on sw1..sw4, chetemi-1..4 on lille-sw1."""
