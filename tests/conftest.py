"""Shared fixtures: an isolated environment (data dir, config, user) and small testbeds with fault injection."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from layers import QUICK, assign

from kavlan_core import config, tomlw
from kavlan_core.service import KavlanService

IN_CI = os.environ.get("CI", "").lower() == "true"


QUICK_TEST_SECONDS = 5.0
"""A quick test slower than this is named at the end of the run: it may need a layer of its own."""
_quick_seconds: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets its layers (unit, peers, tui, lab) and, if it is a unit test that is not slow, ``quick``:
    see tests/layers.py."""
    assign(items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if QUICK in report.keywords:
        _quick_seconds[report.nodeid] = _quick_seconds.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A test lands in the quick layer unless tests/layers.py says otherwise: name those that slow it down."""
    slow = sorted(((s, n) for n, s in _quick_seconds.items() if s > QUICK_TEST_SECONDS), reverse=True)
    if slow:
        terminalreporter.write_sep("-", f"quick tests slower than {QUICK_TEST_SECONDS:g} s")
        for seconds, nodeid in slow:
            terminalreporter.write_line(f"{seconds:.1f} s {nodeid}")
        terminalreporter.write_line(
            "a test that needs a server, the TUI or root has a layer of its own: tests/layers.py"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Off CI, a test that needs what this machine lacks (root, a Debian package, ../shared) skips with the reason;
    under CI=true that skip fails instead: CI installs everything, so a skip there is a missing install step."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true, and this test skipped ({reason}): CI must run every test"


SUBNETS = """[site.subnets]
"1" = "10.65.192.0/20"
"2" = "10.65.208.0/20"
"3" = "10.65.224.0/20"
"4" = "10.64.64.0/18"
"5" = "10.64.128.0/18"
"6" = "10.64.192.0/18"
"7" = "10.65.0.0/18"
"8" = "10.65.64.0/18"
"9" = "10.65.128.0/18"
"""


def bridge_testbed(netns: str) -> str:
    """One site whose switch br-sw is a Linux bridge in ``netns``, suno-1..3 cabled to its ports p1-p3."""
    return f"""
[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
{SUBNETS}
[[site.switch]]
name = "br-sw"
driver = "linux_bridge"
options = {{ netns = "{netns}" }}
[[site.cluster]]
name = "suno"
nodes = 3
[[site.cluster.cabling]]
nodes = "1-3"
switch = "br-sw"
port = "p{{k}}"
"""


SMALL = """
domain = "grid5000.fr"

[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
{subnets}
{switches}
[[site.cluster]]
name = "suno"
nodes = 8
cores = 2
[[site.cluster.cabling]]
nodes = "1-2"
switch = "sw1"
port = "Gi1/0/{{k}}"
[[site.cluster.cabling]]
nodes = "3-4"
switch = "sw2"
port = "Gi1/0/{{k}}"
[[site.cluster.cabling]]
nodes = "5-6"
switch = "sw3"
port = "Gi1/0/{{k}}"
[[site.cluster.cabling]]
nodes = "7-8"
switch = "sw4"
port = "Gi1/0/{{k}}"

[[site]]
name = "lille"
global_vlan = 11
default_subnet = "10.68.0.0/18"
global_subnet = "10.76.64.0/18"
[site.subnets]
"1" = "10.69.192.0/20"
"2" = "10.69.208.0/20"
"3" = "10.69.224.0/20"
"4" = "10.68.64.0/18"
"5" = "10.68.128.0/18"
"6" = "10.68.192.0/18"
"7" = "10.69.0.0/18"
"8" = "10.69.64.0/18"
"9" = "10.69.128.0/18"
[[site.switch]]
name = "lille-sw1"
driver = "simulated"
[[site.cluster]]
name = "chetemi"
nodes = 4
cores = 4
[[site.cluster.cabling]]
nodes = "1-4"
switch = "lille-sw1"
port = "ge-0/0/{{k}}"
port_offset = -1
"""


def small_inventory(path: Path, options: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Site sophia: suno-1..8, two per switch on sw1..sw4; site lille: chetemi-1..4 on lille-sw1."""
    options = options or {}
    blocks = []
    for sw in ("sw1", "sw2", "sw3", "sw4"):
        opts = ", ".join(f"{k} = {tomlw.value(v)}" for k, v in options.get(sw, {}).items())
        blocks.append(f'[[site.switch]]\nname = "{sw}"\ndriver = "simulated"\noptions = {{ {opts} }}\n')
    path.write_text(SMALL.format(subnets=SUBNETS, switches="\n".join(blocks)))
    return path


@pytest.fixture
def kenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for this test's processes: its own data dir, no user config, a known user, no job."""
    data = tmp_path / "data"
    values = {
        "KAVLAN_DATA_DIR": str(data),
        "KAVLAN_CONFIG": str(tmp_path / "no-config.toml"),
        "KAVLAN_USER": "alice",
        "KAVLAN_RETRY_BACKOFF": "0.01",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for k in (
        "OAR_JOB_ID",
        "KAVLAN_INVENTORY",
        "KAVLAN_DATABASE",
        "KAVLAN_SITE",
        "KAVLAN_ADMINS",
        "KAVLAN_API",
        "KAVLAN_CA_CERT",
        "KAVLAN_CLIENT_CERT",
        "KAVLAN_CLIENT_KEY",
        "KAVLAN_API_PASSWORD",
    ):
        monkeypatch.delenv(k, raising=False)
    env = dict(os.environ)
    return env


@pytest.fixture
def backend() -> str:
    """The store make_service uses: SQLite. A module overrides this fixture with params=pg_fixture.BACKENDS
    to run its make_service tests on PostgreSQL too."""
    return "sqlite"


@pytest.fixture
def make_service(
    kenv: dict[str, str], tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., KavlanService]]:
    """Build services on one store: make_service(user=..., options={switch: {...}}, clock=...)."""
    made: list[KavlanService] = []
    inv_path = tmp_path / "testbed.toml"
    database = database_for(backend, request)

    def make(
        user: str = "alice", options: Mapping[str, Mapping[str, Any]] | None = None, **kw: Any
    ) -> KavlanService:
        if options is not None or not inv_path.exists():
            small_inventory(inv_path, options)
        kw.setdefault("database", database)
        settings = config.load(
            user=user, inventory=str(inv_path), **{k: v for k, v in kw.items() if k != "clock"}
        )
        svc = KavlanService(settings, clock=kw["clock"]) if "clock" in kw else KavlanService(settings)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        asyncio.run(svc.close())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def set_switch_options(svc: KavlanService, switch: str, options: Mapping[str, Any]) -> None:
    """A switch's driver options changed behind the service's back (a link pulled, a leak made by hand): the
    driver the pool made (inside its credential scrubber) reads them from now on."""
    drv = svc.switches.driver(switch)
    inner = getattr(drv, "inner", drv)
    inner.switch = dataclasses.replace(inner.switch, options=dict(options))


# a private PostgreSQL server for the session and a fresh database per test (skips when PostgreSQL is missing)
from pg_fixture import database_for, pg_server, pg_url  # noqa: E402, F401

# a real net-snmp snmpd serving the lab's Q-BRIDGE-MIB agent on 127.0.0.1 (skips when snmpd is not installed)
from snmpd_fixture import snmpd  # noqa: E402, F401
