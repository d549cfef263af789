"""The service driving vendor CLIs over SSH: dry runs show the exact commands, moves batch, failures roll back."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.cli_switch import FakeCliSwitch

from conftest import SUBNETS, run
from kavlan_core import config
from kavlan_core.reports import DriftReport
from kavlan_core.service import KavlanService


@contextlib.contextmanager
def two_cli_switches(tmp_path: Path) -> Iterator[tuple[FakeCliSwitch, FakeCliSwitch, Path, Path]]:
    """suno-1..3 on a Cisco IOS switch, suno-4..6 on a Junos switch; writes the testbed and credentials files."""
    cisco = FakeCliSwitch("cisco_ios", {f"GigabitEthernet1/0/{i}": 100 for i in range(1, 4)}, hostname="c1")
    junos = FakeCliSwitch("junos", {f"ge-0/0/{i}": 100 for i in range(0, 3)}, hostname="j1")
    with cisco.in_thread(), junos.in_thread():
        inv = tmp_path / "cli.toml"
        inv.write_text(f"""
[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
{SUBNETS}
[[site.switch]]
name = "c1"
driver = "ssh_cli"
address = "127.0.0.1:{cisco.port}"
credentials = "lab-switches"
options = {{ dialect = "cisco_ios", known_hosts = "{cisco.known_hosts}" }}
[[site.switch]]
name = "j1"
driver = "ssh_cli"
address = "127.0.0.1:{junos.port}"
credentials = "lab-switches"
options = {{ dialect = "junos", known_hosts = "{junos.known_hosts}", lock_backoff = 0.01 }}
[[site.cluster]]
name = "suno"
nodes = 6
[[site.cluster.cabling]]
nodes = "1-3"
switch = "c1"
port = "GigabitEthernet1/0/{{k}}"
[[site.cluster.cabling]]
nodes = "4-6"
switch = "j1"
port = "ge-0/0/{{k}}"
port_offset = -1
""")
        creds = tmp_path / "credentials.toml"
        creds.write_text('[lab-switches]\nusername = "admin"\npassword = "secret"\n')
        creds.chmod(0o600)  # a credentials file others may read is refused
        yield cisco, junos, inv, creds


def test_move_over_two_cli_switches(kenv, tmp_path):
    with two_cli_switches(tmp_path) as (cisco, junos, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds)))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=6"))
            vlan = job.vlans[0].vlan
            tag = 700 + vlan
            plan = run(svc.plan(list(job.nodes), vlan))
            commands = {sp.switch: sp.commands for sp in plan.switches}
            assert "interface GigabitEthernet1/0/1" in commands["c1"]
            assert f"switchport access vlan {tag}" in commands["c1"]
            assert (
                any(c.startswith("set interfaces ge-0/0/0") for c in commands["j1"])
                and "commit and-quit" in commands["j1"]
            )
            assert set(cisco.ports.values()) == {100} and set(junos.ports.values()) == {100}

            junos.locked_commits = 1  # someone else is configuring it: retried
            before = (cisco.connections, junos.connections)
            report = run(svc.set_vlan(list(job.nodes), vlan))
            assert report.ok, [(r.name, r.message) for r in report.results]
            assert set(cisco.ports.values()) == {tag} and set(junos.ports.values()) == {tag}
            # (each run() is a new event loop: the plan's connections cannot be reused by the move)
            assert (cisco.connections, junos.connections) == (before[0] + 1, before[1] + 1), (
                "one connection per switch per move"
            )
            assert run(svc.drift()) == DriftReport()
        finally:
            run(svc.close())


def test_a_refusing_cli_switch_rolls_the_other_back(kenv, tmp_path):
    with two_cli_switches(tmp_path) as (cisco, junos, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds)))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=6"))
            vlan = job.vlans[0].vlan
            junos.refuse_vlans.add(700 + vlan)
            report = run(svc.set_vlan(list(job.nodes), vlan))
            by = {r.name.split(".")[0]: r for r in report.results}
            assert {n: by[n].status for n in ("suno-1", "suno-2", "suno-3")} == dict.fromkeys(
                ("suno-1", "suno-2", "suno-3"), "unchanged"
            )
            assert all(by[n].status == "failure" for n in ("suno-4", "suno-5", "suno-6"))
            assert "switch j1" in by["suno-1"].message
            assert set(cisco.ports.values()) == {100}, "the Cisco switch was put back"
            assert set(junos.ports.values()) == {100}
            assert run(svc.drift()) == DriftReport()
        finally:
            run(svc.close())


def test_cli_dry_run_prints_the_exact_commands(kenv, tmp_path):
    with two_cli_switches(tmp_path) as (cisco, _junos, inv, creds):
        env = {**kenv, "KAVLAN_INVENTORY": str(inv), "KAVLAN_CREDENTIALS": str(creds)}
        out = subprocess.run(
            ["kavlan-oarsub", "-l", "{\"type='kavlan'\"}/vlan=1,nodes=2"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        job = out.strip().split("=")[1]
        proc = subprocess.run(
            ["kavlan", "-s", "-j", job, "--dry-run"], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "switch c1 (ssh_cli): 2 port(s)" in proc.stdout
        assert "    | interface GigabitEthernet1/0/1" in proc.stdout
        assert set(cisco.ports.values()) == {100}


@pytest.mark.parametrize("bad", ["Gi1/0/1; reload", "Gi1/0/1\\nreload"])
def test_port_names_from_a_bad_inventory_never_reach_the_switch(kenv, tmp_path, bad):
    with two_cli_switches(tmp_path) as (cisco, _junos, inv, creds):
        text = inv.read_text()
        cluster = text.index("[[site.cluster]]")
        inv.write_text(
            text[:cluster]
            + f"""[[site.cluster]]
name = "suno"
[[site.cluster.node]]
name = "suno-1"
[[site.cluster.node.nic]]
mac = "02:00:00:00:00:01"
switch = "c1"
port = "{bad}"
"""
        )
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds)))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=1"))
            report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
            assert [r.status for r in report.results] == ["failure"]
            assert "refusing port name" in report.results[0].message
            assert not any("reload" in c for c in cisco.commands)
        finally:
            run(svc.close())


def test_the_isolation_check_reads_the_cli_switches_mac_tables(kenv, tmp_path):
    """check-isolation and kavlan ports over Cisco IOS and Junos CLIs: clean with each node's MAC behind its port,
    a leak once a node's MAC shows in another VLAN on the Cisco switch's uplink; link and counters per port."""
    with two_cli_switches(tmp_path) as (cisco, junos, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds)))
        try:
            macs = {n.name: n.primary_nic.mac.lower() for n in svc.inventory.nodes.values()}
            cisco.cabled = {f"GigabitEthernet1/0/{i}": macs[f"suno-{i}"] for i in range(1, 4)}
            junos.cabled = {f"ge-0/0/{i - 4}": macs[f"suno-{i}"] for i in range(4, 7)}
            report = run(svc.check_isolation())
            assert report.clean and report.macs == 6, report
            cisco.learned = [(macs["suno-4"], 704, "TenGigabitEthernet1/1/1")]
            (leak,) = run(svc.check_isolation()).leaks
            assert (leak.kind, leak.node, leak.switch, leak.port) == ("misplaced", "suno-4", "c1", "Te1/1/1")
            junos.octets = {"ge-0/0/0": (10_000, 20_000)}
            junos.down = {"ge-0/0/1"}
            loads = {x.node: x for x in run(svc.port_loads(["suno-4", "suno-5"], interval=0)).loads}
            assert (loads["suno-4"].up, loads["suno-4"].speed_mbps) == (True, 1000)
            assert loads["suno-5"].up is False
        finally:
            run(svc.close())
