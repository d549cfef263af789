"""The store's reads on an existing SQLite database through the standard library, so that a command that only
reads (``kavlan -g``, the TUI's first board) starts without importing SQLAlchemy, which costs more than the rest
of such a command on a slow machine; the full store (store.py) is opened the first time anything else is asked.

:func:`open_store` gives the full store at once for PostgreSQL, for a database that does not exist yet or is not
at the schema version below, or when the quick reader cannot open it: the full store then creates, migrates or
refuses it as it always did. A read transaction asked for something the quick reader does not implement gets it
from a read transaction of the full store (loaded then), so a new read of the store still works, only slower.
Whatever goes wrong with the database (gone, replaced, read-only, corrupt) is left to the full store too: the quick
reader then does what it asked through the full store, which says what happened in the sentence it always did.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .model import Job, JobState, JobVlan

if TYPE_CHECKING:
    from .store import Store, Tx

SCHEMA_VERSION = 5
"""The schema this reader knows (store.SCHEMA_VERSION: a test holds the two equal). Another version in the database
sends every read to the full store."""

PREFIX = "sqlite:///"


def open_store(url: str) -> Store:
    """The store at ``url``: quick reads on an SQLite database already at the current schema, else the full store.
    The stand-in has the store's interface (what it does not implement is the full store's, opened on demand)."""
    path = _sqlite_path(url)
    if path is not None and _readable(path):
        try:
            return cast("Store", QuickStore(url, path.absolute()))
        except OSError:  # gone since: the full store says so
            pass
    from .store import Store

    return Store(url)


def _sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no query, no in-memory database), else None."""
    if not url.startswith(PREFIX):
        return None
    rest = url[len(PREFIX) :]
    if not rest or rest == ":memory:" or "?" in rest:
        return None
    return Path(rest)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing file (never creating one), in autocommit mode: BEGIN is issued by reads."""
    conn = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=rw",
        uri=True,
        timeout=30,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _readable(path: Path) -> bool:
    """The database exists, opens, and is at the schema version this reader knows."""
    if not path.is_file():
        return False
    try:
        conn = _connect(path)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # no meta table yet, not a database, locked for longer than the timeout...
        return False
    return row is not None and row[0] == str(SCHEMA_VERSION)


class QuickStore:
    """Reads through sqlite3; every other use of the store goes to the full one, opened the first time."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.is_sqlite = True
        self.path = path
        self._full: Store | None = None
        self._identity = _identity(path)
        """The file opened (device, inode), as the full store keeps it: a file deleted or replaced since is not read."""

    @property
    def full(self) -> Store:
        if self._full is None:
            from .store import Store

            self._full = Store(self.url)
        return self._full

    def __getattr__(self, name: str) -> Any:
        # write(), lock(), schema_version(), engine...: the full store's
        return getattr(self.full, name)

    def _check_file(self) -> None:
        """The full store's check that the file is still the one opened, with its sentences when it is not."""
        try:
            same = _identity(self.path) == self._identity
        except OSError:
            same = False
        if not same:
            from .store import Store

            cast(Any, Store)._check_file(self)  # raises its DatabaseFault: deleted, or unusable

    @contextmanager
    def read(self) -> Iterator[Tx]:
        self._check_file()
        try:
            conn = _connect(self.path)
            conn.execute("BEGIN")
        except sqlite3.Error:  # the full store's read, and its sentence if the database cannot be read
            with self.full.read() as tx:
                yield tx
            return
        try:
            quick = QuickTx(conn, self)
            try:
                yield cast("Tx", quick)
            finally:
                quick.end()
        finally:
            conn.close()  # ends the read transaction: nothing was written

    def dispose(self) -> None:
        if self._full is not None:
            self._full.dispose()


class QuickTx:
    """The read operations of store.Tx, on one sqlite3 read transaction. Their results are the same values."""

    def __init__(self, conn: sqlite3.Connection, store: QuickStore) -> None:
        self.db = conn
        self._store = store
        self._full: Any = None
        self._full_tx: Tx | None = None

    def __getattr__(self, name: str) -> Any:
        # a read this class does not implement: the full store's, in a read transaction of its own
        return getattr(self._full_read(), name)

    def _full_read(self) -> Tx:
        if self._full_tx is None:
            self._full = self._store.full.read()
            self._full_tx = self._full.__enter__()
        return self._full_tx

    def end(self) -> None:
        if self._full is not None:
            self._full.__exit__(None, None, None)
            self._full = self._full_tx = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query; when the database cannot answer, the same query in a read of the full store,
        which answers or raises its sentence."""
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error:
            pass
        with self._store.full.read() as tx:
            return [tuple(row) for row in tx.conn.exec_driver_sql(sql, tuple(params))]

    def _jobs(self, where: str, params: tuple[Any, ...]) -> list[Job]:
        rows = self._query(
            "SELECT id, user, name, state, types, request, submitted, started, walltime, ended FROM jobs"
            f"{where} ORDER BY id",
            params,
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        nodes: dict[int, list[str]] = {i: [] for i in ids}
        vlans: dict[int, list[JobVlan]] = {i: [] for i in ids}
        grid_of = dict(self._query(f"SELECT job, grid FROM job_grids WHERE job IN ({marks})", ids))
        for job_id, node in self._query(
            f"SELECT job_id, node FROM job_nodes WHERE job_id IN ({marks}) ORDER BY node", ids
        ):
            nodes[job_id].append(node)
        for job_id, site, vlan in self._query(
            f"SELECT job_id, site, vlan FROM job_vlans WHERE job_id IN ({marks}) ORDER BY vlan", ids
        ):
            vlans[job_id].append(JobVlan(site, vlan))
        return [
            Job(
                id=i,
                user=user,
                state=JobState(state),
                name=name,
                types=tuple(t for t in types.split(",") if t),
                request=request,
                submitted=submitted,
                started=started,
                walltime=walltime,
                ended=ended,
                nodes=tuple(nodes[i]),
                vlans=tuple(vlans[i]),
                grid=grid_of.get(i),
            )
            for i, user, name, state, types, request, submitted, started, walltime, ended in rows
        ]

    def job(self, job_id: int) -> Job | None:
        found = self._jobs(" WHERE id = ?", (job_id,))
        return found[0] if found else None

    def jobs(self, *, user: str | None = None, running: bool | None = None) -> list[Job]:
        clauses, params = [], []
        if user is not None:
            clauses.append("user = ?")
            params.append(user)
        if running is not None:
            clauses.append("state = ?" if running else "state != ?")
            params.append(JobState.RUNNING.value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._jobs(where, tuple(params))

    def busy_nodes(self) -> set[str]:
        q = "SELECT n.node FROM job_nodes n JOIN jobs j ON j.id = n.job_id WHERE j.state = ?"
        return {node for (node,) in self._query(q, (JobState.RUNNING.value,))}

    def held_vlans(self) -> dict[tuple[str, int], int]:
        q = "SELECT v.site, v.vlan, v.job_id FROM job_vlans v JOIN jobs j ON j.id = v.job_id WHERE j.state = ?"
        return {(site, vlan): job for site, vlan, job in self._query(q, (JobState.RUNNING.value,))}

    def nic_vlans(self, keys: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
        rows = self._query("SELECT node, nic, vlan FROM nic_vlans")
        if keys is not None:
            wanted = set(keys)
            return {(node, nic): vlan for node, nic, vlan in rows if (node, nic) in wanted}
        return {(node, nic): vlan for node, nic, vlan in rows}

    def dhcp_states(self) -> dict[tuple[str, int], dict[str, Any]]:
        q = "SELECT site, vlan, state, since, user, detail FROM dhcp"
        return {
            (site, vlan): {"state": state, "since": since, "user": user, "detail": detail}
            for site, vlan, state, since, user, detail in self._query(q)
        }

    def has_intents(self) -> bool:
        return bool(self._query("SELECT id FROM intents LIMIT 1"))

    def unavailable(self) -> dict[str, tuple[str, float, int | None]]:
        q = "SELECT node, reason, since, job FROM unavailable_nodes"
        return {node: (reason, since, job) for node, reason, since, job in self._query(q)}

    def sim_read(self, switch: str, ports: Iterable[str]) -> dict[str, int]:
        wanted = set(ports)
        q = "SELECT port, tag FROM sim_ports WHERE switch = ?"
        return {port: tag for port, tag in self._query(q, (switch,)) if port in wanted}
