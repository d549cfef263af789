"""Settings (file, environment, validation) and the store (schema version, concurrent allocation across processes)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from pg_fixture import BACKENDS, database_for

from kavlan_core import config, store
from kavlan_core.config import ConfigError
from kavlan_core.model import Job, JobState, JobVlan
from kavlan_core.store import SCHEMA_VERSION, Store, StoreError


def test_layers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('site = "lille"\nadmins = ["ops"]\nswitch_concurrency = 4\n')
    s = config.load(
        {"KAVLAN_CONFIG": str(cfg), "KAVLAN_SWITCH_CONCURRENCY": "2", "KAVLAN_DATA_DIR": str(tmp_path)}
    )
    assert (s.site, s.admins, s.switch_concurrency) == ("lille", ("ops",), 2)
    assert s.database_url == f"sqlite:///{tmp_path / 'kavlan.db'}"
    assert s.user  # the login user


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1", "unknown setting 'bogus'"),
        ("switch_concurrency = 'many'", "'switch_concurrency' must be an integer"),
        ("switch_retries = 2.5", "setting 'switch_retries' must be an integer, not 2.5"),
        ("switch_retries = 2.0", "setting 'switch_retries' must be an integer, not 2.0"),
        ("retry_backoff = true", "setting 'retry_backoff' must be a number, not true"),
        ("strict_credentials = 'no'", "setting 'strict_credentials' must be true or false, not \"no\""),
        ("poll_interval = nan", "setting 'poll_interval' must be a number, not nan"),
        ("admins = 3", "'admins' must be a list of names"),
        ("site = [", "cannot read the configuration"),
    ],
)
def test_bad_config_is_one_sentence(tmp_path, text, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load({"KAVLAN_CONFIG": str(cfg)})


def test_numbers_take_their_type_from_the_file_and_text_from_the_environment(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("retry_backoff = 1\nstrict_credentials = false\n")
    s = config.load({"KAVLAN_CONFIG": str(cfg), "KAVLAN_SWITCH_RETRIES": "3", "KAVLAN_STOP_DEADLINE": "2.5"})
    assert (s.retry_backoff, s.strict_credentials, s.switch_retries, s.stop_deadline) == (1.0, False, 3, 2.5)
    assert config.load({"KAVLAN_CONFIG": str(cfg), "KAVLAN_STRICT_CREDENTIALS": "yes"}).strict_credentials


@pytest.mark.parametrize("kind", ("binary", "directory"))
def test_a_config_that_is_no_text_file_is_one_sentence(tmp_path, kind):
    cfg = tmp_path / "config.toml"
    if kind == "binary":
        cfg.write_bytes(bytes(range(256)))
        message = f"cannot read the configuration {cfg}: it is not UTF-8 text (a binary file?)"
    else:
        cfg.mkdir()
        message = f"the configuration {cfg} is a directory, not a file"
    with pytest.raises(ConfigError) as caught:
        config.load({"KAVLAN_CONFIG": str(cfg)})
    assert str(caught.value) == message


def read_file_of(kind: str, path, tmp_path):
    """Read ``path`` as the configuration, the testbed description or the credentials file."""
    from kavlan_core import inventory
    from kavlan_core.switches import read_credentials

    if kind == "configuration":
        return config.load({"KAVLAN_CONFIG": str(path)}).user
    if kind == "testbed description":
        return sorted(inventory.load(path).sites)
    return read_credentials(str(path))


FILES = {
    "configuration": 'user = "bob"\n',
    "testbed description": None,  # the small testbed (tests/conftest.py)
    "switch credentials file": '[sw]\ncommunity = "secret"\n',
}


@pytest.mark.parametrize("kind", FILES)
def test_the_operators_files_binary_or_with_a_byte_order_mark(tmp_path, kind):
    """Binary bytes are one sentence naming the file; a UTF-8 byte-order mark (a Windows editor's) is read."""
    from conftest import small_inventory
    from kavlan_core.errors import KavlanError

    path = tmp_path / "file.toml"
    text = FILES[kind] or small_inventory(tmp_path / "small.toml").read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    path.chmod(0o600)
    assert read_file_of(kind, path, tmp_path) in ("bob", ["lille", "sophia"], {"sw": {"community": "secret"}})
    for data in (bytes(range(256)), b"user = 1\0\n"):
        path.write_bytes(data)
        with pytest.raises(KavlanError) as caught:
            read_file_of(kind, path, tmp_path)
        assert str(caught.value) == f"cannot read the {kind} {path}: it is not UTF-8 text (a binary file?)"


def test_a_credentials_file_others_may_read_is_refused(tmp_path):
    from kavlan_core.errors import KavlanError
    from kavlan_core.switches import read_credentials

    creds = tmp_path / "credentials.toml"
    creds.write_text('[sw]\ncommunity = "secret"\n')
    creds.chmod(0o640)
    with pytest.raises(KavlanError) as caught:
        read_credentials(str(creds))
    assert str(caught.value) == (
        f"the switch credentials file {creds} may be read by group or others (mode 0640): chmod 600 it, or set "
        "strict_credentials = false"
    )
    assert read_credentials(str(creds), strict=False) == {"sw": {"community": "secret"}}
    creds.chmod(0o600)
    assert read_credentials(str(creds)) == {"sw": {"community": "secret"}}
    with pytest.raises(KavlanError, match="^cannot read the switch credentials file .*: Is a directory$"):
        read_credentials(str(tmp_path))


def test_bad_environment(tmp_path):
    with pytest.raises(ConfigError, match="environment variable KAVLAN_SWITCH_RETRIES"):
        config.load({"KAVLAN_CONFIG": str(tmp_path / "x"), "KAVLAN_SWITCH_RETRIES": "-1"})


def store_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:
    return database_for(backend, request) or f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_schema_is_versioned(tmp_path, backend, request):
    url = store_url(backend, request, tmp_path)
    assert Store(url).schema_version() == SCHEMA_VERSION
    with Store(url).write() as tx:
        tx.conn.execute(sa.text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    with pytest.raises(StoreError, match="newer than this kavlan"):
        Store(url)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_from_an_empty_database(tmp_path, backend, request):
    """Every step runs, in order, in one transaction; the tables work; a second start changes nothing."""
    url = store_url(backend, request, tmp_path)
    db = Store(url)
    assert db.schema_version() == SCHEMA_VERSION
    assert set(sa.inspect(db.engine).get_table_names()) == set(store.metadata.tables)
    with db.write() as tx:
        tx.insert_job(job(1000, nodes=("suno-1",), vlans=(JobVlan("sophia", 4),)))
        tx.audit("alice", "test", n=1)
    with Store(url).read() as tx:  # opening it again migrates nothing and keeps the data
        assert [j.id for j in tx.jobs()] == [1000] and tx.busy_nodes() == {"suno-1"}
        assert tx.held_vlans() == {("sophia", 4): 1000} and tx.audit_log()[0]["user"] == "alice"
    db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_later_step_runs_once_and_a_failed_one_changes_nothing(tmp_path, backend, request, monkeypatch):
    url = store_url(backend, request, tmp_path)
    Store(url).dispose()
    ran = []

    def add_notes(conn):
        ran.append(2)
        conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO notes (id, body) VALUES (1, 'v2')"))

    def broken(conn):
        conn.execute(sa.text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        raise RuntimeError("step 3 failed")

    now = SCHEMA_VERSION
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, (now + 1, add_notes)])
    assert Store(url).schema_version() == now + 1 and ran == [2]
    assert Store(url).schema_version() == now + 1 and ran == [2], "a database at the version runs no step"
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, (now + 2, broken)])
    with pytest.raises(RuntimeError, match="step 3 failed"):
        Store(url)
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[: now + 1])
    db = Store(url)
    assert db.schema_version() == now + 1
    assert "half_done" not in sa.inspect(db.engine).get_table_names(), "the failed step was rolled back"
    db.dispose()


# schema v1 exactly as the first release wrote its SQLite files (sqlite_master of a kavlan.db it created)
V1_SQLITE = """
CREATE TABLE meta ("key" VARCHAR(64) NOT NULL, value TEXT, PRIMARY KEY ("key"));
CREATE TABLE jobs (id INTEGER NOT NULL, user VARCHAR(64) NOT NULL, name VARCHAR(128) NOT NULL,
    state VARCHAR(16) NOT NULL, types VARCHAR(256) NOT NULL, request TEXT NOT NULL, submitted FLOAT NOT NULL,
    started FLOAT NOT NULL, walltime INTEGER NOT NULL, ended FLOAT, PRIMARY KEY (id));
CREATE INDEX ix_jobs_state ON jobs (state);
CREATE INDEX ix_jobs_user ON jobs (user);
CREATE TABLE nic_vlans (node VARCHAR(128) NOT NULL, nic VARCHAR(32) NOT NULL, vlan INTEGER NOT NULL,
    changed FLOAT NOT NULL, PRIMARY KEY (node, nic));
CREATE TABLE dhcp (site VARCHAR(64) NOT NULL, vlan INTEGER NOT NULL, state VARCHAR(16) NOT NULL,
    since FLOAT NOT NULL, user VARCHAR(64) NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (site, vlan));
CREATE TABLE sim_ports (switch VARCHAR(128) NOT NULL, port VARCHAR(128) NOT NULL, tag INTEGER NOT NULL,
    PRIMARY KEY (switch, port));
CREATE TABLE audit (id INTEGER NOT NULL, at FLOAT NOT NULL, user VARCHAR(64) NOT NULL, action VARCHAR(64) NOT NULL,
    detail TEXT NOT NULL, PRIMARY KEY (id));
CREATE TABLE job_nodes (job_id INTEGER NOT NULL, node VARCHAR(128) NOT NULL, PRIMARY KEY (job_id, node),
    FOREIGN KEY(job_id) REFERENCES jobs (id));
CREATE TABLE job_vlans (job_id INTEGER NOT NULL, site VARCHAR(64) NOT NULL, vlan INTEGER NOT NULL,
    PRIMARY KEY (job_id, site, vlan), FOREIGN KEY(job_id) REFERENCES jobs (id));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO jobs VALUES (1000, 'alice', '', 'Running', 'deploy', 'nodes=1', 1.5, 1.5, 3600, NULL);
INSERT INTO job_nodes VALUES (1000, 'suno-1');
INSERT INTO job_vlans VALUES (1000, 'sophia', 4);
INSERT INTO nic_vlans VALUES ('suno-1', 'eth0', 4, 2.5);
INSERT INTO dhcp VALUES ('sophia', 4, 'on', 3.5, 'alice', '');
INSERT INTO sim_ports VALUES ('sw1', 'Gi1/0/1', 704);
INSERT INTO audit VALUES (1, 4.5, 'alice', 'job.submit', '{"job": 1000}');
"""


def test_a_v1_sqlite_file_opens_as_it_is_and_migrates_on(tmp_path, monkeypatch):
    path = tmp_path / "kavlan.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SQLITE)
    db = Store(f"sqlite:///{path}")
    assert db.schema_version() == 5 == SCHEMA_VERSION, (
        "v2 added the intent journal, v3 unavailable nodes, v4 grid reservations, v5 NIC moves"
    )
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {
        "intents",
        "intent_ports",
        "unavailable_nodes",
        "grids",
        "grid_parts",
        "job_grids",
        "nic_moves",
    } <= tables
    with db.read() as tx:
        assert tx.intents() == [] and not tx.has_intents()
        (j,) = tx.jobs(running=True)
        assert (j.id, j.user, j.types, j.nodes) == (1000, "alice", ("deploy",), ("suno-1",))
        assert j.vlans == (JobVlan("sophia", 4),) and tx.nic_vlans() == {("suno-1", "eth0"): 4}
        assert tx.sim_read("sw1", ["Gi1/0/1"]) == {"Gi1/0/1": 704}
        assert tx.dhcp_states()[("sophia", 4)]["state"] == "on" and tx.audit_log()[0]["job"] == 1000
    with db.write() as tx:  # and it takes new work: the next job id follows the old ones
        assert tx.next_job_id() == 1001
    db.dispose()

    # a later step applies to it like to any database
    def index_audit(conn):
        conn.execute(sa.text("CREATE INDEX ix_audit_at ON audit (at)"))

    later = SCHEMA_VERSION + 1
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, (later, index_audit)])
    db = Store(f"sqlite:///{path}")
    assert db.schema_version() == later
    assert "ix_audit_at" in {i["name"] for i in sa.inspect(db.engine).get_indexes("audit")}
    with db.read() as tx:
        assert [j.id for j in tx.jobs()] == [1000]
    db.dispose()


def job(job_id: int, *, name: str = "", nodes: tuple[str, ...] = (), vlans: tuple[JobVlan, ...] = ()) -> Job:
    state = JobState.RUNNING
    return Job(job_id, "alice", state, name, ("deploy",), "nodes=1", 1.0, 1.0, 3600, None, nodes, vlans)


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_transactions_never_interleave(tmp_path, backend, request):
    """Eight writers read the next job id, dawdle, then insert: with the write lock, no id is given twice."""
    import time

    db = Store(store_url(backend, request, tmp_path))

    def submit(_):
        with db.write() as tx:
            job_id = tx.next_job_id()
            time.sleep(0.02)
            tx.insert_job(job(job_id))
            return job_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(16)))
    assert sorted(ids) == list(range(1000, 1016))
    db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_too_long_job_name_is_refused_alike(tmp_path, backend, request):
    """SQLite would keep it and PostgreSQL fail on it: the store refuses it on both, with one sentence."""
    db = Store(store_url(backend, request, tmp_path))
    too_long = "the job's name is too long: at most 128 characters, not 200"
    with pytest.raises(StoreError, match=too_long), db.write() as tx:
        tx.insert_job(job(1000, name="x" * 200))
    with db.read() as tx:
        assert tx.jobs() == []
    db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_reservations_never_double_book(kenv, backend, request):
    """Eight processes ask at once for a routed VLAN and 11 suno/uvb nodes each: six VLANs, no node twice."""
    env = dict(kenv)
    if database := database_for(backend, request):
        env["KAVLAN_DATABASE"] = database  # empty: the eight processes also race to create the schema

    def submit(_):
        request = "{\"type='kavlan'\"}/vlan=1,{\"cluster in ('suno','uvb')\"}/nodes=11"
        cmd = ["kavlan-oarsub", "--json", "-l", request]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        procs = list(pool.map(submit, range(8)))
    jobs = [json.loads(p.stdout) for p in procs if p.returncode == 0]
    refused = [p.stderr for p in procs if p.returncode != 0]
    assert len(jobs) == 6 and len(refused) == 2, refused
    assert all("no free kavlan VLAN" in r or "not enough free nodes" in r for r in refused)
    vlans = [j["resources_by_type"]["vlans"][0] for j in jobs]
    assert sorted(vlans) == ["4", "5", "6", "7", "8", "9"]
    nodes = [n for j in jobs for n in j["assigned_nodes"]]
    assert len(nodes) == len(set(nodes)) == 66
    assert len({j["uid"] for j in jobs}) == 6


def test_a_file_where_the_data_or_locks_directory_goes_is_one_sentence(tmp_path):
    from kavlan_core.locks import FileLock

    (tmp_path / "data").write_text("")
    with pytest.raises(StoreError) as caught:
        Store(f"sqlite:///{tmp_path / 'data' / 'kavlan.db'}").read().__enter__()
    assert str(caught.value) == (
        f"cannot open the database {tmp_path / 'data' / 'kavlan.db'}: {tmp_path / 'data'} is a file, not a directory"
    )
    lock = FileLock("switch:sw1", tmp_path / "data" / "sw1.lock")
    with pytest.raises(StoreError) as caught:
        asyncio.run(lock.acquire(timeout=0))
    assert (
        str(caught.value)
        == f"cannot take the lock 'switch:sw1': {tmp_path / 'data'} is a file, not a directory"
    )


def test_a_credentials_reference_that_is_no_table_is_one_sentence(tmp_path):
    from kavlan_core import inventory
    from kavlan_core.errors import KavlanError
    from kavlan_core.switches import SwitchPool

    creds = tmp_path / "credentials.toml"
    creds.write_text('c1 = "x"\n[c2]\ncommunity = "secret"\n')
    creds.chmod(0o600)
    settings = config.load({"KAVLAN_CONFIG": str(tmp_path / "none.toml"), "KAVLAN_CREDENTIALS": str(creds)})
    pool = SwitchPool(settings, inventory.load(None), Store(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert pool.credentials("c2") == {"community": "secret"}
    with pytest.raises(KavlanError) as caught:
        pool.credentials("c1")
    assert str(caught.value) == f"the switch credentials file {creds}: 'c1' must be a table ([c1]), not a str"


def test_a_new_sqlite_store_opened_while_another_process_writes_it_waits_instead_of_failing(tmp_path):
    """Several processes opening a new store together: one of them asks for WAL while another holds the file's
    write lock, which SQLite answers "locked" at once, without its busy handler. The opener waits for the lock, as
    the busy handler would, and opens the store once it is released."""
    path = tmp_path / "kavlan.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the file still in rollback mode, its write lock held
    other.execute("CREATE TABLE elsewhere (x)")
    opened = ThreadPoolExecutor(1).submit(Store, f"sqlite:///{path}")
    try:
        with pytest.raises(TimeoutError):
            opened.result(timeout=0.2)  # still waiting for the lock: not failed at once
    finally:
        other.execute("COMMIT")
        other.close()
    assert opened.result(timeout=30).schema_version() == SCHEMA_VERSION
