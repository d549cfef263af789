"""A switch that cannot be read during drift or repair: one core error (SwitchUnavailable) naming the switch, its
ports and the reason; on the command line one sentence, a non-zero exit, no traceback, and nothing changed."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import run, small_inventory
from kavlan_core import config
from kavlan_core.drivers.base import SwitchError
from kavlan_core.errors import KavlanError, SwitchUnavailable
from kavlan_core.model import DEFAULT
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
    for who, action in ((env, "--drift"), (admin, "--repair")):
        proc = kavlan(who, action)
        assert (proc.returncode, proc.stdout) == (1, ""), (action, proc.stdout, proc.stderr)
        assert proc.stderr == "kavlan: cannot read switch sw2: no answer (timed out)\n", action

    # nothing changed: the drifted port is still where it was, and nothing was recorded
    with store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/2"]) == {"Gi1/0/2": 705}
        assert tx.nic_vlans() == {}
    store.dispose()
    small_inventory(testbed)
    assert kavlan(env, "--drift").stdout == drifted


def test_drift_names_the_switch_and_its_ports(make_service):
    svc = make_service(options=SILENT)
    with pytest.raises(SwitchUnavailable) as caught:
        run(svc.drift())
    err = caught.value
    assert isinstance(err, KavlanError) and not isinstance(err, SwitchError)
    assert (str(err), err.switch, err.ports) == (
        "cannot read switch sw2: no answer (timed out)",
        "sw2",
        ["Gi1/0/1", "Gi1/0/2"],
    )


def test_repair_changes_nothing_when_a_switch_cannot_be_read(make_service):
    svc = make_service()
    behind_kavlans_back(svc.store)
    assert [d.node for d in run(svc.drift())] == ["suno-2"]
    silent = make_service("root", options=SILENT, admins="root")
    with pytest.raises(SwitchUnavailable, match="^cannot read switch sw2: no answer"):
        run(silent.repair())
    with svc.store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/2"]) == {"Gi1/0/2": 705}
    assert [d.node for d in run(svc.drift())] == ["suno-2"]  # still there: repair read before it wrote


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
    svc = KavlanService(
        config.load(inventory=str(testbed), credentials=str(creds), switch_retries=0, admins="alice")
    )
    try:
        for attempt in (svc.drift(), svc.repair()):
            with pytest.raises(SwitchUnavailable) as caught:
                run(attempt)
            assert caught.value.switch == "sw2" and caught.value.ports == ["Gi1/0/1", "Gi1/0/2"]
            assert str(caught.value).startswith(f"cannot read switch sw2: no answer from 127.0.0.1:{port}")
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
    with pytest.raises(SwitchUnavailable, match="^cannot read switch sw2: unknown CLI dialect"):
        run(broken.drift())
    assert dict(run(svc.vlan_of(["suno-1", "suno-3"]))) == {
        "suno-1.sophia.grid5000.fr": DEFAULT,
        "suno-3.sophia.grid5000.fr": DEFAULT,
    }
    with svc.store.read() as tx:
        assert tx.sim_read("sw1", ["Gi1/0/1"]) == {}  # sw1 was locked, never written


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
