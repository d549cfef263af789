"""The dnsmasq manager: lease parsing, pid-file states, and a real dnsmasq serving a udhcpc client between two namespaces."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kavlan_core import inventory as inventory_mod
from kavlan_core.dhcp.dnsmasq import DnsmasqError, DnsmasqManager, parse_leases
from kavlan_core.inventory import Inventory
from kavlan_core.reports import Lease

# --- without a server --------------------------------------------------------------------


def test_parse_leases_reads_dnsmasq_lines_and_skips_the_rest() -> None:
    text = (
        "1795779380 02:4B:AA:00:00:01 10.78.64.11 tiny-1-kavlan-4 01:02:4b:aa:00:00:01\n"
        "0 02:4b:aa:00:00:02 10.78.64.12 * *\n"
        "duid 00:01:00:01:2c:aa:bb:cc:dd:ee:ff:00:11\n"
        "garbage line\n"
        "x 02:4b:aa:00:00:03 10.78.64.13 a b\n"
    )
    assert parse_leases(text) == [
        Lease(1795779380, "02:4b:aa:00:00:01", "10.78.64.11", "tiny-1-kavlan-4", "01:02:4b:aa:00:00:01"),
        Lease(0, "02:4b:aa:00:00:02", "10.78.64.12", "", ""),
    ]


def test_a_server_never_started_is_off_with_no_leases(tmp_path: Path) -> None:
    m = DnsmasqManager(tmp_path / "state")
    assert m.state("lab", 4) == "off"
    assert m.pid("lab", 4) is None
    assert m.leases("lab", 4) == []
    assert m.stop("lab", 4) == "off"


def test_a_pid_file_naming_another_process_is_failed_and_stop_leaves_that_process_alone(
    tmp_path: Path,
) -> None:
    m = DnsmasqManager(tmp_path / "state")
    files = m.files("lab", 4)
    files.directory.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        files.pid.write_text(f"{other.pid}\n")
        assert m.state("lab", 4) == "failed"
        assert m.stop("lab", 4) == "off"
        assert other.poll() is None, "stop killed a process that is not our dnsmasq"
        assert not files.pid.exists()
        files.pid.write_text("not a pid\n")
        assert m.state("lab", 4) == "failed"
    finally:
        other.kill()
        other.wait(timeout=10)


def test_start_without_dnsmasq_says_so(tmp_path: Path, demo_inventory: Inventory) -> None:
    m = DnsmasqManager(tmp_path / "state", dnsmasq=str(tmp_path / "no-dnsmasq"))
    with pytest.raises(DnsmasqError, match="is not installed"):
        m.start(demo_inventory, "sophia", 4, interface="eth0")
    assert m.state("sophia", 4) == "off"


@pytest.fixture(scope="module")
def demo_inventory() -> Inventory:
    return inventory_mod.load(None)


# --- a real dnsmasq in a namespace, a real client in another --------------------------------

TESTBED = """
domain = "grid5000.fr"

[[site]]
name = "lab"
global_vlan = 10
default_subnet = "10.79.0.0/18"
global_subnet = "10.79.64.0/18"

[site.subnets]
"1" = "10.78.192.0/20"
"2" = "10.78.208.0/20"
"3" = "10.78.224.0/20"
"4" = "10.78.64.0/18"
"5" = "10.78.128.0/18"
"6" = "10.77.0.0/18"
"7" = "10.77.64.0/18"
"8" = "10.77.128.0/18"
"9" = "10.77.192.0/18"

[[site.switch]]
name = "sw1"
driver = "simulated"

[[site.cluster]]
name = "tiny"
{nodes}
"""

NODE = """
[[site.cluster.node]]
name = "tiny-{n}"
host = {host}
[[site.cluster.node.nic]]
mac = "{mac}"
switch = "sw1"
port = "{n}"
"""

MAC1 = "02:4b:ee:00:00:01"
MAC2 = "02:4b:ee:00:00:02"
VLAN = 4
SERVER_ADDRESS = "10.78.64.1/18"  # the VLAN's gateway, host 1

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc calls this with the event as $1 and the lease in the environment
case "$1" in
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    echo "$1 $ip $mask $router $hostname $domain $siaddr $boot_file" >> "{out}"
    ;;
esac
exit 0
"""


def _testbed(tmp_path: Path, nodes: list[tuple[int, int, str]]) -> Inventory:
    text = TESTBED.format(nodes="".join(NODE.format(n=n, host=h, mac=mac) for n, h, mac in nodes))
    path = tmp_path / f"testbed-{len(nodes)}.toml"
    path.write_text(text)
    return inventory_mod.load(path)


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


class Lab:
    """Two namespaces (server, client) joined by a veth pair; no route out of them."""

    def __init__(self) -> None:
        sfx = secrets.token_hex(3)
        self.server_ns, self.client_ns = f"kvd-s-{sfx}", f"kvd-c-{sfx}"
        self.server_if, self.client_if = f"kvds{sfx}", f"kvdc{sfx}"
        self.made: list[str] = []

    def up(self) -> None:
        for ns in (self.server_ns, self.client_ns):
            _sh("ip", "netns", "add", ns)
            self.made.append(ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh(
            "ip",
            "-n",
            self.server_ns,
            "link",
            "add",
            self.server_if,
            "type",
            "veth",
            "peer",
            "name",
            self.client_if,
            "netns",
            self.client_ns,
        )
        _sh("ip", "-n", self.server_ns, "addr", "add", SERVER_ADDRESS, "dev", self.server_if)
        _sh("ip", "-n", self.server_ns, "link", "set", self.server_if, "up")
        self.set_client_mac(MAC1)

    def set_client_mac(self, mac: str) -> None:
        _sh("ip", "-n", self.client_ns, "link", "set", self.client_if, "down")
        _sh("ip", "-n", self.client_ns, "addr", "flush", "dev", self.client_if)
        _sh("ip", "-n", self.client_ns, "link", "set", self.client_if, "address", mac)
        _sh("ip", "-n", self.client_ns, "link", "set", self.client_if, "up")

    def udhcpc(self, script: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.client_ns,
                "busybox",
                "udhcpc",
                "-i",
                self.client_if,
                "-n",
                "-q",
                "-T",
                "2",
                "-t",
                "3",
                "-s",
                str(script),
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )

    def client_addresses(self) -> str:
        return subprocess.run(
            ["ip", "-n", self.client_ns, "-4", "addr", "show", "dev", self.client_if],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

    def down(self) -> None:
        # deleting a namespace deletes the veth end inside it, and so the pair
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def _lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "dnsmasq", "busybox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture
def lab() -> Iterator[Lab]:
    missing = _lab_missing()
    if missing:
        pytest.skip(missing)
    lab = Lab()
    try:
        try:
            lab.up()
        except subprocess.CalledProcessError as exc:
            pytest.skip(
                f"cannot build network namespaces here: {exc.stderr.decode(errors='replace').strip()}"
            )
        yield lab
    finally:
        lab.down()


def _dnsmasq_pids_with(conf: Path) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and os.path.basename(argv[0].decode(errors="replace")) == "dnsmasq"
            and f"--conf-file={conf}".encode() in argv
        ):
            out.append(int(entry.name))
    return out


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid in /proc/{pid}/status")


@pytest.fixture(params=["private", "shared"])
def state_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """private: under pytest's 0700 tmp dir (dnsmasq stays root); shared: world-searchable (dnsmasq drops root)."""
    if request.param == "private":
        yield tmp_path / "state"
        return
    shared = Path(tempfile.mkdtemp(prefix="kavlan-dnsmasq-test-"))
    shared.chmod(0o755)
    try:
        yield shared / "state"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.slow
def test_dnsmasq_serves_the_nodes_fixed_address_end_to_end(lab: Lab, tmp_path: Path, state_dir: Path) -> None:
    one = _testbed(tmp_path, [(1, 11, MAC1)])
    two = _testbed(tmp_path, [(1, 11, MAC1), (2, 12, MAC2)])
    out = tmp_path / "udhcpc.out"
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT.format(out=out))
    script.chmod(0o755)
    m = DnsmasqManager(state_dir)
    conf = m.files("lab", VLAN).conf
    try:
        assert m.start(one, "lab", VLAN, interface=lab.server_if, netns=lab.server_ns) == "on"
        pid = m.pid("lab", VLAN)
        assert pid is not None
        # a second start is harmless: same process, no second one
        assert m.start(one, "lab", VLAN, interface=lab.server_if, netns=lab.server_ns) == "on"
        assert m.pid("lab", VLAN) == pid
        assert _dnsmasq_pids_with(conf) == [pid]
        # dnsmasq drops root only when its own user can re-read the hosts files on SIGHUP
        assert (_uid(pid) == 0) == (state_dir.parent == tmp_path)

        proc = lab.udhcpc(script)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        bound = out.read_text().split()
        # event, ip, mask, router, hostname, domain, next-server, boot file
        assert bound[:8] == [
            "bound",
            "10.78.64.11",
            "18",
            "10.78.64.1",
            "tiny-1-kavlan-4",
            "lab.grid5000.fr",
            "10.79.0.4",
            "pxelinux.0",
        ]
        assert "inet 10.78.64.11/18" in lab.client_addresses()
        assert _wait(lambda: any(le.ip == "10.78.64.11" for le in m.leases("lab", VLAN)), 3)
        (lease,) = m.leases("lab", VLAN)
        assert (lease.mac, lease.ip, lease.hostname) == (MAC1, "10.78.64.11", "tiny-1-kavlan-4")
        assert lease.expiry > time.time()

        # a node added to the testbed: reload (SIGHUP), no restart
        assert m.reload(two, "lab", VLAN) is True
        assert m.pid("lab", VLAN) == pid
        lab.set_client_mac(MAC2)
        out.unlink()
        proc = lab.udhcpc(script)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert out.read_text().split()[:5] == ["bound", "10.78.64.12", "18", "10.78.64.1", "tiny-2-kavlan-4"]
        assert _wait(lambda: {le.ip for le in m.leases("lab", VLAN)} == {"10.78.64.11", "10.78.64.12"}, 3)

        assert m.stop("lab", VLAN) == "off"
        assert m.state("lab", VLAN) == "off"
        assert _dnsmasq_pids_with(conf) == []
        assert m.reload(two, "lab", VLAN) is False

        # a dnsmasq that dies behind the manager's back shows as failed, not on
        assert m.start(two, "lab", VLAN, interface=lab.server_if, netns=lab.server_ns) == "on"
        pid = m.pid("lab", VLAN)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _wait(lambda: m.state("lab", VLAN) == "failed", 3)
        assert m.stop("lab", VLAN) == "off"

        # an interface the namespace lacks: dnsmasq's own reason
        with pytest.raises(DnsmasqError, match="unknown interface"):
            m.start(one, "lab", VLAN, interface="kvd-nosuch", netns=lab.server_ns)
        assert m.state("lab", VLAN) == "off"
    finally:
        try:
            m.stop("lab", VLAN)
        finally:
            for leftover in _dnsmasq_pids_with(conf):
                os.kill(leftover, signal.SIGKILL)
