"""Faults of the database, under a running command and before it: read-only, full, deleted, replaced, damaged. Each is
one sentence naming the file and what to do, found before any switch is touched where it can be; what happens once
switches changed is left in the journal, and the next command settles it.

Read-only and full are real: the data dir is a small tmpfs in a mount namespace of its own (root), remounted
read-only or filled up; the commands run in that namespace (nsenter), and the checks read copies of its files.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crash_harness import SMALL_CABLING, check_invariants, held_lock_files, kavlan, read_sqlite, stopped_at

from conftest import small_inventory

ROUTED = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=4"
GET = ("kavlan", "-g", "-j", "1000")
MOVE = ("kavlan", "-s", "-j", "1000")
NODES = [f"suno-{i}.sophia.grid5000.fr" for i in range(1, 5)]


def defaults(out: str) -> bool:
    return out == "".join(f"{n}: DEFAULT\n" for n in NODES)


# --- a data dir on a tmpfs of its own -----------------------------------------------------------------------------


@dataclass
class TmpFs:
    """A tmpfs mounted in a private mount namespace (a process holds it): ``inside`` is its path there, ``outside``
    the same directory seen from here (through /proc/PID/root, for plain file I/O only: SQLite resolves that link)."""

    holder: subprocess.Popen[str]
    inside: Path

    @property
    def outside(self) -> Path:
        return Path(f"/proc/{self.holder.pid}/root{self.inside}")

    def run(self, *args: str) -> list[str]:
        """A command line run in the namespace."""
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--", *args]

    def remount(self, mode: str) -> None:
        subprocess.run(self.run("mount", "-o", f"remount,{mode}", str(self.inside)), check=True, timeout=30)

    def fill(self) -> None:
        """Write a file until the tmpfs is full (closing it may fail too, what its buffer held not fitting)."""
        with contextlib.suppress(OSError), open(self.outside / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()

    def free(self) -> None:
        (self.outside / "filler").unlink(missing_ok=True)

    def copy(self, to: Path) -> Path:
        """A copy of the database (with its WAL) that sqlite3 can open from here."""
        to.mkdir(parents=True, exist_ok=True)
        for name in ("kavlan.db", "kavlan.db-wal"):
            if (self.outside / "data" / name).exists():
                shutil.copyfile(self.outside / "data" / name, to / name)
        return to / "kavlan.db"


@pytest.fixture
def tmpfs() -> Iterator[TmpFs]:
    if os.geteuid() != 0 or shutil.which("nsenter") is None or shutil.which("unshare") is None:
        pytest.skip("a tmpfs in a mount namespace of its own needs root, unshare and nsenter")
    inside = Path(tempfile.mkdtemp(prefix="kavlan-fault-"))
    script = f"mount -t tmpfs -o size=4m kavlan-fault {inside} && echo ready && exec sleep 600"
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 30)
        assert ready and holder.stdout.readline().strip() == "ready", "the tmpfs could not be mounted"
        yield TmpFs(holder, inside)
    finally:
        holder.kill()
        holder.wait(30)
        inside.rmdir()


@pytest.fixture
def fs_env(tmpfs: TmpFs, kenv, tmp_path: Path) -> dict[str, str]:
    """The console scripts' environment with the data dir on the tmpfs, a job of alice's (a routed VLAN, suno-1..4
    on sw1 and sw2)."""
    testbed = small_inventory(tmp_path / "testbed.toml")
    env = {**kenv, "KAVLAN_INVENTORY": str(testbed), "KAVLAN_DATA_DIR": str(tmpfs.inside / "data")}
    done = kavlan(env, *tmpfs.run("kavlan-oarsub", "-l", ROUTED))
    assert done.returncode == 0 and "OAR_JOB_ID=1000" in done.stdout, done.stderr
    return env


def sentence(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a command failed with (no traceback)."""
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    return done.stderr


def outside_invariants(tmpfs: TmpFs, tmp_path: Path) -> None:
    seen = read_sqlite(tmpfs.copy(tmp_path / "copy"), SMALL_CABLING)
    check_invariants(seen, held_lock_files(tmpfs.outside / "data"))


def test_a_database_on_a_read_only_file_system(tmpfs: TmpFs, fs_env, tmp_path: Path) -> None:
    db = tmpfs.inside / "data" / "kavlan.db"
    tmpfs.remount("ro")
    for args in (GET, MOVE):
        assert sentence(kavlan(fs_env, *tmpfs.run(*args))) == (
            f"kavlan: the database {db} is read-only (unable to open database file: the file system is read-only): "
            "make it and its directory writable, then run the command again\n"
        )
    tmpfs.remount("rw")
    assert defaults(kavlan(fs_env, *tmpfs.run(*GET)).stdout)
    outside_invariants(tmpfs, tmp_path)


def test_a_disk_that_fills_before_the_intent_lets_no_switch_be_touched(
    tmpfs: TmpFs, fs_env, tmp_path: Path
) -> None:
    """The disk fills while a move has read and planned: its intent cannot be written, so no switch is touched, and
    the command says why in one sentence. (A file system cannot be remounted read-only under a process writing to
    it: read-only is found when the command starts, above.)"""
    with stopped_at("before-intent", fs_env, *tmpfs.run(*MOVE), where=tmp_path / "stop") as p:
        p.wait_reached()
        tmpfs.fill()
        p.go_on()
        out, err = p.proc.communicate(timeout=60)
    db = tmpfs.inside / "data" / "kavlan.db"
    assert p.proc.returncode == 1 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"kavlan: the disk holding the database {db} is full (") and "free some" in err, err
    tmpfs.free()
    after = kavlan(fs_env, *tmpfs.run(*GET))
    assert defaults(after.stdout) and after.stderr == "", after.stderr
    outside_invariants(tmpfs, tmp_path)


def test_a_disk_that_fills_during_a_move_is_settled_by_the_next_command(
    tmpfs: TmpFs, fs_env, tmp_path: Path
) -> None:
    """The disk fills after the first switch changed: the move cannot record (nor can the simulated switches, whose
    ports are in that database), says so per node; once space is freed, the next command settles its intent."""
    with stopped_at("after-readback:sw1", fs_env, *tmpfs.run(*MOVE), where=tmp_path / "stop") as p:
        p.wait_reached()
        tmpfs.fill()
        p.go_on()
        out, err = p.proc.communicate(timeout=60)
    assert p.proc.returncode == 1 and "Traceback" not in err, err
    assert sorted(line.split(":")[0] for line in err.splitlines()) == NODES, err
    assert all("is full" in line for line in err.splitlines()), err
    tmpfs.free()
    after = kavlan(fs_env, *tmpfs.run(*GET))
    assert after.returncode == 0, after.stderr
    assert "kavlan: unfinished move of 4 port(s) into VLAN" in after.stderr, after.stderr
    outside_invariants(tmpfs, tmp_path)


# --- deleted, replaced, damaged -------------------------------------------------------------------------------------


@pytest.fixture
def env(kenv, tmp_path: Path) -> dict[str, str]:
    testbed = small_inventory(tmp_path / "testbed.toml")
    env = {**kenv, "KAVLAN_INVENTORY": str(testbed)}
    assert kavlan(env, "kavlan-oarsub", "-l", ROUTED).returncode == 0
    return env


def database(env: dict[str, str]) -> Path:
    return Path(env["KAVLAN_DATA_DIR"]) / "kavlan.db"


@pytest.mark.parametrize("fault", ("deleted", "replaced"))
def test_a_database_deleted_or_replaced_under_a_running_move(env, fault: str, tmp_path: Path) -> None:
    db = database(env)
    kept = tmp_path / "kept.db"
    os.link(db, kept)  # the file the command opened, still readable after it is gone from its path
    with stopped_at("before-intent", env, *MOVE, where=tmp_path / "stop") as p:
        p.wait_reached()
        if fault == "deleted":
            db.unlink()
        else:
            other = tmp_path / "other.db"
            with (
                contextlib.closing(sqlite3.connect(kept)) as src,
                contextlib.closing(sqlite3.connect(other)) as dst,
            ):
                src.backup(dst)
            os.replace(other, db)
        p.go_on()
        out, err = p.proc.communicate(timeout=60)
    assert p.proc.returncode == 1 and out == "", err
    if fault == "deleted":
        assert err == (
            f"kavlan: the database {db} was deleted while this command ran: nothing more was changed; restore it "
            "from a backup, or run the command again to start an empty one (kavlan --drift then shows what the "
            "switches hold)\n"
        )
    else:
        assert err == (
            f"kavlan: the database {db} was replaced by another file while this command ran: nothing more was "
            "changed; run the command again to use the new file\n"
        )
    seen = read_sqlite(kept, SMALL_CABLING)
    check_invariants(seen, held_lock_files(db.parent))
    assert set(seen.switch_vlans.values()) == {0}, "no switch was touched"


@pytest.mark.parametrize("damage", ("header", "page"))
def test_a_damaged_database_is_one_sentence(env, damage: str) -> None:
    db = database(env)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        jobs_page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek(0 if damage == "header" else (jobs_page - 1) * page)
        fh.write(os.urandom(page if damage == "page" else 100))
    before = db.read_bytes()
    for args in (GET, MOVE, ("kavlan-oarstat",)):
        err = sentence(kavlan(env, *args))
        why = "file is not a database" if damage == "header" else "database disk image is malformed"
        assert err == (
            f"{args[0]}: the database {db} is damaged ({why}): restore it from a backup, or move it aside to start "
            "an empty one (kavlan --drift then shows what the switches hold)\n"
        )
    assert db.read_bytes() == before, "nothing was written"
