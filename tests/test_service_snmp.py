"""The service on four real snmpd switches: a move spread over all four, and the third failing mid-move."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from snmpd_fixture import RW_COMMUNITY, Snmpd, running_snmpd

from conftest import SUBNETS, run
from kavlan_core import config
from kavlan_core.reports import DriftReport
from kavlan_core.service import KavlanService


@contextlib.contextmanager
def four_switches(
    tmp_path: Path, third_args: tuple[str, ...] = ()
) -> Iterator[tuple[list[Snmpd], Path, Path]]:
    """snmpd switches sw1..sw4 (8 ports each); suno-1..8 on ports 1-2 of each switch; VLAN 1 is DEFAULT."""
    with contextlib.ExitStack() as stack:
        agents = [
            stack.enter_context(
                running_snmpd(tmp_path / f"sw{i}", ports=8, agent_args=third_args if i == 3 else ())
            )
            for i in (1, 2, 3, 4)
        ]
        switches = "\n".join(
            f'[[site.switch]]\nname = "sw{i}"\ndriver = "snmp_qbridge"\naddress = "{a.address}"\n'
            f'credentials = "lab-snmp"\noptions = {{ timeout = 0.3, retries = 0 }}\n'
            for i, a in enumerate(agents, start=1)
        )
        cabling = "\n".join(
            f'[[site.cluster.cabling]]\nnodes = "{2 * i - 1}-{2 * i}"\nswitch = "sw{i}"\nport = "ge-0/0/{{k}}"\nport_offset = -1\n'
            for i in (1, 2, 3, 4)
        )
        inv = tmp_path / "snmp.toml"
        inv.write_text(f"""
[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
default_tag = 1
{SUBNETS}
{switches}
[[site.cluster]]
name = "suno"
nodes = 8
{cabling}
""")
        creds = tmp_path / "credentials.toml"
        creds.write_text(
            f'[lab-snmp]\nversion = "2c"\ncommunity = "{RW_COMMUNITY}"\nwrite_community = "{RW_COMMUNITY}"\n'
        )
        creds.chmod(0o600)  # a credentials file others may read is refused
        yield agents, inv, creds


def test_move_over_four_snmp_switches_and_back(kenv, tmp_path):
    with four_switches(tmp_path) as (agents, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds), switch_retries=0))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=8"))
            vlan = job.vlans[0].vlan
            report = run(svc.set_vlan(list(job.nodes), vlan))
            assert report.ok, [(r.name, r.message) for r in report.results]
            for a in agents:
                assert a.access_vlans() == {1: 700 + vlan, 2: 700 + vlan, **{p: 1 for p in range(3, 9)}}
            assert run(svc.drift()) == DriftReport()
            assert run(svc.set_vlan(list(job.nodes), 0)).ok
            assert all(set(a.access_vlans().values()) == {1} for a in agents)
        finally:
            run(svc.close())


def test_third_switch_drops_a_write_the_others_are_rolled_back(kenv, tmp_path):
    with four_switches(tmp_path, ("--drop-writes-to-ports", "2")) as (agents, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds), switch_retries=0))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=8"))
            report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
            by = {r.name.split(".")[0]: r for r in report.results}
            assert sorted(by) == [f"suno-{i}" for i in range(1, 9)], "every node is reported"
            assert by["suno-6"].status == "failure" and "read-back" in by["suno-6"].message
            assert all(by[f"suno-{i}"].status == "unchanged" for i in (1, 2, 3, 4, 5, 7, 8))
            assert all(set(a.access_vlans().values()) == {1} for a in agents), (
                "every switch is back as it was"
            )
            assert run(svc.drift()) == DriftReport()
        finally:
            run(svc.close())


def test_a_half_move_is_a_failure_never_a_success(kenv, tmp_path):
    # the third switch changes port 2's member lists but keeps its dot1qPvid, acknowledging both: the port is
    # left half-moved (untagged in the new VLAN, PVID in the old one); the read-back says so, and the move is
    # rolled back everywhere
    with four_switches(tmp_path, ("--keep-pvid-of-ports", "2")) as (agents, inv, creds):
        svc = KavlanService(config.load(inventory=str(inv), credentials=str(creds), switch_retries=0))
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=8"))
            tag = 700 + job.vlans[0].vlan
            report = run(svc.set_vlan(list(job.nodes), job.vlans[0].vlan))
            by = {r.name.split(".")[0]: r for r in report.results}
            assert not report.ok
            assert by["suno-6"].status == "failure"
            assert (
                f"port ge-0/0/1 is an untagged member of VLAN {tag} but has dot1qPvid 1"
                in by["suno-6"].message
            )
            assert "read-back" in by["suno-6"].message
            assert all(by[f"suno-{i}"].status == "unchanged" for i in (1, 2, 3, 4, 5, 7, 8))
            for a in agents:
                state = a.state()
                assert set(a.access_vlans().values()) == {1}, "every switch is back as it was"
                assert set(state["pvid"].values()) == {1}
            assert run(svc.drift()) == DriftReport()
        finally:
            run(svc.close())


def test_third_switch_stops_answering_mid_move(kenv, tmp_path):
    with four_switches(tmp_path) as (agents, inv, creds):
        svc = KavlanService(
            config.load(inventory=str(inv), credentials=str(creds), switch_retries=1, retry_backoff=0.01)
        )
        try:
            job = run(svc.submit("{\"type='kavlan'\"}/vlan=1,nodes=8"))
            vlan = job.vlans[0].vlan
            plan = run(svc.plan(list(job.nodes), vlan))  # the switches answered the plan's reads
            assert plan.port_count == 8
            agents[2].stop()
            report = run(svc.set_vlan(list(job.nodes), vlan))
            by = {r.name.split(".")[0]: r.status for r in report.results}
            assert by == {
                **{f"suno-{i}": "unchanged" for i in (1, 2, 3, 4, 7, 8)},
                "suno-5": "failure",
                "suno-6": "failure",
            }
            assert [a.access_vlans() for i, a in enumerate(agents) if i != 2] == [
                dict.fromkeys(range(1, 9), 1)
            ] * 3
            assert run(svc.vlan_of(list(job.nodes))) == [
                (f"suno-{i}.sophia.grid5000.fr", 0) for i in range(1, 9)
            ]
        finally:
            run(svc.close())
