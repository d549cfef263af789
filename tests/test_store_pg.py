"""The store on PostgreSQL: switch locks across processes (and on SQLite alike), the schema, URLs and errors."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from pg_fixture import BACKENDS

from conftest import run
from kavlan_core import store
from kavlan_core.errors import Unavailable
from kavlan_core.model import DEFAULT
from kavlan_core.store import Store, StoreError

# another process holding a switch's lock through its own KavlanService until told (a line on stdin) to let go
HOLDER = """
import asyncio, sys
from kavlan_core import config
from kavlan_core.service import KavlanService

async def main():
    svc = KavlanService(config.load())
    async with svc.switches.lock("sw1"):
        print("held", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print("released", flush=True)
    await svc.close()

asyncio.run(main())
"""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def holder(make_service, kenv, tmp_path):
    """Start the holder process on the test's store and testbed; it holds sw1's lock when this returns."""
    svc = make_service()  # writes the testbed and creates the schema
    env = {**kenv, "KAVLAN_INVENTORY": str(tmp_path / "testbed.toml")}
    if not svc.store.is_sqlite:
        env["KAVLAN_DATABASE"] = svc.store.engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert readline(child, 30) == "held", "the holder did not take the lock"
        yield svc, child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


def readline(child: subprocess.Popen[str], timeout: float) -> str:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return child.stdout.readline().strip() if ready else ""


def test_the_switch_lock_holds_across_processes(holder, backend, monkeypatch):
    """While another process holds sw1, this one waits for it (and only for it), then gets it when released."""
    svc, child = holder
    assert svc.store.is_sqlite == (backend == "sqlite")
    lock_file = svc.settings.data_path / "locks" / "sw1.lock"
    assert not run(svc.store.lock("switch:sw1", file=lock_file).acquire(timeout=0.3)), "taken twice"
    refused = asyncio.Event()
    original = store.NamedLock.acquire

    async def acquire(self: store.NamedLock, timeout: float) -> bool:
        """A first short try tells when this process is kept waiting: then the real wait."""
        if await original(self, min(timeout, 0.05)):
            return True
        refused.set()
        return await original(self, timeout)

    monkeypatch.setattr(store.NamedLock, "acquire", acquire)

    async def scenario() -> tuple[float, float]:
        async def second() -> float:
            async with svc.switches.lock("sw1"):
                return time.monotonic()

        async with svc.switches.lock("sw2"):  # another switch is free meanwhile
            pass
        assert not refused.is_set()
        waiting = asyncio.ensure_future(second())
        kept_waiting = asyncio.ensure_future(refused.wait())
        await asyncio.wait({waiting, kept_waiting}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        assert kept_waiting.done() and not waiting.done(), (
            "the second process got the lock while the first held it"
        )
        released = time.monotonic()
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        return released, await asyncio.wait_for(waiting, 20)

    released, got = run(scenario())
    assert got >= released
    assert readline(child, 10) == "released" and child.wait(10) == 0


def test_a_dead_holder_releases_the_switch_lock(holder):
    """A process killed while it held a lock does not keep it: its connection (or its file) goes with it."""
    svc, child = holder
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    async def take() -> None:
        async with svc.switches.lock("sw1"):
            pass

    run(asyncio.wait_for(take(), 20))


def test_the_lock_deadline_is_one_sentence_and_changes_nothing(make_service, monkeypatch):
    """Past the deadline the move gives up, naming the switch and why, before touching anything (deadline
    shortened here); the API answers it as 409, the CLI as its one sentence."""
    svc = make_service(user="root")
    other = svc.store.lock("switch:sw1", file=svc.settings.data_path / "locks" / "sw1.lock")
    original = store.NamedLock.acquire

    async def quick(self, timeout: float) -> bool:
        return await original(self, min(timeout, 0.2))

    async def scenario() -> None:
        assert await other.acquire(timeout=1)
        try:
            monkeypatch.setattr(store.NamedLock, "acquire", quick)
            with pytest.raises(Unavailable, match="switch sw1 is busy: another move held it for 5 minutes"):
                await svc.set_vlan(["suno-1", "suno-3"], 4)
            assert await svc.vlan_of(["suno-1", "suno-3"]) == [
                ("suno-1.sophia.grid5000.fr", DEFAULT),
                ("suno-3.sophia.grid5000.fr", DEFAULT),
            ]
        finally:
            other.release()

    run(scenario())


def test_the_postgresql_schema_is_the_sqlite_one(pg_url):
    """Same tables and columns; ``user`` is a reserved word in PostgreSQL, quoted by SQLAlchemy."""
    db = Store(pg_url)
    inspector = sa.inspect(db.engine)
    for table in store.metadata.sorted_tables:
        assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
    with db.write() as tx:
        tx.audit("alice", "test")
        tx.set_dhcp("sophia", 4, "on", "bob", 1.5)
        row = tx.conn.execute(sa.text('SELECT "user" FROM jobs UNION ALL SELECT "user" FROM audit')).all()
    assert row == [("alice",)]
    with db.read() as tx:
        assert tx.dhcp_states()[("sophia", 4)]["user"] == "bob"
    db.dispose()


def test_postgresql_urls(pg_url, pg_server):
    """``postgresql://`` means psycopg 3 (SQLAlchemy would pick psycopg2); a password never shows."""
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    db = Store(plain)
    assert db.engine.dialect.driver == "psycopg" and not db.is_sqlite
    db.dispose()
    secret = pg_url.replace("postgres@", "postgres:s3cret@")
    db = Store(secret)  # trust authentication: the password is not checked
    assert "s3cret" not in db.url and "***" in db.url
    db.dispose()


def test_an_unreachable_database_is_one_sentence(pg_server):
    stopped = pg_server.url().replace(f":{pg_server.port}/", f":{free_port()}/")
    with pytest.raises(
        StoreError, match=r"^cannot open the database postgresql\+psycopg://postgres@127.0.0.1:\d+/"
    ):
        Store(stopped)
    with pytest.raises(StoreError, match="is not a database URL"):
        Store("no url at all")
    with pytest.raises(StoreError, match="neither SQLite nor PostgreSQL"):
        Store("mysql://db.example/kavlan")


def test_a_lost_database_fails_the_lock_with_one_sentence(pg_server, tmp_path):
    name = pg_server.create_database()
    db = Store(pg_server.url(name))
    pg_server.drop_database(name)  # FORCE: also ends the store's pooled sessions
    with pytest.raises(StoreError, match=f"^cannot take the lock 'switch:sw1': .*{name}.* does not exist"):
        run(db.lock("switch:sw1", file=tmp_path / "unused").acquire(timeout=1))
    db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kavlan_cli_on_postgresql(kenv, pg_url):
    """The console scripts take the URL from KAVLAN_DATABASE: a job and a move, seen by a second command."""
    env = {**kenv, "KAVLAN_DATABASE": pg_url}

    def cli(*args: str) -> str:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    submitted = cli("kavlan-oarsub", "-l", "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2")
    job_id = submitted.split("OAR_JOB_ID=")[1].split()[0]
    cli("kavlan", "-s", "-j", job_id)
    vlan = cli("kavlan", "-V", "-j", job_id).strip()
    assert set(cli("kavlan", "-g", "-j", job_id).split()[1::2]) == {vlan}
    assert not os.path.exists(os.path.join(kenv["KAVLAN_DATA_DIR"], "kavlan.db")), "SQLite was used"
