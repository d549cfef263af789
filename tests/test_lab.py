"""The real one-machine lab (root): DHCP, names, ssh, at, moves through kavlan, local VLAN isolation, and a clean down."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kavlan_core import inventory
from kavlan_core.lab import builder, teardown
from kavlan_core.lab.builder import FAIL_AFTER, Lab, lab_inventory_text
from kavlan_core.lab.state import LabState, Proc, alive, lab_namespaces, processes_in
from kavlan_core.lab.system import missing_tools
from kavlan_core.lab.topology import LAB_NET, LabError, build
from kavlan_core.model import DEFAULT, LOCAL_IDS, ROUTED_IDS
from kavlan_tui import lab as lab_cli

MISSING = missing_tools() if os.geteuid() == 0 else []
needs_lab = pytest.mark.skipif(
    os.geteuid() != 0 or bool(MISSING),
    reason="the lab needs root (network namespaces; CI runs as root)"
    if os.geteuid() != 0
    else f"the lab needs {', '.join(MISSING)} (apt-get install them)",
)
HAS_AT = shutil.which("atd", path="/usr/sbin:/usr/bin:/sbin:/bin") is not None
SITE = "sophia"


def unique_prefix() -> str:
    return f"kt{uuid.uuid4().hex[:5]}-"


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Orphans of the lab's daemons come to this process, which reaps them at once (this machine's init reaps
    orphans only after a second or two, so zombies would linger in the leftover checks)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        reap_zombies()
        libc.prctl(36, 0, 0, 0, 0)


def reap_zombies() -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                os.waitpid(int(entry.name), os.WNOHANG)


def what_it_runs(state: LabState) -> list[Proc]:
    return [p for p in [*state.processes, *processes_in(state.namespaces)] if alive(p)]


def leftovers(prefix: str, state_dir: Path, procs: list[Proc]) -> list[str]:
    """Whatever a lab of this prefix and state dir left: namespaces, /etc/netns entries, files, processes."""
    reap_zombies()
    out = [f"namespace {ns}" for ns in lab_namespaces(prefix)]
    with contextlib.suppress(OSError):
        out += [f"/etc/netns/{p.name}" for p in Path("/etc/netns").iterdir() if p.name.startswith(prefix)]
    if state_dir.exists():
        out.append(f"state dir {state_dir}: {sorted(p.name for p in state_dir.iterdir())}")
    out += [f"process {p.pid} ({p.name})" for p in procs if alive(p)]
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if (
                entry.name.isdigit()
                and (str(state_dir) in cmdline or f" {prefix}" in cmdline)
                and int(entry.name) != os.getpid()
            ):
                out.append(f"process {entry.name}: {cmdline[:120]}")
    return out


def kavlan_lab(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kavlan_tui.lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def lab_exec(
    lab: Lab, *cmd: str, host: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    where = ["--host", host] if host else []
    return kavlan_lab("exec", "--state-dir", str(lab.dir), *where, "--", *cmd, timeout=timeout)


def tool(name: str) -> str:
    """A console script of this distribution (installed next to the interpreter by pip install -e)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else (shutil.which(name) or pytest.skip(f"{name} is not installed"))


def kavlan(lab: Lab, *args: str) -> str:
    proc = lab_exec(lab, tool("kavlan"), *args)
    assert proc.returncode == 0, f"kavlan {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def reserve(lab: Lab, request: str) -> tuple[int, list[str]]:
    proc = lab_exec(lab, tool("kavlan-oarsub"), "-l", request, "--json")
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    return job["uid"], [n.split(".")[0] for n in job["assigned_nodes"]]


def ssh(lab: Lab, host: str, command: str) -> str:
    proc = lab_exec(lab, "ssh", host, command)
    assert proc.returncode == 0, f"ssh {host} {command!r}: {proc.stderr}"
    return proc.stdout.strip()


def pings(lab: Lab, name: str, via: str | None = None) -> bool:
    cmd = ["ping", "-c1", "-W1", name]
    proc = lab_exec(lab, "ssh", via, " ".join(cmd)) if via else lab_exec(lab, *cmd)
    return proc.returncode == 0


def eventually(what: str, check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    assert check(), f"{what} within {seconds:g} s"


# --- without root: the shape of the lab ----------------------------------------------------------------------


def test_the_lab_topology_keeps_local_vlans_off_the_router_and_names_short() -> None:
    topo = build(inventory.parse(lab_inventory_text(None)[0]), "kt12345-")
    assert {h.name for h in topo.nodes} == {f"{c}-{i}" for c in ("suno", "uvb") for i in range(1, 5)}
    assert [h.name for h in topo.gateways] == ["kavlan-1", "kavlan-2", "kavlan-3"]
    assert all(ns.startswith("kt12345-") for ns in topo.namespaces)
    assert all(len(name) <= 15 for link in topo.links for name in (link.a, link.b))
    router_legs = {link.b for link in topo.links if link.b_ns == topo.router}
    assert router_legs == {f"vl{topo.tags[v]}" for v in (DEFAULT, *ROUTED_IDS, 18)}, (
        "no router leg in local VLANs"
    )
    assert [topo.dhcp[v].netns for v in LOCAL_IDS] == [f"kt12345-kavlan-{v}" for v in LOCAL_IDS]
    assert all(topo.dhcp[v].netns == topo.router for v in ROUTED_IDS)
    assert {subnet for subnet, _ in topo.frontend_routes} == {topo.dhcp[v].subnet for v in (*ROUTED_IDS, 18)}
    hosts = topo.hosts_file()
    assert "10.64.0.11\tsuno-1.sophia.grid5000.fr suno-1\n" in hosts
    assert "suno-1-kavlan-2.sophia.grid5000.fr suno-1-kavlan-2" in hosts
    assert all(ipaddress.ip_address(line.split()[0]) in LAB_NET for line in hosts.splitlines()[3:])


def test_kavlan_lab_says_it_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lab_cli.main(["status"]) == 1
    assert capsys.readouterr().err == f"kavlan-lab: {lab_cli.NOT_ROOT}\n"


def test_kavlan_lab_acts_on_the_lab_its_prefix_names_or_says_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    LabState(tmp_path / "lab.json", prefix="kx-", phase="up").save()  # the lab this state directory holds
    assert lab_cli.main(["exec", "--state-dir", str(tmp_path), "--prefix", "ky-", "--", "true"]) == 1
    assert capsys.readouterr().err == (
        f"kavlan-lab: the lab in {tmp_path} runs under prefix kx-, not ky-: give the --state-dir of the lab ky-\n"
    )
    assert lab_cli.main(["status", "--state-dir", str(tmp_path), "--prefix", "ky-"]) == 1
    assert "runs under prefix kx-" in capsys.readouterr().err


# --- with root: a real lab ------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_lab(base: Path) -> Iterator[Lab]:
    """A lab under a unique prefix; its down must leave nothing."""
    with subreaper():
        the_lab = Lab(base / "state", prefix=unique_prefix())
        procs: list[Proc] = []
        try:
            the_lab.up()
            yield the_lab
        finally:
            if the_lab.state is not None:
                procs = what_it_runs(the_lab.state)
            report = the_lab.down()
            assert not report.leftovers
            assert leftovers(the_lab.prefix, the_lab.dir, procs) == []


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for the module."""
    with running_lab(tmp_path_factory.mktemp("lab")) as the_lab:
        yield the_lab


@needs_lab
def test_every_node_got_its_default_address_by_dhcp(lab: Lab) -> None:
    leases = lab.dhcp_files(DEFAULT)["lease_file"].read_text()
    for node in lab.topology.nodes:
        assert node.mac in leases, f"{node.name} has no lease"
        assert lab.addresses(node) == [node.default_address]
    data = json.loads(kavlan_lab("status", "--state-dir", str(lab.dir), "--json").stdout)
    assert data["phase"] == "up" and all(p["alive"] for p in data["processes"])
    assert {n["name"]: n["vlan"] for n in data["nodes"]} == {n.name: "DEFAULT" for n in lab.topology.nodes}
    with pytest.raises(LabError, match="already up"):
        Lab(lab.dir).up()


@needs_lab
def test_the_lab_reads_its_links_and_is_proved_isolated(lab: Lab) -> None:
    """kavlan's monitoring on the lab's real bridges: every node's link up, and the isolation check of the whole
    site clean (the router's and gateways' legs are on no node's port, and no node's MAC is where it must not be).
    (After a move, what the trunks still remember of the VLAN a node left is stale, not a leak: see the move's
    test below.)"""
    first = str(lab.topology.nodes[0].default_address).split("/")[0]
    for (
        node
    ) in lab.topology.nodes:  # traffic inside the lab (ARP, then an echo): each bridge learns the sender
        lab_exec(lab, "ping", "-c", "1", "-W", "1", first, host=node.name)
    proc = lab_exec(
        lab, tool("kavlan"), "ports", "-m", "suno-1", "-m", "suno-2", "--interval", "0.2", "--json"
    )
    ports = json.loads(proc.stdout)
    assert [p["up"] for p in ports["ports"]] == [True, True] and not ports["unreadable"], ports["ports"][0][
        "reason"
    ]
    assert proc.returncode == 0, ports
    proc = lab_exec(lab, tool("kavlan"), "check-isolation", "--json")
    report = json.loads(proc.stdout)
    assert report["clean"] and report["macs"] > 0, [k["detail"] for k in report["leaks"]] or report[
        "unreadable"
    ]
    assert proc.returncode == 0


@needs_lab
def test_the_frontend_reaches_nodes_by_name_and_over_ssh(lab: Lab) -> None:
    assert pings(lab, "suno-1")
    assert ssh(lab, "suno-1", "hostname") == "suno-1"
    assert ssh(lab, "uvb-4.sophia.grid5000.fr", "hostname") == "uvb-4"
    assert ssh(lab, "kavlan-2", "hostname") == "kavlan-2"


@needs_lab
@pytest.mark.skipif(not HAS_AT, reason="at is not installed")
def test_at_queues_in_the_nodes_private_spool(lab: Lab) -> None:
    host_spool = Path("/var/spool/cron/atjobs")
    before = sorted(os.listdir(host_spool))
    ssh(lab, "suno-3", "echo true | at now + 30 minutes 2>/dev/null")
    assert re.match(r"^\d+\s.*\sa root$", ssh(lab, "suno-3", "atq"))
    assert ssh(lab, "suno-4", "atq") == "", "another node's spool is its own"
    assert sorted(os.listdir(host_spool)) == before, "the host's spool is untouched"
    assert [p for p in (lab.home("suno-3") / "spool" / "atjobs").iterdir() if p.name != ".SEQ"]


@needs_lab
def test_nodes_moved_into_a_routed_vlan_answer_under_their_vlan_names(lab: Lab) -> None:
    job, nodes = reserve(lab, "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    assert vid in ROUTED_IDS and len(nodes) == 2
    # kavlan -e starts the VLAN's dnsmasq where the lab's inventory places it: the router, on its leg in the VLAN
    placement = inventory.load(lab.kavlan_inventory).dhcp_placement(SITE, vid)
    assert placement == inventory.DhcpPlacement(lab.topology.router, f"vl{lab.topology.tags[vid]}")
    kavlan(lab, "-e", "-j", str(job))
    first, second = nodes
    # the first node the tutorial's way (an at job queued over ssh before the move; at counts in minutes, so
    # the job sleeps a few seconds itself); the second through its console, right after the move
    started = time.monotonic()
    if HAS_AT:
        ssh(lab, first, "echo 'sleep 4; /etc/init.d/networking restart' | at now 2>/dev/null")
    kavlan(lab, "-s", "-j", str(job), "-i", str(vid), "-m", first, "-m", second)
    late = time.monotonic() - started > 3.5  # then the at job may have run before the move: use the console
    for node in [second] if HAS_AT and not late else [first, second]:
        assert lab_exec(lab, "/etc/init.d/networking", "restart", host=node).returncode == 0
    for node in nodes:
        eventually(
            f"{node}-kavlan-{vid} answers from the frontend",
            lambda node=node: pings(lab, f"{node}-kavlan-{vid}"),
        )
        assert ssh(lab, f"{node}-kavlan-{vid}", "hostname") == f"{node}-kavlan-{vid}"
    assert not pings(lab, first), "its DEFAULT address is gone"
    assert kavlan(lab, "-g", "-m", first).split() == [f"{first}.{SITE}.grid5000.fr:", str(vid)]
    # right after the move the trunks still remember both nodes in DEFAULT (300 s): stale, not leaks
    proc = lab_exec(lab, tool("kavlan"), "check-isolation", "--json")
    report = json.loads(proc.stdout)
    assert report["clean"] and proc.returncode == 0, [k["detail"] for k in report["leaks"]] or report[
        "unreadable"
    ]
    print(f"after the move: {report['stale']} stale entries on the trunks, {report['macs']} MACs checked")


@needs_lab
@pytest.mark.skipif(not HAS_AT, reason="at is not installed")
def test_a_local_vlan_is_reached_only_through_its_gateway(lab: Lab) -> None:
    job, nodes = reserve(lab, "{\"type='kavlan-local'\"}/vlan=1,{\"cluster='uvb'\"}/nodes=1")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    assert vid in LOCAL_IDS
    node, gateway = nodes[0], f"kavlan-{vid}"
    placement = inventory.load(lab.kavlan_inventory).dhcp_placement(SITE, vid)
    assert placement == inventory.DhcpPlacement(lab.prefix + gateway, "eth1")
    kavlan(lab, "-e", "-j", str(job))
    # kavlan's staged move, the tutorial's recipe: at restarts the network, the port moves, the node is
    # checked over ssh from its new VLAN, through the gateway
    kavlan(lab, "-s", "-j", str(job), "--restart-via-at", "3")
    name = f"{node}-kavlan-{vid}"
    assert pings(lab, name, via=gateway)
    assert not pings(lab, name), "a local VLAN is not reachable from the frontend"
    assert ssh(lab, name, "hostname") == name, "ssh NODE-kavlan-N goes through the gateway (ProxyJump)"
    assert not pings(lab, "frontend", via=name), "nor does a node of a local VLAN reach out"


@needs_lab
def test_a_failed_up_removes_everything_it_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Proc] = []
    real_down = teardown.down

    def spy(lab: Lab) -> teardown.DownReport:
        if lab.state is not None:
            seen.extend(what_it_runs(lab.state))
        return real_down(lab)

    monkeypatch.setattr(teardown, "down", spy)
    monkeypatch.setenv(FAIL_AFTER, "daemons")
    the_lab = Lab(tmp_path / "state", prefix=unique_prefix())
    with subreaper(), pytest.raises(LabError, match="on purpose"):
        the_lab.up()
    assert len(seen) > 10, "the failure came with daemons running"
    assert leftovers(the_lab.prefix, the_lab.dir, seen) == []


@needs_lab
def test_down_after_an_interrupted_up_removes_everything(tmp_path: Path) -> None:
    state_dir, prefix = tmp_path / "state", unique_prefix()
    with subreaper():
        crashed = kavlan_lab(
            "up",
            "--state-dir",
            str(state_dir),
            "--prefix",
            prefix,
            env={**os.environ, FAIL_AFTER: "daemons:crash"},
        )
        assert crashed.returncode == 70, crashed.stderr
        state = LabState.load(state_dir / builder.STATE_FILE)
        procs = what_it_runs(state)
        assert procs and lab_namespaces(prefix), "the interrupted up left a half-made lab"
        down = kavlan_lab("down", "--state-dir", str(state_dir))
        assert down.returncode == 0, down.stderr
        assert "lab down: stopped" in down.stdout
        assert leftovers(prefix, state_dir, procs) == []
