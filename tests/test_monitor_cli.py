"""``kavlan ports``, ``kavlan fdb``, ``kavlan check-isolation`` and the REPL's same commands, as subprocesses on a
small simulated testbed: their lines, ``--json``, the exit status (non-zero on a leak, and on a switch that could
not be read), and one sentence for bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import small_inventory

LEAK = {"sw1": {"fdb_extra": ["Gi1/0/1 02:00:00:00:00:99 100"]}}
"""A MAC nobody has behind suno-1's port, in DEFAULT (tag 100)."""


def kavlan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kavlan", *args], env=env, capture_output=True, text=True, timeout=60)


def on_testbed(kenv: dict[str, str], tmp_path: Path, options: dict | None = None) -> dict[str, str]:
    return {**kenv, "KAVLAN_INVENTORY": str(small_inventory(tmp_path / "testbed.toml", options))}


def test_ports_fdb_and_a_clean_check(kenv: dict[str, str], tmp_path: Path) -> None:
    env = on_testbed(kenv, tmp_path)
    proc = kavlan(env, "ports", "-m", "suno-[1-2]", "--interval", "0.2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["suno-1/eth0 sw1 Gi1/0/1", "suno-2/eth0 sw1 Gi1/0/2"]
    assert all("up 10 Gb/s, in " in line and "B/s, errors 0" in line for line in lines), lines
    data = json.loads(kavlan(env, "ports", "-m", "suno-3", "--json").stdout)
    assert data["ports"][0]["up"] is True and data["ports"][0]["in_rate"] > 0
    proc = kavlan(env, "fdb", "-i", "DEFAULT")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 8
    assert "suno-1/eth0" in proc.stdout.splitlines()[0] and " VLAN DEFAULT sw1 Gi1/0/1 " in proc.stdout
    proc = kavlan(env, "check-isolation")
    assert (proc.returncode, proc.stdout) == (0, "site sophia: clean (8 MAC address(es) seen)\n")


def test_a_leak_exits_non_zero_and_is_clean_once_undone(kenv: dict[str, str], tmp_path: Path) -> None:
    env = on_testbed(kenv, tmp_path, LEAK)
    proc = kavlan(env, "check-isolation", "-i", "DEFAULT")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        "LEAK (unknown): 02:00:00:00:00:99 (a MAC no node of the testbed has) is behind suno-1/eth0's port "
        "sw1/Gi1/0/1, in VLAN DEFAULT"
    )
    data = json.loads(kavlan(env, "check-isolation", "--json").stdout)
    assert data["clean"] is False and [k["kind"] for k in data["leaks"]] == ["unknown"]
    assert kavlan(env, "check-isolation", "-i", "4").returncode == 0, "the leak is not in VLAN 4"
    proc = kavlan(env, "fdb", "-i", "DEFAULT")
    assert "02:00:00:00:00:99 VLAN DEFAULT sw1 Gi1/0/1 unknown" in proc.stdout
    env = on_testbed(kenv, tmp_path)  # undone
    assert kavlan(env, "check-isolation").returncode == 0


def test_a_switch_that_cannot_be_read_is_no_clean_bill(kenv: dict[str, str], tmp_path: Path) -> None:
    env = on_testbed(kenv, tmp_path, {"sw2": {"timeout": True, "timeout_s": 0.01}})
    proc = kavlan(env, "check-isolation")
    assert proc.returncode == 1
    assert proc.stdout == "site sophia: no leak on the switches read, but 1 could not be\n"
    assert proc.stderr == (
        "kavlan: cannot read switch sw2: no answer (timed out) (its learned addresses were not read)\n"
    )


def test_bad_input_is_one_sentence(kenv: dict[str, str], tmp_path: Path) -> None:
    env = on_testbed(kenv, tmp_path)
    for args, sentence in (
        (["ports"], "kavlan: no node given: name nodes (-m NODE, -f NODEFILE) or a job (-j JOBID)\n"),
        (["ports", "-m", "nosuch-1"], "kavlan: unknown node 'nosuch-1': no such node in the testbed\n"),
        (
            ["check-isolation", "-i", "4", "-j", "3"],
            "kavlan: check-isolation takes -i VLAN or -j JOB, not both\n",
        ),
        (["check-isolation", "-j", "4242"], "kavlan: job 4242 does not exist\n"),
        (["fdb", "-i", "99"], None),
        (
            ["ports", "-m", "suno-1", "--interval", "99"],
            "kavlan: --interval 99: give seconds, from 0 to 10\n",
        ),
    ):
        proc = kavlan(env, *args)
        assert proc.returncode != 0 and proc.stdout == "", (args, proc)
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, (args, proc.stderr)
        if sentence is not None:
            assert proc.stderr == sentence, args


def test_the_repl_has_the_same_commands(kenv: dict[str, str], tmp_path: Path) -> None:
    env = on_testbed(kenv, tmp_path, LEAK)
    proc = subprocess.run(
        ["kavlan-shell", "-c", "ports suno-1; fdb 4; check-isolation 4; check-isolation site sophia"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout.splitlines()
    assert out[0].startswith("suno-1/eth0 sw1 Gi1/0/1: up 10 Gb/s")
    assert out[1:3] == ["no MAC address learned", "VLAN 4: clean (0 MAC address(es) seen)"]
    assert out[3].startswith("LEAK (unknown): 02:00:00:00:00:99")
    assert out[4] == "site sophia: 1 leak(s) (9 MAC address(es) seen)"
