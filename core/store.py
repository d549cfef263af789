"""Persistent state through SQLAlchemy Core: jobs, VLAN rights, port VLANs, DHCP state, simulated ports, audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .model import Job, JobState, JobVlan

SCHEMA_VERSION = 1

metadata = sa.MetaData()

meta = sa.Table("meta", metadata, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text))

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


class StoreError(RuntimeError):
    pass


class Store:
    """One database. SQLite file by default; any SQLAlchemy URL (``postgresql+psycopg://``) works the same."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        self._migrate()

    def _migrate(self) -> None:
        with self.write() as tx:
            metadata.create_all(tx.conn)
            row = tx.conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
            if row is None:
                tx.conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"the database {self.url} has schema version {row[0]}, newer than this kavlan ({SCHEMA_VERSION}): upgrade kavlan"
                )
            # future migrations: elif int(row[0]) < SCHEMA_VERSION: apply steps, then bump the version

    def schema_version(self) -> int:
        with self.read() as tx:
            return int(tx.conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A transaction that takes the write lock at once (SQLite BEGIN IMMEDIATE): allocations cannot interleave."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(kavlan_immediate=True)
            with conn.begin():
                yield Tx(conn)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy's begin event issue BEGIN itself, so that writers can ask for IMMEDIATE
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kavlan_immediate") else "BEGIN")


class Tx:
    """The store's operations inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- jobs ----------------------------------------------------------------

    def next_job_id(self) -> int:
        top = self.conn.execute(sa.select(sa.func.max(jobs.c.id))).scalar()
        return max(FIRST_JOB_ID, (top or 0) + 1)

    def insert_job(self, job: Job) -> None:
        self.conn.execute(
            jobs.insert().values(
                id=job.id,
                user=job.user,
                name=job.name,
                state=job.state.value,
                types=",".join(job.types),
                request=job.request,
                submitted=job.submitted,
                started=job.started,
                walltime=job.walltime,
                ended=job.ended,
            )
        )
        if job.nodes:
            self.conn.execute(job_nodes.insert(), [{"job_id": job.id, "node": n} for n in job.nodes])
        if job.vlans:
            self.conn.execute(job_vlans.insert(), [{"job_id": job.id, "site": v.site, "vlan": v.vlan} for v in job.vlans])

    def _jobs_from_rows(self, rows: Iterable[sa.Row[Any]]) -> list[Job]:
        rows = list(rows)
        if not rows:
            return []
        ids = [r.id for r in rows]
        nodes: dict[int, list[str]] = {i: [] for i in ids}
        vlans: dict[int, list[JobVlan]] = {i: [] for i in ids}
        for r in self.conn.execute(sa.select(job_nodes).where(job_nodes.c.job_id.in_(ids)).order_by(job_nodes.c.node)):
            nodes[r.job_id].append(r.node)
        for r in self.conn.execute(sa.select(job_vlans).where(job_vlans.c.job_id.in_(ids)).order_by(job_vlans.c.vlan)):
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
        self.conn.execute(dhcp.insert().values(site=site, vlan=vlan, state=state, since=at, user=user, detail=detail))

    # --- simulated switches ------------------------------------------------------

    def sim_read(self, switch: str, ports: Iterable[str]) -> dict[str, int]:
        wanted = set(ports)
        q = sa.select(sim_ports.c.port, sim_ports.c.tag).where(sim_ports.c.switch == switch)
        return {r.port: r.tag for r in self.conn.execute(q) if r.port in wanted}

    def sim_write(self, switch: str, tags: dict[str, int]) -> None:
        if not tags:
            return
        self.conn.execute(sim_ports.delete().where(sim_ports.c.switch == switch, sim_ports.c.port.in_(list(tags))))
        self.conn.execute(sim_ports.insert(), [{"switch": switch, "port": p, "tag": t} for p, t in tags.items()])

    # --- audit -------------------------------------------------------------------

    def audit(self, user: str, action: str, **detail: Any) -> None:
        self.conn.execute(
            audit.insert().values(at=time.time(), user=user, action=action, detail=json.dumps(detail, sort_keys=True))
        )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        return [
            {"at": r.at, "user": r.user, "action": r.action, **json.loads(r.detail)} for r in self.conn.execute(q)
        ]
