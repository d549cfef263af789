"""A switch that cannot be read during drift or repair is listed with its ports and its reason (one sentence on the
command line, a non-zero exit, no traceback); the switches that answer are checked, and repaired, all the same."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import run, small_inventory
from kavlan_core import config
from kavlan_core.errors import SwitchUnavailable
from kavlan_core.model import DEFAULT
from kavlan_core.reports import DriftReport, UnreadableSwitch
from kavlan_core.service import KavlanService
from kavlan_core.store import Store

SILENT = {"sw2": {"timeout": True, "timeout_s": 0.01}}
"""sw2 (suno-3 and suno-4, ports Gi1/0/1 and Gi1/0/2) never answers."""


def kavlan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kavlan", *args], env=env, capture_output=True, text=True, timeout=60)


def behind_kavlans_back(store: Store) -> None:
    with store.write() as tx:
        tx.sim_write("sw1", {"Gi1/0/2": 705})  # suno-2's port, into VLAN 5


def test_drift_and_repair_on_the_command_line_with_a_switch_that_does_not_answer(kenv, tmp_path):
    testbed = small_inventory(tmp_path / "testbed.toml")
    env = {**kenv, "KAVLAN_INVENTORY": str(testbed)}
    admin = {**env, "KAVLAN_ADMINS": "alice"}
    drifted = "sw1 Gi1/0/2 (suno-2/eth0): expected VLAN DEFAULT, switch has 5\n"
    assert kavlan(env, "--drift").returncode == 0
    store = Store(f"sqlite:///{kenv['KAVLAN_DATA_DIR']}/kavlan.db")
    behind_kavlans_back(store)
    assert kavlan(env, "--drift").stdout == drifted

    small_inventory(testbed, SILENT)
    down = "cannot read switch sw2: no answer (timed out) (its 2 port(s) were not checked)\n"
    proc = kavlan(env, "--drift")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, drifted, down)
    with store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/2"]) == {"Gi1/0/2": 705}, "drift changes nothing"

    proc = kavlan(admin, "--repair")  # sw1 answers: its drifted port is put back; sw2 is listed
    assert proc.returncode == 1 and proc.stderr == down, proc.stderr
    assert "suno-2.sophia.grid5000.fr: success" in proc.stdout
    with store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/2"]) == {"Gi1/0/2": 100}
        assert tx.nic_vlans() == {}
    store.dispose()
    small_inventory(testbed)
    assert kavlan(env, "--drift").stdout == "no drift: every port is in the VLAN the store expects\n"


def test_drift_names_the_switch_its_ports_and_checks_the_others(make_service):
    svc = make_service(options=SILENT)
    behind_kavlans_back(svc.store)
    found = run(svc.drift())
    assert [d.node for d in found.drifts] == ["suno-2"]
    assert found.unreadable == [
        UnreadableSwitch("sw2", ("Gi1/0/1", "Gi1/0/2"), "cannot read switch sw2: no answer (timed out)")
    ]
    assert not found.complete


def test_repair_puts_back_what_the_readable_switches_hold(make_service):
    svc = make_service()
    behind_kavlans_back(svc.store)
    assert [d.node for d in run(svc.drift()).drifts] == ["suno-2"]
    silent = make_service("root", options=SILENT, admins="root")
    report = run(silent.repair())
    assert [(r.name, r.status) for r in report.results] == [("suno-2.sophia.grid5000.fr", "success")]
    assert [u.switch for u in report.unreadable] == ["sw2"] and not report.ok
    with svc.store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/2"]) == {"Gi1/0/2": 100}
    assert run(svc.drift()) == DriftReport()


def replace_switch(testbed: Path, switch: str, body: str) -> None:
    """Give ``switch`` of a small testbed another driver: ``body`` replaces its driver and options lines."""
    block = re.compile(rf'name = "{switch}"\ndriver = "simulated"\noptions = \{{[^\n]*\}}')
    text, n = block.subn(f'name = "{switch}"\n{body}', testbed.read_text())
    assert n == 1
    testbed.write_text(text)


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_snmp_switch_that_does_not_answer(kenv, tmp_path: Path):
    """A real driver's failure (pysnmp timing out on a closed loopback port) reaches the caller as the core's error."""
    testbed = small_inventory(tmp_path / "testbed.toml")
    port = closed_udp_port()
    replace_switch(
        testbed,
        "sw2",
        f'driver = "snmp_qbridge"\naddress = "127.0.0.1:{port}"\ncredentials = "sw"\n'
        "options = { timeout = 0.2, retries = 0 }",
    )
    creds = tmp_path / "credentials.toml"
    creds.write_text('[sw]\nversion = "2c"\ncommunity = "public"\n')
    creds.chmod(0o600)  # a credentials file others may read is refused
    svc = KavlanService(
        config.load(inventory=str(testbed), credentials=str(creds), switch_retries=0, admins="alice")
    )
    try:
        for attempt in (svc.drift(), svc.repair()):
            (down,) = run(attempt).unreadable
            assert down.switch == "sw2" and down.ports == ("Gi1/0/1", "Gi1/0/2")
            assert down.reason.startswith(f"cannot read switch sw2: no answer from 127.0.0.1:{port}")
    finally:
        run(svc.close())


def test_a_driver_refusing_its_configuration_is_a_switch_error_of_the_core(make_service, tmp_path):
    svc = make_service("alice", admins="alice")
    replace_switch(
        tmp_path / "testbed.toml",
        "sw2",
        'driver = "ssh_cli"\naddress = "127.0.0.1"\noptions = { dialect = "procurve" }',
    )
    broken = make_service("alice", admins="alice")
    assert broken.inventory.switches["sw2"].driver == "ssh_cli"
    with pytest.raises(SwitchUnavailable, match="^switch sw2: unknown CLI dialect 'procurve'") as caught:
        run(broken.set_vlan(["suno-1", "suno-3"], 4))
    assert caught.value.switch == "sw2"
    (down,) = run(broken.drift()).unreadable
    assert down.reason.startswith("cannot read switch sw2: unknown CLI dialect")
    assert dict(run(svc.vlan_of(["suno-1", "suno-3"]))) == {
        "suno-1.sophia.grid5000.fr": DEFAULT,
        "suno-3.sophia.grid5000.fr": DEFAULT,
    }
    with svc.store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/1"]) == {}  # sw1 was locked, never written


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latency_ms": "fast"}, "option latency_ms must be a number, not 'fast'"),
        ({"timeout": 1}, "option timeout must be true or false, not 1"),
        ({"refuse_ports": "Gi1/0/1"}, "option refuse_ports must be a list of strings, not 'Gi1/0/1'"),
        ({"refuse_tags": ["704"]}, "option refuse_tags must be a list of integers, not ['704']"),
    ],
)
def test_a_driver_option_of_the_wrong_type_is_the_switchs_error(make_service, options, message):
    """Checked when the driver is made, like input: one sentence, the other switches still read."""
    svc = make_service("alice", options={"sw2": options}, admins="alice")
    with pytest.raises(SwitchUnavailable) as caught:
        run(svc.set_vlan(["suno-1", "suno-3"], 4))
    assert str(caught.value) == f"switch sw2: {message}"
    (down,) = run(svc.drift()).unreadable
    assert down.switch == "sw2" and message in down.reason


def test_a_dry_run_that_cannot_read_a_switch_says_so_per_node(kenv, tmp_path, make_service):
    """The plan of a move needs every switch read: a dry run that cannot read one reports each node (the CLI, as
    a move would) and ``Service.plan`` raises the core's error, never an assertion or a traceback."""
    testbed = small_inventory(tmp_path / "testbed.toml", SILENT)
    env = {**kenv, "KAVLAN_INVENTORY": str(testbed)}
    dry = ("-s", "-i", "5", "-m", "suno-1", "-m", "suno-3", "--dry-run")
    refused = kavlan(env, *dry)  # rights come first: alice holds neither the nodes nor the VLAN
    assert (refused.returncode, refused.stdout) == (1, "") and refused.stderr.startswith(
        "kavlan: Not enough privileges"
    )
    proc = kavlan({**env, "KAVLAN_ADMINS": "alice"}, *dry)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1,
        "suno-1.sophia.grid5000.fr: unchanged (not moved: another switch of this move failed)\n",
        "suno-3.sophia.grid5000.fr: failure (cannot read switch sw2: no answer (timed out))\n",
    )
    svc = make_service("root", options=SILENT, admins="root")
    with pytest.raises(SwitchUnavailable) as caught:
        run(svc.plan(["suno-3", "suno-4"], 5))
    assert (str(caught.value), caught.value.switch, caught.value.ports) == (
        "cannot read switch sw2: no answer (timed out)",
        "sw2",
        ["Gi1/0/1", "Gi1/0/2"],
    )
