"""Settings (file, environment, validation) and the store (schema version, concurrent allocation across processes)."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from kavlan_core import config
from kavlan_core.config import ConfigError
from kavlan_core.store import SCHEMA_VERSION, Store, StoreError


def test_layers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('site = "lille"\nadmins = ["ops"]\nswitch_concurrency = 4\n')
    s = config.load({"KAVLAN_CONFIG": str(cfg), "KAVLAN_SWITCH_CONCURRENCY": "2", "KAVLAN_DATA_DIR": str(tmp_path)})
    assert (s.site, s.admins, s.switch_concurrency) == ("lille", ("ops",), 2)
    assert s.database_url == f"sqlite:///{tmp_path / 'kavlan.db'}"
    assert s.user  # the login user


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1", "unknown setting 'bogus'"),
        ("switch_concurrency = 'many'", "'switch_concurrency' must be int"),
        ("admins = 3", "'admins' must be a list of names"),
        ("site = [", "cannot read the configuration"),
    ],
)
def test_bad_config_is_one_sentence(tmp_path, text, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load({"KAVLAN_CONFIG": str(cfg)})


def test_bad_environment(tmp_path):
    with pytest.raises(ConfigError, match="environment variable KAVLAN_SWITCH_RETRIES"):
        config.load({"KAVLAN_CONFIG": str(tmp_path / "x"), "KAVLAN_SWITCH_RETRIES": "-1"})


def test_schema_is_versioned(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert Store(url).schema_version() == SCHEMA_VERSION
    with Store(url).write() as tx:
        tx.conn.exec_driver_sql("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this kavlan"):
        Store(url)


def test_concurrent_reservations_never_double_book(kenv, tmp_path):
    """Eight processes ask at once for a routed VLAN and 40 suno/uvb nodes each: six VLANs, no node twice."""
    def submit(_):
        return subprocess.run(
            ["kavlan-oarsub", "--json",
             "-l", "{\"type='kavlan'\"}/vlan=1,{\"cluster in ('suno','uvb')\"}/nodes=11"],
            env=kenv, capture_output=True, text=True, timeout=120,
        )

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
