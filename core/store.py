"""Persistent state through SQLAlchemy Core: jobs, VLAN rights, port VLANs, DHCP state, simulated ports, audit log,
and the intent journal; a fault of the database (read-only, full, deleted, replaced, damaged, connection lost) as
one sentence naming it and what to do."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .errors import DatabaseFault, StoreError
from .errors import LockTimeout as LockTimeout  # the store's errors, where they were first found
from .journal import END, Intent, IntentPort
from .locks import AdvisoryLock, FileLock, NamedLock, driver_reason
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

V1_TABLES = (meta, jobs, job_nodes, job_vlans, nic_vlans, dhcp, sim_ports, audit)

# The intent journal (schema v2). A move's intent is written before any switch is touched and deleted with its
# record; a job's end is one too, until every NIC of its nodes and VLANs is back in DEFAULT (see journal.py).
intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("vlan", sa.Integer, nullable=False),
    sa.Column("job", sa.Integer),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("owner", sa.String(128), nullable=False, default=""),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("retry_at", sa.Float, nullable=False, default=0.0),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

intent_ports = sa.Table(
    "intent_ports",
    metadata,
    sa.Column("intent", sa.Integer, sa.ForeignKey("intents.id"), primary_key=True),
    sa.Column("switch", sa.String(128), primary_key=True),
    sa.Column("port", sa.String(128), primary_key=True),
    sa.Column("node", sa.String(128), nullable=False),
    sa.Column("nic", sa.String(32), nullable=False),
    sa.Column("old_tag", sa.Integer, nullable=False),
    sa.Column("new_tag", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tag", sa.Integer),
)

# Nodes that could not be brought back (schema v3): a job's end that finds a real node answering nowhere marks it
# here, and no new job gets it until an administrator clears it.
unavailable_nodes = sa.Table(
    "unavailable_nodes",
    metadata,
    sa.Column("node", sa.String(128), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("job", sa.Integer),
)

# Grid reservations (schema v4). ``grids`` and ``grid_parts`` are kept where the grid was made (its home site's
# server, or the one store embedded): which site's server holds which job of it. ``job_grids`` is kept by the
# server of each part's job: the grid a job of this store belongs to (its ``Job.grid``).
grids = sa.Table(
    "grids",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("walltime", sa.Integer, nullable=False),
)

grid_parts = sa.Table(
    "grid_parts",
    metadata,
    sa.Column("grid", sa.Integer, sa.ForeignKey("grids.id"), primary_key=True),
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("job", sa.Integer, primary_key=True),
)

job_grids = sa.Table(
    "job_grids",
    metadata,
    sa.Column("job", sa.Integer, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("grid", sa.Integer, nullable=False),
)

# Each NIC's last verified move (schema v5): the VLAN it left and when, a move back to DEFAULT too. The isolation
# check excuses what the switches still remember of the VLAN it left, for as long as they may (their ageing time).
nic_moves = sa.Table(
    "nic_moves",
    metadata,
    sa.Column("node", sa.String(128), primary_key=True),
    sa.Column("nic", sa.String(32), primary_key=True),
    sa.Column("left_vlan", sa.Integer, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

FIRST_JOB_ID = 1000
FIRST_GRID_ID = 1


def _create_v1(conn: sa.Connection) -> None:
    # schema v1 as the first release created it: the tables it had, in their first form (a later step that
    # changes one of them must copy its v1 definition here), so every database walks the same steps
    metadata.create_all(conn, tables=list(V1_TABLES))


def _create_v2(conn: sa.Connection) -> None:
    """The intent journal."""
    metadata.create_all(conn, tables=[intents, intent_ports])


def _create_v3(conn: sa.Connection) -> None:
    """Nodes marked unavailable."""
    metadata.create_all(conn, tables=[unavailable_nodes])


def _create_v4(conn: sa.Connection) -> None:
    """Grid reservations."""
    metadata.create_all(conn, tables=[grids, grid_parts, job_grids])


def _create_v5(conn: sa.Connection) -> None:
    """Each NIC's last move."""
    metadata.create_all(conn, tables=[nic_moves])


MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [
    (1, _create_v1),
    (2, _create_v2),
    (3, _create_v3),
    (4, _create_v4),
    (5, _create_v5),
]
"""The steps from an empty database to the current schema, in order: (version reached, step). Every step runs
on SQLite and PostgreSQL alike; all pending steps run in one write transaction, which also records the version."""

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Advisory lock keys (PostgreSQL). The write lock uses the two-int4 key space and named locks (locks.py) the bigint
# one: PostgreSQL keeps the two apart, so no lock name can ever collide with the write lock.
_PG_LOCK_CLASS = 0x4B564C4E  # "KVLN"
_PG_WRITE_LOCK = sa.text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_CLASS}, 0)")
# as SQLite's busy_timeout: a writer waits this long for the write lock, then fails instead of hanging
_PG_LOCK_TIMEOUT = "30s"


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
        self.path = _sqlite_file(parsed) if self.is_sqlite else None
        """The SQLite file (absolute), None for PostgreSQL or an in-memory database."""
        self._identity: tuple[int, int] | None = None
        self._opened = False
        self._lock_engine: sa.Engine | None = None
        self.engine = self._engine(parsed)
        try:
            self._migrate()
        except BaseException:  # unreachable, refused, no such database, no right to create tables: a sentence
            self.engine.dispose()
            raise
        self._opened = True
        self._identity = _identity(self.path) if self.path is not None else None

    @property
    def where(self) -> str:
        """The database as a sentence names it: the SQLite file, or the URL (password hidden)."""
        return str(self.path) if self.path is not None else self.url

    def _engine(self, parsed: sa.URL) -> sa.Engine:
        try:
            if self.is_sqlite:
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(parsed, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_connect)
                event.listen(engine, "begin", _sqlite_begin)
                return engine
            if parsed.get_backend_name() == "postgresql":
                engine = sa.create_engine(parsed, pool_pre_ping=True)
                event.listen(engine, "connect", _pg_connect)
                return engine
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the database {self.url} needs the Python module {exc.name}"
                " (PostgreSQL: a postgresql:// URL and pip install 'psycopg[binary]')"
            ) from None
        except FileExistsError:  # mkdir found a file where the data directory goes
            assert self.path is not None
            raise StoreError(
                f"cannot open the database {self.where}: {self.path.parent} is a file, not a directory"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot open the database {self.where}: {exc.strerror}") from None
        raise StoreError(f"the database {self.url} is neither SQLite nor PostgreSQL")

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
        self._check_file()
        try:
            with self.engine.connect() as conn, conn.begin():
                yield Tx(conn)
        except (sa.exc.OperationalError, sa.exc.DatabaseError) as exc:
            if isinstance(exc, sa.exc.IntegrityError):
                raise  # a bug, not a fault of the database
            raise self.fault(exc) from None

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A transaction that takes the write lock at once: allocations (job ids, VLANs, nodes) cannot interleave.

        SQLite: BEGIN IMMEDIATE. PostgreSQL: a transaction-level advisory lock, taken first, released at commit or
        rollback. Chosen over SERIALIZABLE with retries because callers run code between their reads and writes
        inside one ``with`` block that cannot be replayed; writes are short and rare, so one writer at a time
        costs nothing, and readers are never blocked. Under READ COMMITTED (the default, kept) each statement
        after the lock sees every transaction committed before it: what was read is still true at commit.
        A fault of the database (read-only, full, gone) is a :class:`DatabaseFault` with its sentence.
        """
        self._check_file()
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = conn.execution_options(kavlan_immediate=True)
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(_PG_WRITE_LOCK)
                    yield Tx(conn)
        except (sa.exc.OperationalError, sa.exc.DatabaseError) as exc:
            if isinstance(exc, sa.exc.IntegrityError):
                raise  # a bug, not a fault of the database
            raise self.fault(exc) from None

    def fault(self, exc: sa.exc.DBAPIError) -> StoreError:
        """A database error as the sentence a face prints: what happened to which database, and what to do."""
        reason = driver_reason(exc)
        if not self._opened and not self.is_sqlite:
            return StoreError(f"cannot open the database {self.url}: {reason}")
        if self.path is not None:  # SQLite's words ("unable to open", "disk I/O error") do not say why: look
            reason = _why_sqlite(self.path, reason)
        return DatabaseFault(fault_sentence(self.where, reason, sqlite=self.is_sqlite, opened=self._opened))

    def _check_file(self) -> None:
        """SQLite: the file this process opened must still be the one at its path. A connection keeps writing to a
        deleted file, where nothing it writes survives, and a file replaced under it is another database."""
        if self._identity is None or self.path is None:
            return
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            raise DatabaseFault(
                f"the database {self.path} was deleted while this command ran: nothing more was changed; restore "
                "it from a backup, or run the command again to start an empty one (kavlan --drift then shows what "
                "the switches hold)"
            ) from None
        except OSError as exc:
            raise DatabaseFault(f"cannot use the database {self.path}: {exc.strerror}") from None
        if now != self._identity:
            raise DatabaseFault(
                f"the database {self.path} was replaced by another file while this command ran: nothing more was "
                "changed; run the command again to use the new file"
            )

    def lock(self, name: str, *, file: Path) -> NamedLock:
        """A lock named ``name`` that holds across processes sharing this database (see NamedLock)."""
        if self.is_sqlite:
            return FileLock(name, file)
        if self._lock_engine is None:
            # Each held lock has a connection of its own, from a pool of their own: a new PostgreSQL connection is
            # a server process forked (15-30 ms here), more than the rest of a move. A connection goes back to
            # the pool only after pg_advisory_unlock_all() answered; one that failed is invalidated (closed),
            # which releases its locks on the server. At most one lock per switch is waited for at a time in a
            # process (the service's asyncio lock is in front), so the pool grows to the switches in use.
            self._lock_engine = sa.create_engine(
                self.engine.url, pool_size=8, max_overflow=-1, pool_pre_ping=True
            )
        return AdvisoryLock(name, self._lock_engine)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()


def fault_sentence(where: str, reason: str, *, sqlite: bool, opened: bool = True) -> str:
    """What a database error means for the user, from the driver's own words."""
    low = reason.lower()
    if "readonly" in low or "read-only" in low:
        return (
            f"the database {where} is read-only ({reason}): make it and its directory writable, then run the "
            "command again"
        )
    if "is full" in low or "no space left" in low:
        return f"the disk holding the database {where} is full ({reason}): free some space, then run the command again"
    if "malformed" in low or "not a database" in low:
        return (
            f"the database {where} is damaged ({reason}): restore it from a backup, or move it aside to start an "
            "empty one (kavlan --drift then shows what the switches hold)"
        )
    if "database is locked" in low:
        return f"the database {where} stayed locked by another process ({reason}): run the command again"
    if sqlite or not opened:
        return f"cannot use the database {where}: {reason}"
    return f"lost the connection to the database {where} ({reason}): run the command again once it answers"


def _why_sqlite(path: Path, reason: str) -> str:
    """SQLite's reason, with what the file system says when SQLite's words do not: full, or read-only."""
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return reason
    if fs.f_flag & os.ST_RDONLY:
        return f"{reason}: the file system is read-only"
    if fs.f_bavail == 0:
        return f"{reason}: no space left on the device"
    if not os.access(path.parent, os.W_OK) or path.exists() and not os.access(path, os.W_OK):
        return f"{reason}: the file or its directory is read-only for this user"
    return reason


def _sqlite_file(parsed: sa.URL) -> Path | None:
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(os.path.abspath(path))


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _version(conn: sa.Connection) -> int:
    """The schema version recorded in ``meta``; 0 for an empty database."""
    if not sa.inspect(conn).has_table(meta.name):
        return 0
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


SQLITE_BUSY_SECONDS = 30.0
"""SQLite's busy_timeout: how long a connection waits for another's lock before the database is called locked."""


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy's begin event issue BEGIN itself, so that writers can ask for IMMEDIATE
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _wal(cur: Any) -> None:
    """Switch the file to WAL. SQLite answers "locked" at once, without its busy handler, when another connection
    holds the file while the switch is asked for (several processes opening a new store together): so wait here,
    bounded as the busy handler would be."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "BEGIN IMMEDIATE" if conn.get_execution_options().get("kavlan_immediate") else "BEGIN"
    )


def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute(f"SET lock_timeout = '{_PG_LOCK_TIMEOUT}'")
    dbapi_conn.commit()  # a SET in a transaction rolled back later would be undone


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
        grid_of = {
            r.job: r.grid for r in self.conn.execute(sa.select(job_grids).where(job_grids.c.job.in_(ids)))
        }
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
                grid=grid_of.get(r.id),
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
        name: str | None = None,
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
        if name is not None:
            where.append(jobs.c.name == name)
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

    # --- grid reservations -----------------------------------------------------------

    def next_grid_id(self) -> int:
        top = self.conn.execute(sa.select(sa.func.max(grids.c.id))).scalar()
        return max(FIRST_GRID_ID, (top or 0) + 1)

    def insert_grid(self, grid_id: int, user: str, created: float, walltime: int) -> None:
        self.conn.execute(grids.insert().values(id=grid_id, user=user, created=created, walltime=walltime))

    def add_grid_parts(self, grid_id: int, parts: Iterable[tuple[str, int]]) -> None:
        """Which site's server holds which job of the grid."""
        rows = [{"grid": grid_id, "site": site, "job": job} for site, job in dict.fromkeys(parts)]
        if rows:
            self.conn.execute(grid_parts.insert(), rows)

    def set_job_grid(self, job_id: int, grid_id: int) -> None:
        """This store's job ``job_id`` is a part of grid ``grid_id`` (kept where the grid is, or elsewhere)."""
        self.conn.execute(job_grids.insert().values(job=job_id, grid=grid_id))

    def grid(self, grid_id: int) -> tuple[str, float, int, list[tuple[str, int]]] | None:
        """A grid: (user, created, walltime, its parts as (site, job)), or None."""
        row = self.conn.execute(sa.select(grids).where(grids.c.id == grid_id)).first()
        if row is None:
            return None
        q = sa.select(grid_parts).where(grid_parts.c.grid == grid_id).order_by(grid_parts.c.job)
        return row.user, row.created, row.walltime, [(r.site, r.job) for r in self.conn.execute(q)]

    def grid_ids(self, user: str | None = None) -> list[int]:
        q = sa.select(grids.c.id).order_by(grids.c.id)
        if user is not None:
            q = q.where(grids.c.user == user)
        return [r.id for r in self.conn.execute(q)]

    def delete_grid(self, grid_id: int) -> None:
        """A grid that never was (its parts could not all be reserved): its record goes."""
        self.conn.execute(grid_parts.delete().where(grid_parts.c.grid == grid_id))
        self.conn.execute(grids.delete().where(grids.c.id == grid_id))

    def end_job(self, job_id: int, state: JobState, at: float) -> None:
        self.conn.execute(jobs.update().where(jobs.c.id == job_id).values(state=state.value, ended=at))

    def busy_nodes(self) -> set[str]:
        q = (
            sa.select(job_nodes.c.node)
            .join(jobs, jobs.c.id == job_nodes.c.job_id)
            .where(jobs.c.state == JobState.RUNNING.value)
        )
        return {r.node for r in self.conn.execute(q)}

    def unavailable(self) -> dict[str, tuple[str, float, int | None]]:
        """The nodes marked unavailable: node -> (reason, since, the job whose end marked it)."""
        rows = self.conn.execute(sa.select(unavailable_nodes))
        return {r.node: (r.reason, r.since, r.job) for r in rows}

    def mark_unavailable(self, node: str, reason: str, at: float, job: int | None = None) -> None:
        self.conn.execute(unavailable_nodes.delete().where(unavailable_nodes.c.node == node))
        self.conn.execute(unavailable_nodes.insert().values(node=node, reason=reason, since=at, job=job))

    def clear_unavailable(self, node: str) -> bool:
        """Whether ``node`` was marked."""
        return bool(
            self.conn.execute(unavailable_nodes.delete().where(unavailable_nodes.c.node == node)).rowcount
        )

    def job_runs(self, job_id: int) -> bool:
        """Whether the job exists and runs: one row read (a move's record checks it under the write lock)."""
        row = self.conn.execute(sa.select(jobs.c.state).where(jobs.c.id == job_id)).first()
        return row is not None and row.state == JobState.RUNNING.value

    def nodes_in_running_jobs(self, user: str, nodes: Iterable[str]) -> set[str]:
        """Those of ``nodes`` that a running job of ``user`` holds."""
        q = (
            sa.select(job_nodes.c.node)
            .join(jobs, jobs.c.id == job_nodes.c.job_id)
            .where(
                jobs.c.state == JobState.RUNNING.value,
                jobs.c.user == user,
                job_nodes.c.node.in_(list(nodes)),
            )
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
        before = self.nic_vlans(keys)
        moved = [
            {"node": n, "nic": i, "left_vlan": before.get((n, i), 0), "at": at}
            for (n, i), v in changes.items()
            if before.get((n, i), 0) != v
        ]
        self.conn.execute(nic_vlans.delete().where(sa.tuple_(nic_vlans.c.node, nic_vlans.c.nic).in_(keys)))
        rows = [{"node": n, "nic": i, "vlan": v, "changed": at} for (n, i), v in changes.items() if v != 0]
        if rows:
            self.conn.execute(nic_vlans.insert(), rows)
        if moved:
            where = sa.tuple_(nic_moves.c.node, nic_moves.c.nic).in_([(m["node"], m["nic"]) for m in moved])
            self.conn.execute(nic_moves.delete().where(where))
            self.conn.execute(nic_moves.insert(), moved)

    def nic_moves(self, since: float = 0.0) -> dict[tuple[str, str], tuple[int, float]]:
        """Each NIC's last move at or after ``since``: the VLAN it left (0: DEFAULT) and when."""
        q = sa.select(nic_moves).where(nic_moves.c.at >= since)
        return {(r.node, r.nic): (r.left_vlan, r.at) for r in self.conn.execute(q)}

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

    # --- the intent journal ----------------------------------------------------------

    def open_intent(
        self,
        kind: str,
        user: str,
        vlan: int,
        job: int | None,
        ports: Iterable[IntentPort],
        *,
        at: float,
        owner: str,
    ) -> int:
        """Write an intent and its ports; its id."""
        done = self.conn.execute(
            intents.insert().values(
                kind=kind, user=user, vlan=vlan, job=job, created=at, owner=owner, attempts=0, retry_at=0.0
            )
        )
        key = done.inserted_primary_key
        assert key is not None
        intent_id = int(key[0])
        self.add_intent_ports(intent_id, ports)
        return intent_id

    def add_intent_ports(self, intent_id: int, ports: Iterable[IntentPort]) -> None:
        """More ports for an intent (a job's end: the nodes whose return it has still to see)."""
        rows = [
            {
                "intent": intent_id,
                "switch": p.switch,
                "port": p.port,
                "node": p.node,
                "nic": p.nic,
                "old_tag": p.old_tag,
                "new_tag": p.new_tag,
                "state": p.state,
                "tag": p.tag,
            }
            for p in ports
        ]
        if rows:
            self.conn.execute(intent_ports.insert(), rows)

    def intent_outcome(self, intent_id: int, switch: str, state: str, tags: dict[str, int | None]) -> None:
        """A switch of an intent completed: its ports' state, and the tag each was read back with."""
        by_tag: dict[int | None, list[str]] = {}
        for port, tag in tags.items():
            by_tag.setdefault(tag, []).append(port)
        for tag, ports in by_tag.items():  # one statement per tag read back: mostly one, the move's new tag
            self.conn.execute(
                intent_ports.update()
                .where(
                    intent_ports.c.intent == intent_id,
                    intent_ports.c.switch == switch,
                    intent_ports.c.port.in_(ports),
                )
                .values(state=state, tag=tag)
            )

    def close_intent(self, intent_id: int) -> bool:
        """Delete a settled intent; False if it was already gone (another process settled it)."""
        self.conn.execute(intent_ports.delete().where(intent_ports.c.intent == intent_id))
        return bool(self.conn.execute(intents.delete().where(intents.c.id == intent_id)).rowcount)

    def defer_intent(self, intent_id: int, retry_at: float, note: str) -> None:
        """An attempt to settle it failed: when to try again, and why it failed."""
        self.conn.execute(
            intents.update()
            .where(intents.c.id == intent_id)
            .values(attempts=intents.c.attempts + 1, retry_at=retry_at, note=note[:2000])
        )

    def intents(self, intent_id: int | None = None) -> list[Intent]:
        """The unfinished intents (or the one asked for), oldest first, with their ports."""
        q = sa.select(intents).order_by(intents.c.id)
        if intent_id is not None:
            q = q.where(intents.c.id == intent_id)
        rows = list(self.conn.execute(q))
        if not rows:
            return []
        ports: dict[int, list[IntentPort]] = {r.id: [] for r in rows}
        pq = sa.select(intent_ports).where(intent_ports.c.intent.in_(list(ports)))
        for p in self.conn.execute(pq.order_by(intent_ports.c.switch, intent_ports.c.port)):
            ports[p.intent].append(
                IntentPort(p.switch, p.port, p.node, p.nic, p.old_tag, p.new_tag, p.state, p.tag)
            )
        return [
            Intent(
                r.id,
                r.kind,
                r.user,
                r.vlan,
                r.job,
                r.created,
                r.owner,
                r.attempts,
                r.retry_at,
                r.note,
                tuple(ports[r.id]),
            )
            for r in rows
        ]

    def has_intents(self) -> bool:
        """Whether any intent is unfinished: one cheap read at the start of every command."""
        return self.conn.execute(sa.select(intents.c.id).limit(1)).first() is not None

    def ending_jobs(self) -> list[Job]:
        """Ended jobs whose end is unfinished: their nodes and VLANs are given to no new job until it is."""
        q = sa.select(intents.c.job).where(intents.c.kind == END, intents.c.job.is_not(None))
        ids = [r.job for r in self.conn.execute(q)]
        if not ids:
            return []
        return self._jobs_from_rows(self.conn.execute(sa.select(jobs).where(jobs.c.id.in_(ids))))
