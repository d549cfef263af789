"""No node left stranded (issue 13), replayed in a lab of its own (root): the tutorial's manual section followed
literally, without ``kavlan -e``, is refused before anything moves; a staged move whose nodes get no address in
the new VLAN is undone, each node brought back where it was by its own undo restart, and the report says where
each node is and that it answers there."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_lab import (
    SITE,
    eventually,
    kavlan,
    kavlan_lab,
    lab_exec,
    needs_lab,
    pings,
    reserve,
    running_lab,
    tool,
)

from kavlan_core.lab import frontend
from kavlan_core.lab.builder import Lab
from kavlan_core.lab.frontend import LAB_USER
from kavlan_core.model import ROUTED_IDS

pytestmark = [
    needs_lab,
    pytest.mark.skipif(
        shutil.which("atd", path="/usr/sbin:/usr/bin") is None,
        reason="the safeguard needs at (apt-get install at)",
    ),
]

ROUTED_PAIR = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("stranding")) as the_lab:
        yield the_lab


def refused(lab: Lab, *args: str) -> str:
    """``kavlan ARGS`` must fail: its stderr."""
    proc = lab_exec(lab, tool("kavlan"), *args)
    assert proc.returncode != 0, f"kavlan {' '.join(args)} should be refused: {proc.stdout}"
    return proc.stderr


def test_the_manual_section_without_kavlan_e_is_refused_then_works_with_it(lab: Lab) -> None:
    job, nodes = reserve(lab, ROUTED_PAIR)
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    assert vid in ROUTED_IDS
    # the tutorial's manual section: the restart queued with at, then kavlan -s (and our one-step form of both)
    for how in (("-s", "-j", str(job)), ("-s", "-j", str(job), "--restart-via-at", "3")):
        why = refused(lab, *how)
        assert f"VLAN {vid}'s DHCP server is off" in why and "kavlan -e starts it" in why, why
        assert "Traceback" not in why and why.count("\n") == 1
    assert kavlan(lab, "-g", "-j", str(job)).split()[1::2] == ["DEFAULT", "DEFAULT"], "nothing moved"
    for node in nodes:
        assert pings(lab, node), f"{node} still answers on its default name"
    kavlan(lab, "-e", "-j", str(job))
    kavlan(lab, "-s", "-j", str(job), "--restart-via-at", "3")
    for node in nodes:
        assert pings(lab, f"{node}-kavlan-{vid}"), f"{node} answers in VLAN {vid}"
    kavlan(lab, "-s", "-i", "DEFAULT", "-j", str(job), "--restart-via-at", "3")
    assert lab_exec(lab, tool("kavlan-oardel"), str(job)).returncode == 0


def test_a_staged_move_into_a_vlan_without_dhcp_brings_every_node_back(lab: Lab) -> None:
    job, nodes = reserve(lab, ROUTED_PAIR)
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    started = time.monotonic()
    # the user says they need no DHCP there, wrongly: the nodes restart into a VLAN where nobody answers
    proc = lab_exec(
        lab,
        "env",
        "KAVLAN_VERIFY_TIMEOUT=8",
        tool("kavlan"),
        "-s",
        "-j",
        str(job),
        "--restart-via-at",
        "3",
        "--rollback",
        "--no-dhcp-check",
        "--json",
        timeout=120,
    )
    took = time.monotonic() - started
    assert proc.returncode != 0, "a move whose nodes did not come back is not a success"
    report = json.loads(proc.stdout)["nodes"]
    for node in nodes:
        outcome = report[f"{node}.{SITE}.grid5000.fr"]
        assert outcome["status"] == "rolled-back", outcome
        assert (outcome["port_vlan"], outcome["answers_in"]) == ("DEFAULT", "DEFAULT"), outcome
        assert outcome["message"].startswith(f"did not come back in VLAN {vid} within 8 s")
        assert outcome["message"].endswith("its port is back in VLAN DEFAULT, where it answers again")
        assert pings(lab, node), f"{node} answers on its default name again"
    assert took < 3 + 8 + 15 + 30, f"bounded: the restart, the verify window, the undo margin ({took:.0f} s)"
    assert kavlan(lab, "-g", "-j", str(job)).split()[1::2] == ["DEFAULT", "DEFAULT"]
    assert lab_exec(lab, tool("kavlan-oardel"), str(job)).returncode == 0


def test_nodes_that_come_back_are_confirmed_and_not_restarted_again(lab: Lab) -> None:
    job, nodes = reserve(lab, ROUTED_PAIR)
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    kavlan(lab, "-e", "-j", str(job))
    out = json.loads(kavlan(lab, "-s", "-j", str(job), "--restart-via-at", "3", "--json"))
    for node in nodes:
        outcome = out["nodes"][f"{node}.{SITE}.grid5000.fr"]
        assert outcome["status"] == "success" and "confirmed" in outcome["timings"], outcome
        assert outcome["answers_in"] == str(vid)
        queued = lab_exec(lab, "ssh", f"{node}-kavlan-{vid}", "atq")  # at's own spool: the node's
        assert queued.returncode == 0 and queued.stdout.strip() == "", f"{node}'s undo restart is removed"
    eventually("both still answer in the VLAN", lambda: all(pings(lab, f"{n}-kavlan-{vid}") for n in nodes))
    # kavlan run keeps each node's stderr, per node, on stderr
    ran = lab_exec(lab, tool("kavlan"), "run", "-j", str(job), "--", "echo out; echo err >&2")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [f"{n}-kavlan-{vid}: out" for n in nodes]
    assert ran.stderr.splitlines() == [f"{n}-kavlan-{vid} (stderr): err" for n in nodes]
    kavlan(lab, "-s", "-i", "DEFAULT", "-j", str(job), "--restart-via-at", "3")
    assert lab_exec(lab, tool("kavlan-oardel"), str(job)).returncode == 0


LOCAL_PAIR = "{\"type='kavlan-local'\"}/vlan=1,{\"cluster='uvb'\"}/nodes=2"


def in_local_vlan(lab: Lab) -> tuple[int, list[str], int]:
    """A job with a local VLAN and two uvb nodes moved into it (with the safeguard): (job, nodes, VLAN)."""
    job, nodes = reserve(lab, LOCAL_PAIR)
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    kavlan(lab, "-e", "-j", str(job))
    kavlan(lab, "-s", "-j", str(job), "--restart-via-at", "3")
    for node in nodes:
        assert not pings(lab, node) and pings(lab, f"{node}-kavlan-{vid}", via=f"kavlan-{vid}")
    return job, nodes, vid


def test_a_job_that_ends_in_a_local_vlan_hands_the_next_job_nodes_that_answer(lab: Lab) -> None:
    job, nodes, vid = in_local_vlan(lab)
    # the tutorial's ProxyCommand lines work: the gateways have nc
    lines = kavlan(lab, "ssh-config", "--proxycommand")
    assert f"ProxyCommand ssh -a -x kavlan-{vid} nc -q 0 %h %p" in lines
    config = lab.dir / "proxycommand.ssh_config"  # the user's lines first: ssh takes the first value it reads
    config.write_text(lines + "\n" + lab.ssh_config.read_text())
    try:
        over_nc = lab_exec(lab, "ssh", "-F", str(config), f"{nodes[0]}-kavlan-{vid}", "hostname")
        assert over_nc.stdout.strip() == f"{nodes[0]}-kavlan-{vid}", over_nc.stderr
    finally:
        config.unlink()
    started = time.monotonic()
    ended = lab_exec(lab, "env", "KAVLAN_VERIFY_TIMEOUT=20", tool("kavlan-oardel"), str(job), timeout=90)
    took = time.monotonic() - started
    assert ended.returncode == 0, ended.stderr
    assert "unavailable" not in ended.stderr, ended.stderr
    nxt, again = reserve(lab, "{\"cluster='uvb'\"}/nodes=2")
    assert sorted(again) == sorted(nodes), "the next job is handed the same nodes"
    for node in again:
        assert pings(lab, node), f"{node} answers by its default name when the next job starts"
    assert took < 5 + 20 + 10, f"the end is bounded ({took:.0f} s)"
    assert lab_exec(lab, tool("kavlan-oardel"), str(nxt)).returncode == 0


def test_a_node_whose_restart_is_broken_is_marked_unavailable_and_not_handed_out(lab: Lab) -> None:
    job, nodes, vid = in_local_vlan(lab)
    broken = nodes[0]
    fake = f"/tmp/kavlan-broken-networking-{lab.prefix.rstrip('-')}"
    # inside that node only (its own mount namespace): a networking script that fails
    lab_exec(lab, "sh", "-c", f"printf '#!/bin/sh\\nexit 1\\n' > {fake} && chmod +x {fake}")
    assert lab_exec(lab, "mount", "--bind", fake, "/etc/init.d/networking", host=broken).returncode == 0
    try:
        ended = lab_exec(lab, "env", "KAVLAN_VERIFY_TIMEOUT=6", tool("kavlan-oardel"), str(job), timeout=90)
        assert ended.returncode == 0, ended.stderr
        assert f"{broken} is unavailable to new jobs: does not answer in DEFAULT" in ended.stderr, (
            ended.stderr
        )
        assert "nor after its console's command" in ended.stderr, (
            "the lab's console ran the broken restart too"
        )
        listed = lab_exec(lab, tool("kavlan-oarstat"))
        assert f"{broken}: not back after the end of job {job}" in listed.stdout, listed.stdout
        assert pings(lab, nodes[1]), "the other node is back"
        for _ in range(2):  # never handed out again, however often one asks
            refused = lab_exec(lab, tool("kavlan-oarsub"), "-l", "{\"cluster='uvb'\"}/nodes=4")
            assert refused.returncode != 0 and "3 of 4 free" in refused.stderr, refused.stderr
    finally:
        lab_exec(lab, "umount", "/etc/init.d/networking", host=broken)
        lab_exec(lab, "rm", "-f", fake)
    # the administrator brings it back by its console and clears it
    assert lab_exec(lab, "/etc/init.d/networking", "restart", host=broken).returncode == 0
    eventually(f"{broken} answers again", lambda: pings(lab, broken))
    cleared = lab_exec(lab, tool("kavlan-oarnodesetting"), "-s", "Alive", "-h", broken)
    assert cleared.returncode == 0, cleared.stderr
    nxt, four = reserve(lab, "{\"cluster='uvb'\"}/nodes=4")
    assert broken in four
    assert lab_exec(lab, tool("kavlan-oardel"), str(nxt)).returncode == 0
    assert vid  # the local VLAN went with the job


def test_a_node_whose_at_is_broken_is_brought_back_by_the_labs_console(lab: Lab) -> None:
    job, nodes, _vid = in_local_vlan(lab)
    broken = nodes[1]
    fake = lab.dir / "broken-at"
    fake.write_text("#!/bin/sh\necho 'at: cannot queue' >&2\nexit 1\n")
    fake.chmod(0o755)
    at = shutil.which("at", path="/usr/bin:/bin") or "/usr/bin/at"
    assert lab_exec(lab, "mount", "--bind", str(fake), at, host=broken).returncode == 0
    try:
        ended = lab_exec(lab, "env", "KAVLAN_VERIFY_TIMEOUT=6", tool("kavlan-oardel"), str(job), timeout=120)
    finally:
        lab_exec(lab, "umount", at, host=broken)
        fake.unlink()
    assert ended.returncode == 0, ended.stderr
    assert "unavailable" not in ended.stderr, ended.stderr
    assert pings(lab, broken), f"{broken} was brought back by its console ([site.console] of the lab)"
    assert "Unavailable nodes" not in lab_exec(lab, tool("kavlan-oarstat")).stdout


def as_user(lab: Lab, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``cmd`` in the frontend as its user (``kavlan-lab exec --as user``), the tutorial's reader."""
    return kavlan_lab("exec", "--state-dir", str(lab.dir), "--as", "user", "--", *cmd, timeout=timeout)


def test_the_frontends_user_has_the_tutorials_rights_and_no_more(lab: Lab) -> None:
    who = as_user(lab, "sh", "-c", 'id -un; echo "$HOME"; pwd; ls -A /root')
    assert who.returncode == 0, who.stderr
    name, home, cwd, *in_root = who.stdout.splitlines()
    assert (name, home, cwd) == (LAB_USER, f"/home/{LAB_USER}", f"/home/{LAB_USER}")
    # this machine's /root is not there: only what the interpreter needs from it is bound back
    assert set(in_root) <= {Path(p).relative_to("/root").parts[0] for p in frontend._kept_under_root()}
    for path in ("/etc/hosts", "/etc/kavlan-lab-probe", "/root/probe", str(lab.kavlan_data / "probe")):
        touched = as_user(lab, "touch", path)
        assert touched.returncode != 0 and "Permission denied" in touched.stderr, (path, touched.stderr)
    assert not (Path("/etc") / "kavlan-lab-probe").exists() and not (Path("/root") / "probe").exists()
    assert as_user(lab, "ls", str(lab.kavlan_data)).returncode != 0, "the store is the server's"
    # the tutorial, as the user: a job, the refusals a real testbed gives, the nodes and gateways by ssh
    sub = as_user(lab, "kavlan-oarsub", "-l", "{\"type='kavlan-local'\"}/vlan=1,{\"cluster='uvb'\"}/nodes=1")
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().rpartition("=")[2]
    vid = int(as_user(lab, "kavlan", "-V", "-j", job).stdout)
    (node,) = [line.split(".")[0] for line in as_user(lab, "kavlan", "-g", "-j", job).stdout.splitlines()]
    stat = as_user(lab, "kavlan-oarstat")
    assert f"{job} " in stat.stdout and LAB_USER in stat.stdout, stat.stdout
    other = "suno-1" if not node.startswith("suno") else "uvb-1"
    moved = as_user(lab, "kavlan", "-s", "-i", "DEFAULT", "-m", other)
    assert moved.returncode != 0 and f"is not in a running job of {LAB_USER}" in moved.stderr, moved.stderr
    admin = as_user(lab, "kavlan-oarnodesetting", "-s", "Alive", "-h", node)
    assert admin.returncode != 0 and "only an administrator" in admin.stderr, admin.stderr
    for host in (node, f"kavlan-{vid}"):
        assert as_user(lab, "ssh", host, "hostname").stdout.strip() == host
    no_dhcp = as_user(lab, "kavlan", "-s", "-j", job)
    assert no_dhcp.returncode != 0 and "DHCP server is off" in no_dhcp.stderr, no_dhcp.stderr
    assert as_user(lab, "kavlan", "-e", "-j", job).returncode == 0
    assert as_user(lab, "kavlan", "-s", "-j", job, "--restart-via-at", "3").returncode == 0
    # the tutorial's ~/.ssh/config lines, in the user's own file
    written = as_user(lab, "sh", "-c", "kavlan ssh-config --proxycommand >> ~/.ssh/config")
    assert written.returncode == 0, written.stderr
    over_nc = as_user(lab, "ssh", f"{node}-kavlan-{vid}", "hostname")
    assert over_nc.stdout.strip() == f"{node}-kavlan-{vid}", over_nc.stderr
    ended = as_user(lab, "kavlan-oardel", job, timeout=120)
    assert ended.returncode == 0 and "their network restarts into DEFAULT" in ended.stderr, ended.stderr
    assert pings(lab, node), f"{node} answers by its default name after the job"
