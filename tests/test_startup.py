"""Start-up structure (issue 17): what a command imports, the parsed-testbed cache, the store's quick reads.

The figures themselves are measured by tests/bench/bench_cli.py and bench_tui.py; these tests keep the structure that
gives them: ``kavlan --version``/``--help`` and a remote face load no heavy library, a read on an existing SQLite
database loads no SQLAlchemy, the testbed is parsed once per content, and none of it changes a result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import small_inventory
from kavlan_core import inventory, inventory_cache, store, store_quick
from kavlan_core.model import Job, JobState, JobVlan

HEAVY = {"sqlalchemy", "pysnmp", "asyncssh", "textual", "aiohttp", "prompt_toolkit", "rich"}


def _loaded_after(code: str, env: dict[str, str]) -> set[str]:
    """The top-level packages a fresh interpreter holds after running ``code`` (stdout: whatever it printed)."""
    script = f"{code}\nimport sys, json\nsys.__stdout__.write('\\n' + json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return {m.split(".")[0] for m in json.loads(proc.stdout.splitlines()[-1])}


def _cli(*argv: str) -> str:
    quiet = "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
    return f"{quiet}    from kavlan_tui.cli import main\n    main({list(argv)!r})"


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_start_without_any_library(kenv: dict[str, str], flag: str) -> None:
    loaded = _loaded_after(_cli(flag), kenv)
    assert not loaded & (HEAVY | {"asyncio"}), loaded & (HEAVY | {"asyncio"})


def test_a_remote_face_loads_neither_the_store_nor_a_driver(kenv: dict[str, str]) -> None:
    # no server listens on port 9: the command fails to connect, having loaded what a remote face loads
    loaded = _loaded_after(_cli("--api", "https://127.0.0.1:9/", "-g", "-m", "suno-1"), kenv)
    assert "aiohttp" in loaded
    assert not loaded & {"sqlalchemy", "pysnmp", "asyncssh", "textual"}


def test_the_tui_help_loads_no_store(kenv: dict[str, str]) -> None:
    code = "import contextlib, io\nfrom kavlan_tui.app import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    code += "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    assert not _loaded_after(code, kenv) & {"sqlalchemy", "pysnmp", "asyncssh"}


def test_a_read_on_an_existing_database_loads_no_sqlalchemy_and_a_move_does(kenv: dict[str, str]) -> None:
    admin = dict(kenv, KAVLAN_ADMINS="alice")
    assert "sqlalchemy" in _loaded_after(_cli("-s", "-i", "4", "-m", "suno-1"), admin)  # creates the database
    assert "sqlalchemy" not in _loaded_after(_cli("-g", "-m", "suno-1", "-m", "helios-2"), admin)


# --- the parsed testbed's cache ----------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("KAVLAN_CACHE_DIR", str(where))
    return where


def _same(a: inventory.Inventory, b: inventory.Inventory) -> None:
    assert a.nodes == b.nodes and a.switches == b.switches and a.sites == b.sites and a.clusters == b.clusters
    assert a.domain == b.domain and a.dhcp == b.dhcp and a.gateways == b.gateways
    assert a.dhcp_servers == b.dhcp_servers and a.global_owner == b.global_owner
    for site in a.sites:
        assert [a.vlan(site, v) for v in a.vlan_ids(site)] == [b.vlan(site, v) for v in b.vlan_ids(site)]
    assert [a.resolve(n).key for n in a.nodes] == [b.resolve(n).key for n in b.nodes]
    assert [a.switch_ports(s) for s in a.switches] == [b.switch_ports(s) for s in b.switches]


def test_the_cache_gives_what_the_parser_gives_and_parses_once(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_inventory(tmp_path / "inv.toml")
    first = inventory.load(path)
    assert len(list(cache.glob("*.pickle"))) == 1

    def no_parse(text: str, source: str = "") -> inventory.Inventory:
        raise AssertionError("parsed again")

    monkeypatch.setattr(inventory, "parse", no_parse)
    again = inventory.load(path)
    _same(first, again)
    assert again.source == str(path)
    moved = tmp_path / "elsewhere.toml"
    moved.write_text(path.read_text())
    assert inventory.load(moved).source == str(moved)  # the same content under another name: its own name


def test_the_demo_testbed_from_the_cache_is_the_parsed_one(cache: Path) -> None:
    parsed = inventory.parse(
        (Path(inventory.__file__).parent / "data" / "demo.toml").read_text(), "built-in demo testbed"
    )
    inventory.load(None)
    cached = inventory.load(None)
    _same(parsed, cached)
    assert cached.source == parsed.source


def test_another_content_or_parser_is_another_entry(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_inventory(tmp_path / "inv.toml")
    inventory.load(path)
    small_inventory(path, {"sw1": {"latency_ms": 3}})
    assert inventory.load(path).switches["sw1"].options["latency_ms"] == 3
    monkeypatch.setattr(inventory_cache, "_LOADED_PARSER", b"another parser")
    inventory.load(path)
    assert len(list(cache.glob("*.pickle"))) == 3


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])  # empty, garbage, an int
def test_a_corrupt_entry_is_parsed_again_and_replaced(cache: Path, tmp_path: Path, damage: bytes) -> None:
    path = small_inventory(tmp_path / "inv.toml")
    first = inventory.load(path)
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(damage)
    _same(first, inventory.load(path))
    _same(first, inventory.load(path))
    assert entry.read_bytes() != damage


def test_an_unusable_cache_directory_costs_a_parse_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_inventory(tmp_path / "inv.toml")
    plain = tmp_path / "a-file"
    plain.write_text("")
    for where in (plain / "cache", Path("/proc/no-cache-here")):  # under a file; not creatable
        monkeypatch.setenv("KAVLAN_CACHE_DIR", str(where))
        _same(inventory.parse(path.read_text(), str(path)), inventory.load(path))


def test_a_directory_others_may_write_is_not_read(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_inventory(tmp_path / "inv.toml")
    inventory.load(path)
    cache.chmod(0o777)
    calls = []
    real = inventory.parse
    monkeypatch.setattr(inventory, "parse", lambda *a: calls.append(1) or real(*a))
    inventory.load(path)
    assert calls == [1]


def test_a_malformed_testbed_is_refused_every_time_and_not_kept(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("domain = 'x'\n")
    for _ in range(2):
        with pytest.raises(inventory.InventoryError, match="no \\[\\[site\\]\\] defined"):
            inventory.load(path)
    assert not list(cache.glob("*.pickle"))


def test_the_cache_keeps_its_newest_entries(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory_cache, "KEEP", 3)
    path = tmp_path / "inv.toml"
    for latency in range(5):
        small_inventory(path, {"sw1": {"latency_ms": latency}})
        inventory.load(path)
        time.sleep(0.01)  # distinct modification times
    assert len(list(cache.glob("*.pickle"))) == 3


# --- the store's quick reads -------------------------------------------------------------------------


def test_the_quick_reader_knows_the_stores_schema_version() -> None:
    assert store_quick.SCHEMA_VERSION == store.SCHEMA_VERSION


def _filled(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'kavlan.db'}"
    full = store.Store(url)
    with full.write() as tx:
        for i, (user, state) in enumerate([("alice", JobState.RUNNING), ("bob", JobState.TERMINATED)]):
            tx.insert_job(
                Job(
                    id=1000 + i,
                    user=user,
                    state=state,
                    name=f"job{i}",
                    types=("deploy", "kavlan"),
                    request="{type='kavlan'}/vlan=1",
                    submitted=1.5,
                    started=2.0,
                    walltime=3600,
                    ended=None if state is JobState.RUNNING else 9.25,
                    nodes=("n-2", "n-1"),
                    vlans=(JobVlan("s", 4), JobVlan("s", 1)),
                )
            )
        tx.set_nic_vlans({("n-1", "eth0"): 4, ("n-2", "eth0"): 1, ("n-3", "eth1"): 0}, 5.0)
        tx.set_dhcp("s", 4, "on", "alice", 6.0, "why")
        tx.mark_unavailable("n-3", "not back after the end of job 1001", 7.5, 1001)
        tx.sim_write("sw1", {"Gi1/0/1": 100, "Gi1/0/2": 104})
    full.dispose()
    return url


def test_quick_reads_are_the_full_stores_reads(tmp_path: Path) -> None:
    url = _filled(tmp_path)
    quick = store_quick.open_store(url)
    assert isinstance(quick, store_quick.QuickStore)
    full = store.Store(url)
    with quick.read() as q, full.read() as f:
        assert isinstance(q, store_quick.QuickTx)
        for user in (None, "alice", "nobody"):
            for running in (None, True, False):
                assert q.jobs(user=user, running=running) == f.jobs(user=user, running=running)
        assert q.job(1001) == f.job(1001) and q.job(7) is f.job(7) is None
        assert q.busy_nodes() == f.busy_nodes()
        assert q.held_vlans() == f.held_vlans()
        assert q.nic_vlans() == f.nic_vlans()
        keys = [("n-1", "eth0"), ("n-9", "eth0")]
        assert q.nic_vlans(iter(keys)) == f.nic_vlans(iter(keys))
        assert q.dhcp_states() == f.dhcp_states()
        assert q.unavailable() == f.unavailable()
        assert q.sim_read("sw1", ["Gi1/0/2", "Gi1/0/9"]) == f.sim_read("sw1", ["Gi1/0/2", "Gi1/0/9"])
        assert q.audit_log() == f.audit_log()  # not a quick read: the full store's
    assert "sqlalchemy" in sys.modules
    full.dispose()
    quick.dispose()


def test_what_is_not_a_quick_read_is_the_full_stores(tmp_path: Path) -> None:
    url = _filled(tmp_path)
    quick = store_quick.open_store(url)
    assert quick.schema_version() == store.SCHEMA_VERSION
    with quick.write() as tx:
        tx.set_nic_vlans({("n-1", "eth0"): 7}, 8.0)
    with quick.read() as tx:
        assert tx.nic_vlans([("n-1", "eth0")]) == {("n-1", "eth0"): 7}
    assert quick.url == url
    quick.dispose()


def test_the_full_store_opens_a_database_the_quick_reader_does_not_know(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "kavlan.db"
    opened = store_quick.open_store(f"sqlite:///{missing}")
    assert isinstance(opened, store.Store) and missing.exists()  # created, as before
    opened.dispose()
    url = _filled(tmp_path)
    newer = store.Store(url)
    with newer.write() as tx:
        tx.conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    newer.dispose()
    with pytest.raises(store.StoreError, match="newer than this kavlan"):  # refused as before
        store_quick.open_store(url)
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"garbage" * 100)
    with pytest.raises(store.StoreError):
        store_quick.open_store(f"sqlite:///{not_a_db}")
    for other in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{tmp_path}/x.db?timeout=3"):
        assert store_quick._sqlite_path(other) is None
    assert store_quick._sqlite_path("postgresql://h/db") is None


def test_the_demo_cli_reads_the_same_through_either_store(kenv: dict[str, str], tmp_path: Path) -> None:
    run = [sys.executable, "-m", "kavlan_tui.cli"]
    kenv = dict(kenv, KAVLAN_ADMINS="alice")
    subprocess.run(run + ["-s", "-i", "4", "-m", "suno-1", "-m", "suno-3"], env=kenv, check=True, timeout=60)
    args = ["-g", "-m", "suno-1", "-m", "suno-3", "-m", "helios-2"]
    quick = subprocess.run(run + args, env=kenv, capture_output=True, text=True, timeout=60)
    full_env = dict(kenv, KAVLAN_DATABASE=f"sqlite:///{kenv['KAVLAN_DATA_DIR']}/kavlan.db?timeout=30")
    full = subprocess.run(run + args, env=full_env, capture_output=True, text=True, timeout=60)
    assert (quick.returncode, quick.stdout, quick.stderr) == (full.returncode, full.stdout, full.stderr)
    assert quick.stdout.splitlines()[0].endswith(": 4")


def test_a_process_that_outlives_an_upgrade_keeps_its_own_key(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the files of the parser changed under a running process (pip install while kavlan-api runs): its objects
    # are of the old shape, so it must not write them under the new parser's key
    path = small_inventory(tmp_path / "inv.toml")
    before = inventory_cache.key(path.read_text())
    monkeypatch.setattr(inventory_cache, "_parser_version", lambda: b"the files on disk now")
    assert inventory_cache.key(path.read_text()) == before
