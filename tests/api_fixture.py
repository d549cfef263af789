"""A real ``kavlan-api serve`` on 127.0.0.1 for the API tests: certificates from ``kavlan-api ca``, a users file,
the demo testbed whose switches name a credentials file with a recognisable secret, logs to files."""

from __future__ import annotations

import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
from snmpd_fixture import log_tail, stop_process

from kavlan_core.api.auth import set_password

STARTUP_SECONDS = 20.0
SECRET = "S3cr3t-kavlan-community-7f41c2"
"""The switch credentials' secret: it must never show in a log or an answer."""
USERS = ("alice", "bob", "carol", "root")
"""Certificates for these users (root is the administrator); ``oar`` is a trusted service."""
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}
SITE = "sophia"


def kavlan_api() -> list[str]:
    """The console script when installed, else the module (same code)."""
    exe = shutil.which("kavlan-api")
    return [exe] if exe else [sys.executable, "-m", "kavlan_core.api.server"]


def make_certs(directory: Path, users: Sequence[str] = USERS, services: Sequence[str] = ("oar",)) -> Path:
    cmd = [*kavlan_api(), "ca", str(directory), "--server-name", "kavlan-api.test"]
    for u in users:
        cmd += ["--user", u]
    for s in services:
        cmd += ["--service", s]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return directory


def add_user(
    users_file: Path, user: str, password: str, scheme: str = "scrypt"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*kavlan_api(), "passwd", str(users_file), user, "--scheme", scheme],
        input=password + "\n",
        text=True,
        capture_output=True,
        timeout=60,
        check=True,
    )


def demo_with_credentials(path: Path) -> Path:
    """The built-in demo testbed, each switch naming the ``demo-switches`` credentials."""
    text = resources.files("kavlan_core").joinpath("data/demo.toml").read_text()
    path.write_text(
        text.replace('driver = "simulated"\n', 'driver = "simulated"\ncredentials = "demo-switches"\n')
    )
    return path


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(
        {
            "KAVLAN_DATA_DIR": str(workdir / "data"),
            "KAVLAN_CONFIG": str(workdir / "no-config.toml"),
            "KAVLAN_USER": "kavlan-api",
            "KAVLAN_ADMINS": "root",
            "KAVLAN_RETRY_BACKOFF": "0.01",
        }
    )
    env.update(extra)
    return env


class SourceAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections from a given local address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclass
class ApiServer:
    """One running server: its URL, its files, and clients for its users."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    certs: Path
    env: dict[str, str]
    stdout: Path
    stderr: Path
    access_log: Path
    audit_log: Path
    users_file: Path
    args: list[str] = field(default_factory=list)

    @property
    def ca(self) -> str:
        return str(self.certs / "ca.pem")

    def cert(self, user: str) -> tuple[str, str]:
        return str(self.certs / f"{user}.pem"), str(self.certs / f"{user}.key")

    def client(
        self,
        user: str | None = None,
        *,
        password: str | None = None,
        act_for: str | None = None,
        source: str | None = None,
    ) -> requests.Session:
        """A session verifying the server against the CA; a client certificate for ``user``, or Basic with
        ``password``; from the loopback address ``source`` (127.0.0.N) when given: the server limits
        connections and password guesses per client address."""
        s = requests.Session()
        if source is not None:
            s.mount("https://", SourceAdapter(source))
            s.mount("http://", SourceAdapter(source))
        # REQUESTS_CA_BUNDLE would replace the session's CA, and a proxy would see loopback
        s.trust_env = False
        s.verify = self.ca
        if user is not None and password is not None:
            s.auth = (user, password)
        elif user is not None:
            s.cert = self.cert(user)
        if act_for is not None:
            s.headers["X-Api-User-CN"] = act_for
        return s

    def get(self, user: str, path: str, **kw: Any) -> requests.Response:
        return self.client(user).get(self.url + path, timeout=30, **kw)

    def post(self, user: str, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.client(user).post(self.url + path, json=body, timeout=30, **kw)

    def put(self, user: str, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.client(user).put(self.url + path, json=body, timeout=30, **kw)

    def delete(self, user: str, path: str, **kw: Any) -> requests.Response:
        return self.client(user).delete(self.url + path, timeout=30, **kw)

    def reserve(
        self, user: str, resources: str = "{\"type='kavlan'\"}/vlan=1+/nodes=2", site: str = SITE
    ) -> dict[str, Any]:
        r = self.post(user, f"/sites/{site}/jobs", {"resources": resources, "types": ["deploy"]})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def vlan_of(self, nodes: Sequence[str], site: str = SITE) -> dict[str, str]:
        r = self.post("root", f"/sites/{site}/vlans/nodes", list(nodes))
        assert r.status_code == 200, r.text
        return {i["uid"]: i["vlan"] for i in r.json()["items"]}

    def log(self) -> str:
        return log_tail(self.stdout) + log_tail(self.stderr)

    def until_holding(self, count: int, within: float = 10.0) -> None:
        """Wait until the server's process holds ``count`` sockets (it accepted that many connections)."""
        fds = Path(f"/proc/{self.process.pid}/fd")
        deadline = time.monotonic() + within
        while sum(os.readlink(fd).startswith("socket:") for fd in fds.iterdir()) < count:
            assert time.monotonic() < deadline, (
                f"the server did not accept {count} connections within {within} s"
            )
            time.sleep(0.01)

    def stop(self) -> None:
        stop_process(self.process)


def start_server(
    workdir: Path,
    certs: Path,
    *,
    args: Sequence[str] = (),
    inventory: Path | str | None = None,
    users: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    tls: bool = True,
    open_files: int | None = None,
) -> ApiServer:
    """``kavlan-api serve`` on 127.0.0.1, any free port (the server prints the one it got); waits at most
    STARTUP_SECONDS for it to listen. ``open_files``: the server's soft limit of open files (its hard limit
    allowing)."""
    workdir.mkdir(parents=True, exist_ok=True)
    users_file = workdir / "users"
    for user, password in (PASSWORDS if users is None else users).items():
        set_password(
            users_file, user, password
        )  # in-process: test_api_server runs `kavlan-api passwd` itself
    credentials = workdir / "switch-credentials.toml"
    credentials.write_text(
        f'[demo-switches]\nversion = "2c"\ncommunity = "{SECRET}"\nwrite_community = "{SECRET}-rw"\n'
    )
    credentials.chmod(0o600)  # a credentials file others may read is refused
    inv = (
        inventory if inventory is not None else demo_with_credentials(workdir / "demo-with-credentials.toml")
    )
    full_env = server_env(
        workdir, KAVLAN_INVENTORY=str(inv), KAVLAN_CREDENTIALS=str(credentials), **(env or {})
    )
    access, audit = workdir / "access.log", workdir / "audit.log"
    cmd = [
        *kavlan_api(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--users-file",
        str(users_file),
        "--access-log",
        str(access),
        "--audit-log",
        str(audit),
    ]
    if tls:
        cmd += [
            "--tls-cert",
            str(certs / "server.pem"),
            "--tls-key",
            str(certs / "server.key"),
            "--client-ca",
            str(certs / "ca.pem"),
            "--trusted-service",
            "oar",
        ]
    else:
        cmd += ["--insecure-http"]
    cmd += list(args)
    stdout, stderr = workdir / "server.out", workdir / "server.err"
    limit = None if open_files is None else functools.partial(raise_open_files, open_files)
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=err, env=full_env, stdin=subprocess.DEVNULL, preexec_fn=limit
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    url = None
    while time.monotonic() < deadline:
        m = re.search(r"serving (https?://127\.0\.0\.1:[0-9]+)", stdout.read_text())
        if m:
            url = m.group(1)
            break
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if url is None:
        stop_process(process)
        raise RuntimeError(
            f"kavlan-api serve did not start within {STARTUP_SECONDS:.0f} s:\n{log_tail(stdout)}{log_tail(stderr)}"
        )
    return ApiServer(
        url, process, workdir, certs, full_env, stdout, stderr, access, audit, users_file, list(cmd)
    )


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit of open files to ``wanted`` (at most its hard limit); the limit before."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft


@pytest.fixture(scope="session")
def api_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the session (each test module imports this fixture, so the files are made once and reused):
    users alice, bob, carol, root; service oar."""
    directory = tmp_path_factory.getbasetemp() / "api-certs"
    if not (directory / "oar.pem").exists():
        make_certs(directory)
    return directory


@pytest.fixture(scope="module")
def api_server(api_certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server of site sophia on the demo testbed, for one test module."""
    server = start_server(tmp_path_factory.mktemp("api-server"), api_certs)
    try:
        yield server
    finally:
        server.stop()
