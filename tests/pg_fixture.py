"""A private PostgreSQL server for the test session (initdb in a temporary dir, 127.0.0.1 only), as pytest fixtures."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from snmpd_fixture import log_tail

BACKENDS = ("sqlite", "postgresql")
"""The store's backends; a test module runs ``make_service`` on both by overriding the ``backend`` fixture."""

NO_POSTGRES = "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
SYSTEM_USER = "postgres"
"""As root, the server runs as this user: PostgreSQL refuses to run as root."""
SUPERUSER = "postgres"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


def _binaries() -> Path | None:
    """The bin dir holding initdb and postgres: Debian's /usr/lib/postgresql/N/bin (newest N), else PATH."""

    def major(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    for postgres in sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=major, reverse=True):
        bindir = Path(postgres).parent
        if (bindir / "initdb").is_file():
            return bindir
    found = shutil.which("postgres")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


@dataclass
class PgServer:
    """One running postgres: where it listens, and an admin URL for its ``postgres`` database."""

    port: int
    socket_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _databases: itertools.count[int]
    command: list[str] = field(default_factory=list)
    """How it was started: ``start`` starts it again the same way, on the same port and data."""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as c:
            c.execute(sql)

    def create_database(self) -> str:
        name = f"kavlan_test_{next(self._databases)}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # FORCE: ends sessions a test left open

    def log(self) -> str:
        return log_tail(self.log_path)

    def start(self) -> None:
        """Start it again after ``stop`` (same port, same data), and wait until it accepts connections."""
        if self.process.poll() is None:
            return
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **_as_server_user(),
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start again; its log:\n{self.log()}")
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop it (fast shutdown: every session ends, the advisory locks with them) and start it again."""
        self.stop()
        self.start()

    def stop(self) -> None:
        """Stop the server by its pid: fast shutdown (SIGINT), then SIGKILL if it lingers.

        SIGINT, not SIGTERM: PostgreSQL's SIGTERM is the "smart" shutdown, which waits for every client to leave,
        and a test may leave a pooled connection open.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> dict[str, Any]:
    """Popen arguments that run the child as the ``postgres`` user when we are root (no intermediate process:
    the pid we hold is the server's own), and stop it if this process dies without stopping it."""
    kwargs: dict[str, Any] = {"preexec_fn": _die_with_parent}
    if os.geteuid() == 0:
        kwargs.update(user=SYSTEM_USER, group=pwd.getpwnam(SYSTEM_USER).pw_gid, extra_groups=[])
    return kwargs


def _die_with_parent() -> None:
    # runs in the child after its user change, which would have reset it; SIGINT: PostgreSQL's fast shutdown
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def _accepts(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", connect_timeout=1
        ):
            return True
    except psycopg.OperationalError:
        return False


# a throwaway cluster: durability buys nothing, speed does
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


def _initdb(bindir: Path, data: Path) -> None:
    cmd = [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"]
    cmd += ["--no-locale", "--no-sync", "--no-instructions"]
    done = subprocess.run(
        cmd, cwd=data.parent, capture_output=True, text=True, timeout=120, check=False, **_as_server_user()
    )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")


def _start(bindir: Path, data: Path, sockets: Path, log_path: Path) -> PgServer:
    """Start postgres on a free 127.0.0.1 port and wait (bounded) until it accepts connections."""
    last_log = ""
    for _attempt in range(3):  # the free port may be taken between the probe and the server's bind
        port = _free_tcp_port()
        cmd = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-k",
            str(sockets),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        cmd += [arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                cwd=data.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **_as_server_user(),
            )
        server = PgServer(port, sockets, process, log_path, itertools.count(1), cmd)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if _accepts(port):
                return server
            time.sleep(0.1)
        last_log = server.log()
        server.stop()
    raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1 in three attempts; its log:\n{last_log}")


@contextlib.contextmanager
def private_server(bindir: Path) -> Iterator[PgServer]:
    """A PostgreSQL server in a temporary dir, on 127.0.0.1 and a unix socket there; stopped and removed after."""
    # in /tmp, not pytest's tmp dir: the server's user must reach it, and pytest's dirs are private to root
    workdir = Path(tempfile.mkdtemp(prefix="kavlan-pg-"))
    try:
        data, sockets = workdir / "data", workdir / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SYSTEM_USER)
            for path in (workdir, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _initdb(bindir, data)
        server = _start(bindir, data, sockets, workdir / "postgres.log")
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session (see :func:`private_server`)."""
    bindir = _binaries()
    if bindir is None:
        pytest.skip(NO_POSTGRES)
    assert bindir is not None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            pytest.skip(f"running as root, and there is no {SYSTEM_USER!r} user to run PostgreSQL as")
    with private_server(bindir) as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


def database_for(backend: str, request: pytest.FixtureRequest) -> str:
    """The ``database`` setting for a backend: empty (the SQLite file in the data dir), or a fresh PostgreSQL
    database on the session's server."""
    if backend == "sqlite":
        return ""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
