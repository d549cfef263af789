"""The tutorial's first part the one-step way, in a lab of its own (root): ``kavlan-kadeploy3 ... -k --vlan N``
instead of ``kavlan -s``: the nodes end in the VLAN, answer under their in-VLAN names (with the key given), the
VLAN's DHCP is on; then the same through kavlan-api's deployments with python-grid5000, polled until terminated."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lab import SITE, kavlan, lab_exec, needs_lab, pings, reserve, running_lab, tool

from kavlan_core.lab.builder import Lab
from kavlan_core.model import ROUTED_IDS

pytestmark = [needs_lab]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("deploy")) as the_lab:
        yield the_lab


def dhcp_state(lab: Lab, vid: int) -> str:
    """The DHCP column of the REPL's VLAN list (kavlan-shell, scripted), for one VLAN."""
    out = lab_exec(lab, tool("kavlan-shell"), "-c", "vlans")
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        words = line.split()
        if words and words[0] == str(vid):
            return words[5]
    raise AssertionError(f"VLAN {vid} is not listed: {out.stdout}")


def test_kadeploy3_with_vlan_in_one_step(lab: Lab, tmp_path: Path) -> None:
    job, nodes = reserve(lab, "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    assert vid in ROUTED_IDS
    nodefile = tmp_path / "nodes"
    nodefile.write_text("".join(f"{n}.{SITE}.grid5000.fr\n" for n in nodes for _core in range(2)))
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployTestKeyOnly deploy@test"
    keyfile = tmp_path / "key.pub"
    keyfile.write_text(key + "\n")
    started = time.monotonic()
    proc = lab_exec(
        lab,
        tool("kavlan-kadeploy3"),
        "-e",
        "debian12-min",
        "-f",
        str(nodefile),
        "-k",
        str(keyfile),
        "--vlan",
        str(vid),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "no operating system to install" in out and "the key is installed for root on 2 of 2" in out
    assert f"DHCP server of VLAN {vid} started" in out
    in_vlan = [f"{n}-kavlan-{vid}.{SITE}.grid5000.fr" for n in nodes]
    assert out.endswith("The deployment is successful on nodes\n" + "".join(n + "\n" for n in in_vlan)), out
    assert time.monotonic() - started < 120
    # the nodes are in the VLAN, reachable by their in-VLAN names, the VLAN's DHCP is on; the key is root's
    assert kavlan(lab, "-g", "-j", str(job)).split() == [
        w for n in nodes for w in (f"{n}.{SITE}.grid5000.fr:", str(vid))
    ]
    assert dhcp_state(lab, vid) == "on"
    for name in in_vlan:
        assert pings(lab, name) and not pings(lab, name.replace(f"-kavlan-{vid}", ""))
    keys = (lab.dir / "ssh" / "authorized_keys").read_text().splitlines()
    assert keys.count(key) == 1, "installed once, however many nodes share the file"
    hostname = lab_exec(lab, "ssh", in_vlan[0].split(".")[0], "hostname")
    assert hostname.stdout.strip() == f"{nodes[0]}-kavlan-{vid}"
    lab_exec(lab, tool("kavlan-oardel"), str(job))


PASSWORD = "root-password-1"


@contextlib.contextmanager
def serve_in_lab(lab: Lab, tmp_path: Path) -> Iterator[str]:
    """kavlan-api inside the lab's frontend (where the lab's SSH and console work), plain HTTP on loopback, a
    users file for root (the lab's user: an administrator); its URL, and the server stopped after."""
    users = tmp_path / "users"
    subprocess.run(
        [sys.executable, "-m", "kavlan_core.api.server", "passwd", str(users), "root"],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=30,
    )
    cmd = [
        sys.executable,
        "-m",
        "kavlan_tui.lab",
        "exec",
        "--state-dir",
        str(lab.dir),
        "--",
        tool("kavlan-api"),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--users-file",
        str(users),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield _url(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=40)


def test_kadeploy3_into_a_local_vlan_reached_through_its_gateway(lab: Lab) -> None:
    job, nodes = reserve(lab, "{\"type='kavlan-local'\"}/vlan=1,{\"cluster='uvb'\"}/nodes=1")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    (node,) = nodes
    proc = lab_exec(
        lab, tool("kavlan-kadeploy3"), "-e", "debian12-min", "-m", node, "--vlan", str(vid), timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith(f"successful on nodes\n{node}-kavlan-{vid}.{SITE}.grid5000.fr\n"), proc.stdout
    assert pings(lab, f"{node}-kavlan-{vid}", via=f"kavlan-{vid}") and not pings(lab, node)
    assert lab_exec(lab, tool("kavlan-oardel"), str(job)).returncode == 0


def _url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "http://" in line:
            return line[line.index("http://") :].split()[0].rstrip("/")
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("kavlan-api did not start in the lab")


def test_the_deploy_api_through_python_grid5000(lab: Lab, tmp_path: Path) -> None:
    pytest.importorskip("grid5000")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    with serve_in_lab(lab, tmp_path) as url:
        proc = lab_exec(lab, sys.executable, str(script), url, PASSWORD, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    vid = answer["vlan"]
    assert answer["status"] == "terminated" and set(answer["states"].values()) == {"OK"}, answer
    for node in answer["states"]:
        assert pings(lab, node.replace(".", f"-kavlan-{vid}.", 1))


CLIENT = """
import json, sys, time
import grid5000
gk = grid5000.Grid5000(uri=sys.argv[1], username="root", password=sys.argv[2], timeout=30)
gk.session.trust_env = False
site = gk.sites["sophia"]
job = site.jobs.create({"resources": "{type='kavlan'}/vlan=1+{cluster='uvb'}/nodes=2", "name": "deploy-api"})
vlan = job.resources_by_type["vlans"][0]
d = site.deployments.create({"environment": "debian12-min", "nodes": list(job.assigned_nodes), "vlan": vlan})
deadline = time.monotonic() + 200
while d.status not in ("terminated", "error") and time.monotonic() < deadline:
    time.sleep(1)
    d.refresh()
states = {n: r["state"] for n, r in getattr(d, "result", {}).items()}
print(json.dumps({"status": d.status, "vlan": vlan, "states": states, "error": getattr(d, "error", "")}))
"""


def test_a_node_that_does_not_come_back_is_ko_put_back_and_marked_unavailable(
    lab: Lab, tmp_path: Path
) -> None:
    job, nodes = reserve(lab, "{\"type='kavlan'\"}/vlan=1,{\"cluster='uvb'\"}/nodes=2")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    broken, fine = nodes
    fake = f"/tmp/kavlan-deploy-broken-{lab.prefix.rstrip('-')}"
    # inside that node only (its own mount namespace): a restart that loses the node's address, and fails
    script = "#!/bin/sh\\nip -4 addr flush dev eth0\\nexit 1\\n"
    lab_exec(lab, "sh", "-c", f"printf '{script}' > {fake} && chmod +x {fake}")
    assert lab_exec(lab, "mount", "--bind", fake, "/etc/init.d/networking", host=broken).returncode == 0
    try:
        proc = lab_exec(
            lab, "env", "KAVLAN_VERIFY_TIMEOUT=6", tool("kavlan-kadeploy3"), "-e", "debian12-min",
            "-m", broken, "-m", fine, "--vlan", str(vid), timeout=120,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert (
            f"The deployment is successful on nodes\n{fine}-kavlan-{vid}.{SITE}.grid5000.fr\n" in proc.stdout
        )
        assert f"kavlan-kadeploy3: {broken} is unavailable to new jobs" in proc.stderr, proc.stderr
        failed = proc.stderr[proc.stderr.index("The deployment failed on nodes\n") :].splitlines()[1]
        assert failed.startswith(
            f"{broken}.{SITE}.grid5000.fr (did not come back in VLAN {vid} within 6 s"
        ), failed
        assert (
            "its console's restart failed" in failed and "it answers nowhere, not even in DEFAULT" in failed
        )
        # its port went back to DEFAULT; answering nowhere, it is marked as a job's end marks a node
        assert kavlan(lab, "-g", "-m", broken).split() == [f"{broken}.{SITE}.grid5000.fr:", "DEFAULT"]
        listed = lab_exec(lab, tool("kavlan-oarstat")).stdout
        assert f"{broken}: not back after a deployment into VLAN {vid}" in listed, listed
    finally:
        lab_exec(lab, "umount", "/etc/init.d/networking", host=broken)
        lab_exec(lab, "rm", "-f", fake)
    assert lab_exec(lab, "/etc/init.d/networking", "restart", host=broken).returncode == 0
    assert lab_exec(lab, tool("kavlan-oarnodesetting"), "-s", "Alive", "-h", broken).returncode == 0
    assert lab_exec(lab, tool("kavlan-oardel"), str(job)).returncode == 0
