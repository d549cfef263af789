"""Persistent state through SQLAlchemy Core: jobs, VLAN rights, port VLANs, DHCP state, simulated ports, audit log."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .errors import KavlanError
from .model import Job, JobState, JobVlan

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text)
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("types", sa.String(256), nullable=False, default=""),
    sa.Column("request", sa.Text, nullable=False, default=""),
    sa.Column("submitted", sa.Float, nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("walltime", sa.Integer, nullable=False),
    sa.Column("ended", sa.Float),
)

job_nodes = sa.Table(
    "job_nodes",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("node", sa.String(128), primary_key=True),
)

job_vlans = sa.Table(
    "job_vlans",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("vlan", sa.Integer, primary_key=True),
)

# What is on the switches, as far as the last verified change knows. No row: DEFAULT.
nic_vlans = sa.Table(
    "nic_vlans",
    metadata,
    sa.Column("node", sa.String(128), primary_key=True),
    sa.Column("nic", sa.String(32), primary_key=True),
    sa.Column("vlan", sa.Integer, nullable=False),
    sa.Column("changed", sa.Float, nullable=False),
)

dhcp = sa.Table(
    "dhcp",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("vlan", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("user", sa.String(64), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

# The port state of simulated switches: their "hardware", separate from what the store believes.
sim_ports = sa.Table(
    "sim_ports",
    metadata,
    sa.Column("switch", sa.String(128), primary_key=True),
    sa.Column("port", sa.String(128), primary_key=True),
    sa.Column("tag", sa.Integer, nullable=False),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

FIRST_JOB_ID = 1000


def _create_v1(conn: sa.Connection) -> None:
    # ``metadata`` describes schema v1, as the first release created it; a later step that changes a table
    # must keep this step creating v1 (copy v1's definitions here then), so every database walks the same steps
    metadata.create_all(conn)


MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [
    (1, _create_v1),
]
"""The steps from an empty database to the current schema, in order: (version reached, step). Every step runs
on SQLite and PostgreSQL alike; all pending steps run in one write transaction, which also records the version."""

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Advisory lock keys (PostgreSQL). The write lock uses the two-int4 key space and named locks the bigint one:
# PostgreSQL keeps the two apart, so no lock name can ever collide with the write lock.
_PG_LOCK_CLASS = 0x4B564C4E  # "KVLN"
_PG_WRITE_LOCK = sa.text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_CLASS}, 0)")
_PG_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(CAST(:key AS bigint))")
_PG_UNLOCK = sa.text("SELECT pg_advisory_unlock_all()")
# as SQLite's busy_timeout: a writer waits this long for the write lock, then fails instead of hanging
_PG_LOCK_TIMEOUT = "30s"


class StoreError(KavlanError, RuntimeError):
    pass


class LockTimeout(StoreError):
    """A named lock stayed held by someone else until the deadline."""


class Store:
    """One database. SQLite file by default; a ``postgresql://`` URL (driver psycopg 3) works the same."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise StoreError(
                f"the database setting {url!r} is not a database URL (sqlite:///PATH or postgresql://...)"
            ) from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # SQLAlchemy's default would be psycopg2
        self.url = parsed.render_as_string(hide_password=True)
        """For display: the password is hidden."""
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._lock_engine: sa.Engine | None = None
        try:
            if self.is_sqlite:
                path = parsed.database or ""
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.engine = sa.create_engine(parsed, connect_args={"timeout": 30})
                event.listen(self.engine, "connect", _sqlite_connect)
                event.listen(self.engine, "begin", _sqlite_begin)
            elif parsed.get_backend_name() == "postgresql":
                self.engine = sa.create_engine(parsed, pool_pre_ping=True)
                event.listen(self.engine, "connect", _pg_connect)
            else:
                raise StoreError(f"the database {self.url} is neither SQLite nor PostgreSQL")
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the database {self.url} needs the Python module {exc.name}"
                " (PostgreSQL: a postgresql:// URL and pip install 'psycopg[binary]')"
            ) from None
        try:
            self._migrate()
        except sa.exc.DBAPIError as exc:  # unreachable, refused, no such database, no right to create tables
            self.engine.dispose()
            raise StoreError(f"cannot open the database {self.url}: {_reason(exc)}") from None
        except BaseException:
            self.engine.dispose()
            raise

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION; a database already there costs one read."""
        latest = MIGRATIONS[-1][0]
        with self.read() as tx:
            version = _version(tx.conn)
        if version == latest:
            return
        with self.write() as tx:  # SQLite: BEGIN IMMEDIATE; PostgreSQL: the write lock. One process migrates.
            version = _version(tx.conn)
            if version > latest:
                raise StoreError(
                    f"the database {self.url} has schema version {version}, newer than this kavlan ({latest}): upgrade kavlan"
                )
            for step_version, step in MIGRATIONS:
                if step_version > version:
                    step(tx.conn)
            recorded = tx.conn.execute(
                meta.update().where(meta.c.key == "schema_version").values(value=str(latest))
            )
            if recorded.rowcount == 0:
                tx.conn.execute(meta.insert().values(key="schema_version", value=str(latest)))

    def schema_version(self) -> int:
        with self.read() as tx:
            return _version(tx.conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A transaction that takes the write lock at once: allocations (job ids, VLANs, nodes) cannot interleave.

        SQLite: BEGIN IMMEDIATE. PostgreSQL: a transaction-level advisory lock, taken first, released at commit or
        rollback. Chosen over SERIALIZABLE with retries because callers run code between their reads and writes
        inside one ``with`` block that cannot be replayed; writes are short and rare, so one writer at a time
        costs nothing, and readers are never blocked. Under READ COMMITTED (the default, kept) each statement
        after the lock sees every transaction committed before it: what was read is still true at commit.
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(kavlan_immediate=True)
            with conn.begin():
                if not self.is_sqlite:
                    conn.execute(_PG_WRITE_LOCK)
                yield Tx(conn)

    def lock(self, name: str, *, file: Path) -> NamedLock:
        """A lock named ``name`` that holds across processes sharing this database (see NamedLock)."""
        if self.is_sqlite:
            return _FileLock(name, file)
        if self._lock_engine is None:
            # Each held lock has a connection of its own, from a pool of their own: a new PostgreSQL connection is
            # a server process forked (15-30 ms here), more than the rest of a move. A connection goes back to
            # the pool only after pg_advisory_unlock_all() answered; one that failed is invalidated (closed),
            # which releases its locks on the server. At most one lock per switch is waited for at a time in a
            # process (the service's asyncio lock is in front), so the pool grows to the switches in use.
            self._lock_engine = sa.create_engine(
                self.engine.url, pool_size=8, max_overflow=-1, pool_pre_ping=True
            )
        return _AdvisoryLock(name, self._lock_engine)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's own first line (psycopg's is one clear sentence), without SQLAlchemy's statement dump."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


def _version(conn: sa.Connection) -> int:
    """The schema version recorded in ``meta``; 0 for an empty database."""
    if not sa.inspect(conn).has_table(meta.name):
        return 0
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy's begin event issue BEGIN itself, so that writers can ask for IMMEDIATE
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "BEGIN IMMEDIATE" if conn.get_execution_options().get("kavlan_immediate") else "BEGIN"
    )


def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute(f"SET lock_timeout = '{_PG_LOCK_TIMEOUT}'")
    dbapi_conn.commit()  # a SET in a transaction rolled back later would be undone


# --- named locks across processes --------------------------------------------------------------------------


class NamedLock:
    """A lock held across processes: ``await acquire(timeout)`` then ``release()``, or ``async with held(timeout)``.

    Polled with asyncio.sleep, so the event loop keeps running while another process holds it.
    """

    poll = 0.02

    def __init__(self, name: str) -> None:
        self.name = name

    async def acquire(self, timeout: float) -> bool:
        """Wait for the lock up to ``timeout`` seconds; False if someone else held it all that time."""
        deadline = time.monotonic() + timeout
        self._open()
        try:
            while not self._try():
                if time.monotonic() > deadline:
                    self._close()
                    return False
                await asyncio.sleep(self.poll)
        except BaseException:  # cancelled while waiting: leave nothing behind
            self._close()
            raise
        return True

    def release(self) -> None:
        self._close()

    @asynccontextmanager
    async def held(self, timeout: float) -> AsyncIterator[None]:
        if not await self.acquire(timeout):
            raise LockTimeout(
                f"the lock {self.name!r} stayed held by another process for {timeout:g} seconds"
            )
        try:
            yield
        finally:
            self.release()

    def _open(self) -> None:
        raise NotImplementedError

    def _try(self) -> bool:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class _FileLock(NamedLock):
    """SQLite: flock on a file beside the data (the file is the lock's identity; ``name`` is for messages)."""

    def __init__(self, name: str, file: Path) -> None:
        super().__init__(name)
        self.file = file
        self._fd: int | None = None

    def _open(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)

    def _try(self) -> bool:
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the flock
            self._fd = None


class _AdvisoryLock(NamedLock):
    """PostgreSQL: a session-level advisory lock on a connection of its own, held for the lock's life.

    The key is a stable 64-bit hash of the name (Python's hash() differs between processes). The connection
    runs in autocommit: a session lock needs no transaction, and an idle-in-transaction session would hold
    back vacuum for as long as the lock is held.
    """

    def __init__(self, name: str, engine: sa.Engine) -> None:
        super().__init__(name)
        self.engine = engine
        self.key = int.from_bytes(
            hashlib.blake2b(f"kavlan:{name}".encode(), digest_size=8).digest(), "big", signed=True
        )
        self._conn: sa.Connection | None = None
        self._held = False

    def _open(self) -> None:
        try:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot take the lock {self.name!r}: {_reason(exc)}") from None

    def _try(self) -> bool:
        assert self._conn is not None
        self._held = bool(self._conn.execute(_PG_TRY_LOCK, {"key": self.key}).scalar())
        return self._held

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._held:
                self._held = False
                conn.execute(_PG_UNLOCK)
        except sa.exc.DBAPIError:
            conn.invalidate()  # the server ends the session, and the lock with it
        finally:
            conn.close()


def _check_job_lengths(row: dict[str, Any]) -> None:
    """The same answer on both databases: SQLite would keep a too-long name, PostgreSQL would fail."""
    for key, value in row.items():
        limit = getattr(jobs.c[key].type, "length", None)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise StoreError(f"the job's {key} is too long: at most {limit} characters, not {len(value)}")


class Tx:
    """The store's operations inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- jobs ----------------------------------------------------------------

    def next_job_id(self) -> int:
        top = self.conn.execute(sa.select(sa.func.max(jobs.c.id))).scalar()
        return max(FIRST_JOB_ID, (top or 0) + 1)

    def insert_job(self, job: Job) -> None:
        row = {
            "id": job.id,
            "user": job.user,
            "name": job.name,
            "state": job.state.value,
            "types": ",".join(job.types),
            "request": job.request,
            "submitted": job.submitted,
            "started": job.started,
            "walltime": job.walltime,
            "ended": job.ended,
        }
        _check_job_lengths(row)
        self.conn.execute(jobs.insert().values(**row))
        if job.nodes:
            self.conn.execute(job_nodes.insert(), [{"job_id": job.id, "node": n} for n in job.nodes])
        if job.vlans:
            self.conn.execute(
                job_vlans.insert(), [{"job_id": job.id, "site": v.site, "vlan": v.vlan} for v in job.vlans]
            )

    def _jobs_from_rows(self, rows: Iterable[sa.Row[Any]]) -> list[Job]:
        rows = list(rows)
        if not rows:
            return []
        ids = [r.id for r in rows]
        nodes: dict[int, list[str]] = {i: [] for i in ids}
        vlans: dict[int, list[JobVlan]] = {i: [] for i in ids}
        for r in self.conn.execute(
            sa.select(job_nodes).where(job_nodes.c.job_id.in_(ids)).order_by(job_nodes.c.node)
        ):
            nodes[r.job_id].append(r.node)
        for r in self.conn.execute(
            sa.select(job_vlans).where(job_vlans.c.job_id.in_(ids)).order_by(job_vlans.c.vlan)
        ):
            vlans[r.job_id].append(JobVlan(r.site, r.vlan))
        return [
            Job(
                id=r.id,
                user=r.user,
                state=JobState(r.state),
                name=r.name,
                types=tuple(t for t in r.types.split(",") if t),
                request=r.request,
                submitted=r.submitted,
                started=r.started,
                walltime=r.walltime,
                ended=r.ended,
                nodes=tuple(nodes[r.id]),
                vlans=tuple(vlans[r.id]),
            )
            for r in rows
        ]

    def job(self, job_id: int) -> Job | None:
        found = self._jobs_from_rows(self.conn.execute(sa.select(jobs).where(jobs.c.id == job_id)))
        return found[0] if found else None

    def jobs(self, *, user: str | None = None, running: bool | None = None) -> list[Job]:
        q = sa.select(jobs).order_by(jobs.c.id)
        if user is not None:
            q = q.where(jobs.c.user == user)
        if running is True:
            q = q.where(jobs.c.state == JobState.RUNNING.value)
        elif running is False:
            q = q.where(jobs.c.state != JobState.RUNNING.value)
        return self._jobs_from_rows(self.conn.execute(q))

    def jobs_page(
        self,
        *,
        site: str,
        nodes: Collection[str],
        user: str | None,
        states: Collection[JobState] | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Job]]:
        """How many jobs touch ``site`` (one of its ``nodes``, or one of its VLANs), and a page of them, newest
        first: the page alone is read, so that a long history (any user can make jobs quickly) costs a count,
        not every job."""
        touching = sa.union(  # computed once (a subquery per job would be a hundred times slower)
            sa.select(job_nodes.c.job_id).where(job_nodes.c.node.in_(list(nodes))),
            sa.select(job_vlans.c.job_id).where(job_vlans.c.site == site),
        )
        where: list[sa.ColumnElement[bool]] = [jobs.c.id.in_(touching)]
        if user is not None:
            where.append(jobs.c.user == user)
        if states is not None:
            where.append(jobs.c.state.in_([s.value for s in states]))
        total = self.conn.execute(sa.select(sa.func.count()).select_from(jobs).where(*where)).scalar_one()
        page = (
            sa.select(jobs)
            .where(*where)
            .order_by(jobs.c.submitted.desc(), jobs.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return int(total), self._jobs_from_rows(self.conn.execute(page))

    def end_job(self, job_id: int, state: JobState, at: float) -> None:
        self.conn.execute(jobs.update().where(jobs.c.id == job_id).values(state=state.value, ended=at))

    def busy_nodes(self) -> set[str]:
        q = (
            sa.select(job_nodes.c.node)
            .join(jobs, jobs.c.id == job_nodes.c.job_id)
            .where(jobs.c.state == JobState.RUNNING.value)
        )
        return {r.node for r in self.conn.execute(q)}

    def held_vlans(self) -> dict[tuple[str, int], int]:
        """(site, vlan) -> id of the running job that holds it."""
        q = (
            sa.select(job_vlans.c.site, job_vlans.c.vlan, job_vlans.c.job_id)
            .join(jobs, jobs.c.id == job_vlans.c.job_id)
            .where(jobs.c.state == JobState.RUNNING.value)
        )
        return {(r.site, r.vlan): r.job_id for r in self.conn.execute(q)}

    # --- port VLANs (what the switches hold, as verified) ----------------------

    def nic_vlans(self, keys: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
        q = sa.select(nic_vlans)
        if keys is not None:
            keys = list(keys)
            wanted = set(keys)
            return {(r.node, r.nic): r.vlan for r in self.conn.execute(q) if (r.node, r.nic) in wanted}
        return {(r.node, r.nic): r.vlan for r in self.conn.execute(q)}

    def set_nic_vlans(self, changes: dict[tuple[str, str], int], at: float) -> None:
        """Record VLANs; DEFAULT (0) deletes the row."""
        if not changes:
            return
        keys = list(changes)
        self.conn.execute(nic_vlans.delete().where(sa.tuple_(nic_vlans.c.node, nic_vlans.c.nic).in_(keys)))
        rows = [{"node": n, "nic": i, "vlan": v, "changed": at} for (n, i), v in changes.items() if v != 0]
        if rows:
            self.conn.execute(nic_vlans.insert(), rows)

    # --- DHCP ------------------------------------------------------------------

    def dhcp_states(self) -> dict[tuple[str, int], dict[str, Any]]:
        return {
            (r.site, r.vlan): {"state": r.state, "since": r.since, "user": r.user, "detail": r.detail}
            for r in self.conn.execute(sa.select(dhcp))
        }

    def set_dhcp(self, site: str, vlan: int, state: str, user: str, at: float, detail: str = "") -> None:
        self.conn.execute(dhcp.delete().where(dhcp.c.site == site, dhcp.c.vlan == vlan))
        self.conn.execute(
            dhcp.insert().values(site=site, vlan=vlan, state=state, since=at, user=user, detail=detail)
        )

    # --- simulated switches ------------------------------------------------------

    def sim_read(self, switch: str, ports: Iterable[str]) -> dict[str, int]:
        wanted = set(ports)
        q = sa.select(sim_ports.c.port, sim_ports.c.tag).where(sim_ports.c.switch == switch)
        return {r.port: r.tag for r in self.conn.execute(q) if r.port in wanted}

    def sim_write(self, switch: str, tags: dict[str, int]) -> None:
        if not tags:
            return
        self.conn.execute(
            sim_ports.delete().where(sim_ports.c.switch == switch, sim_ports.c.port.in_(list(tags)))
        )
        self.conn.execute(
            sim_ports.insert(), [{"switch": switch, "port": p, "tag": t} for p, t in tags.items()]
        )

    # --- audit -------------------------------------------------------------------

    def audit(self, user: str, action: str, **detail: Any) -> None:
        self.conn.execute(
            audit.insert().values(
                at=time.time(), user=user, action=action, detail=json.dumps(detail, sort_keys=True)
            )
        )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        return [
            {"at": r.at, "user": r.user, "action": r.action, **json.loads(r.detail)}
            for r in self.conn.execute(q)
        ]
