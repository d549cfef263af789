"""The tutorial end to end in a lab of its own (root): every step with the project's commands, every outcome checked."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_lab import (
    SITE,
    eventually,
    kavlan,
    lab_exec,
    needs_lab,
    pings,
    reserve,
    running_lab,
    ssh,
    tool,
)

from kavlan_core.lab.builder import Lab
from kavlan_core.model import LOCAL_IDS, ROUTED_IDS

HAS_DHCPD = shutil.which("dhcpd", path="/usr/sbin:/usr/bin:/sbin:/bin") is not None
pytestmark = [
    needs_lab,
    pytest.mark.skipif(
        shutil.which("atd", path="/usr/sbin:/usr/bin") is None,
        reason="the tutorial's safeguard needs at (apt-get install at)",
    ),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab of its own: the tutorial takes nodes the other lab tests use."""
    with running_lab(tmp_path_factory.mktemp("tutorial")) as the_lab:
        yield the_lab


def test_the_tutorial(lab: Lab) -> None:
    # --- part 1: a routed VLAN and three suno nodes -----------------------------------------------------
    job, nodes = reserve(lab, "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3")
    vid = int(kavlan(lab, "-V", "-j", str(job)))
    assert vid in ROUTED_IDS and len(nodes) == 3
    kavlan(lab, "-e", "-j", str(job))
    pidfile = lab.kavlan_data / "dhcp" / f"kavlan-{vid}-{SITE}" / "dnsmasq.pid"
    server = pidfile.read_text().strip()
    kavlan(lab, "-e", "-j", str(job))
    assert pidfile.read_text().strip() == server, "a second -e is harmless: the same server runs"
    assert dhcp_state(lab, vid) == "on"
    for node in nodes:
        assert pings(lab, node), f"{node} answers on its default name before the move"
    # the nodes are moved with the at safeguard (the tutorial deploys with --vlan, which reboots them)
    kavlan(lab, "-s", "-j", str(job), "--restart-via-at", "3")
    for node in nodes:
        assert not pings(lab, node), f"{node} no longer answers on its default name"
    listed = kavlan(lab, "-l", "-j", str(job)).split()
    assert listed == [f"{n}-kavlan-{vid}.{SITE}.grid5000.fr" for n in nodes]
    for name in listed:
        assert pings(lab, name.split(".")[0]) and pings(lab, name)
    # taktuk's part: one command on every node at once (the nodefile's duplicates folded), one line per node
    ran = kavlan(lab, "run", "-j", str(job), "--", "hostname").splitlines()
    assert ran == [f"{n}-kavlan-{vid}: {n}-kavlan-{vid}" for n in nodes]
    assert kavlan(lab, "ssh", nodes[0], "hostname").strip() == f"{nodes[0]}-kavlan-{vid}"

    # --- a DHCP server of one's own on the first node -----------------------------------------------------
    kavlan(lab, "-d", "-j", str(job))
    first, second = (f"{n}-kavlan-{vid}" for n in nodes[:2])
    out = lab_exec(
        lab,
        tool("kavlan-dhcp-config"),
        "--site",
        SITE,
        "--vlan-id",
        str(vid),
        "-o",
        "-",
        "--format",
        "isc" if HAS_DHCPD else "dnsmasq",
    )
    assert out.returncode == 0, out.stderr
    conf = out.stdout
    assert f"host {second}.{SITE}.grid5000.fr" in conf or f"{second}" in conf
    # copy it to the first node (the tutorial scp's it) and start the server there, logging, as the tutorial does
    here = f"/tmp/kavlan-tutorial-{lab.prefix.rstrip('-')}"
    copy = lab_exec(
        lab,
        "sh",
        "-c",
        f"mkdir -p {here} && cat > {here}/dhcpd.conf <<'EOF'\n{conf}\nEOF\n"
        f"scp -q {here}/dhcpd.conf root@{first}:{here}/dhcpd.conf",
    )
    assert copy.returncode == 0, copy.stderr
    if HAS_DHCPD:
        server = f"dhcpd -d -cf {here}/dhcpd.conf -lf {here}/leases -pf {here}/pid eth0"
    else:
        server = (
            f"dnsmasq --no-daemon --log-dhcp --conf-file={here}/dhcpd.conf --interface=eth0 --bind-interfaces "
            f"--dhcp-leasefile={here}/leases --pid-file={here}/pid"
        )
    ssh(lab, first, f"touch {here}/leases; setsid {server} > {here}/log 2>&1 < /dev/null & sleep 0.5; true")
    try:
        mac = ssh(lab, second, "cat /sys/class/net/eth0/address")
        address = ssh(lab, second, "ip -4 -o addr show dev eth0").split()[3].split("/")[0]
        # the second node restarts its network (in the background: its ssh session goes with its address)
        ssh(lab, second, "setsid /etc/init.d/networking restart > /dev/null 2>&1 < /dev/null & true")
        acked = f"DHCPACK on {address} to {mac}" if HAS_DHCPD else f"DHCPACK(eth0) {address} {mac}"
        eventually(
            f"{first}'s own DHCP server gave {second} its address",
            lambda: acked in ssh(lab, first, f"cat {here}/log"),
            seconds=20,
        )
        eventually(f"{second} answers after its restart", lambda: pings(lab, second))
    finally:
        ssh(lab, first, f"kill $(cat {here}/pid) 2>/dev/null; true")
        lab_exec(lab, "rm", "-rf", here)
    kavlan(lab, "-e", "-j", str(job))

    # --- part 2: a local VLAN in one job, two nodes in another, moved with the safeguard -------------------
    vjob, _ = reserve(lab, "{\"type='kavlan-local'\"}/vlan=1,walltime=2")
    local = int(kavlan(lab, "-V", "-j", str(vjob)))
    assert local in LOCAL_IDS
    njob, pair = reserve(lab, "{\"cluster='uvb'\"}/nodes=2")
    kavlan(lab, "-e", "-i", str(local), "-j", str(vjob))
    started = time.monotonic()
    kavlan(lab, "-s", "-i", str(local), "-j", str(njob), "--restart-via-at", "3")
    assert time.monotonic() - started < 60
    gateway = f"kavlan-{local}"
    for node in pair:
        name = f"{node}-kavlan-{local}"
        assert not pings(lab, name), "a local VLAN is not reachable directly from the frontend"
        assert pings(lab, name, via=gateway), "but it is from its gateway"
        assert ssh(lab, name, "hostname") == name, "ssh through the gateway (ProxyJump)"
    a, b = pair
    assert ssh(lab, f"{a}-kavlan-{local}", f"ping -c1 -W1 {b}-kavlan-{local} >/dev/null && echo ok") == "ok"

    # --- back to DEFAULT, with the safeguard; every node answers on its plain name -------------------------
    kavlan(lab, "-s", "-i", "DEFAULT", "-j", str(njob), "--restart-via-at", "3")
    kavlan(lab, "-s", "-i", "DEFAULT", "-j", str(job), "--restart-via-at", "3")
    for node in [*nodes, *pair]:
        assert pings(lab, node), f"{node} answers on its plain name again"
    # a crashed server shows as failed, not as on; the job's end stops its VLANs' servers
    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
    eventually("the killed server shows as failed", lambda: dhcp_state(lab, vid) == "failed", seconds=5)
    kavlan(lab, "-e", "-j", str(job))
    assert dhcp_state(lab, vid) == "on"
    for j in (job, vjob, njob):
        assert lab_exec(lab, tool("kavlan-oardel"), str(j)).returncode == 0
    assert dhcp_state(lab, vid) == "off" and dhcp_state(lab, local) == "off"
    assert not pidfile.exists() or not Path(f"/proc/{pidfile.read_text().strip()}").exists()


def dhcp_state(lab: Lab, vid: int) -> str:
    """The DHCP column of the REPL's VLAN list (kavlan-shell, scripted), for one VLAN."""
    out = lab_exec(lab, tool("kavlan-shell"), "-c", "vlans")
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        words = line.split()
        if words and words[0] == str(vid):
            return words[5]
    raise AssertionError(f"VLAN {vid} is not listed: {out.stdout}")
