"""A real net-snmp snmpd on 127.0.0.1 whose Q-BRIDGE-MIB is the lab's pass_persist agent, as pytest fixtures."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kavlan_core.lab import qbridge_agent as agent
from kavlan_core.model import Switch


def _find(program: str) -> str | None:
    # snmpd lives in /usr/sbin, which a non-root PATH often lacks
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/local/sbin:/sbin")


SNMPD = _find("snmpd")
SNMPGET = _find("snmpget")
NO_SNMPD = "net-snmp's snmpd is not installed (apt-get install snmpd snmp)"

RW_COMMUNITY = "kavlan-rw"
RO_COMMUNITY = "kavlan-ro"
V3_USER = "kavlan-admin"
V3_AUTH_KEY = "kavlan-auth-key"
V3_PRIV_KEY = "kavlan-priv-key"

BRIDGE_BASE = "1.3.6.1.2.1.17"
IF_NAME_BASE = "1.3.6.1.2.1.31.1.1.1.1"
DOT1D_BASE_NUM_PORTS = "1.3.6.1.2.1.17.1.2.0"

STARTUP_SECONDS = 10.0
STOP_SECONDS = 5.0


@dataclass
class Snmpd:
    """One running snmpd: where it listens, its agent's state file, and helpers to look at it from outside."""

    port: int
    workdir: Path
    state_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    ports: int
    log_path: Path
    agent_args: Sequence[str] = field(default_factory=tuple)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def credentials(self, kind: str = "rw") -> dict[str, Any]:
        """``rw``: v2c read + write communities; ``ro``: writes with the read-only community; ``v3``: authPriv user."""
        if kind == "rw":
            return {"version": "2c", "community": RO_COMMUNITY, "write_community": RW_COMMUNITY}
        if kind == "ro":
            return {"version": "2c", "community": RO_COMMUNITY, "write_community": RO_COMMUNITY}
        if kind == "v3":
            return {
                "version": "3",
                "user": V3_USER,
                "auth_key": V3_AUTH_KEY,
                "priv_key": V3_PRIV_KEY,
                "auth_protocol": "sha",
                "priv_protocol": "aes",
            }
        raise ValueError(kind)

    def switch(self, name: str = "sw1", **options: Any) -> Switch:
        """A Switch on this snmpd; small timeouts unless told otherwise, so failures show quickly."""
        opts: dict[str, Any] = {"timeout": 0.5, "retries": 0, **options}
        return Switch(name=name, site="lab", driver="snmp_qbridge", address=self.address, options=opts)

    def port_name(self, bridge_port: int) -> str:
        return str(self.state()["names"][str(bridge_port)])

    # --- the agent's state

    def state(self) -> dict[str, Any]:
        return agent.load_state(self.state_path)

    def access_vlans(self) -> dict[int, int | None]:
        return agent.access_vlans(self.state())

    def pvids(self) -> dict[int, int]:
        return {int(p): int(v) for p, v in self.state()["pvid"].items()}

    def reset(self) -> None:
        """Every port back in VLAN 1, no other VLAN."""
        with agent.locked(self.state_path):
            agent.save_state(self.state_path, agent.initial_state(self.ports))

    def edit(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return agent.edit_state(self.state_path)

    def assign(self, ports: Mapping[int, int]) -> None:
        """Make each bridge port an access port of the VLAN given (created if needed), straight in the state file."""
        with self.edit() as state:
            for port, vid in ports.items():
                set_access(state, port, vid)

    # --- the real net-snmp command line

    def snmpget(self, *oids: str, hex_strings: bool = False) -> list[str]:
        """The values as net-snmp's snmpget prints them (``-Oqv``), one per OID."""
        if SNMPGET is None:
            pytest.skip("net-snmp's snmpget is not installed (apt-get install snmp)")
        cmd = [SNMPGET, "-v2c", "-c", RO_COMMUNITY, "-r", "0", "-t", "2", "-On", "-Oqv"]
        if hex_strings:
            cmd.append("-Ox")
        out = subprocess.run(
            [*cmd, self.address, *oids], env=self.env, capture_output=True, text=True, timeout=10, check=True
        )
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]

    def log(self) -> str:
        return log_tail(self.log_path)

    def stop(self) -> None:
        """Stop this snmpd (by its pid); its pass_persist agents exit when their pipes close."""
        stop_process(self.process)


def log_tail(path: Path) -> str:
    """The end of a server's log, for failure messages."""
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server this test started, by its pid: terminate, then kill if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)


def set_access(state: dict[str, Any], port: int, vid: int) -> None:
    """In a state dict: ``port`` untagged in ``vid`` only, with that PVID; the VLAN is created if missing."""
    vlans = state["vlans"]
    if str(vid) not in vlans:
        vlans[str(vid)] = {
            "name": f"VLAN{vid:04d}",
            "egress": [],
            "forbidden": [],
            "untagged": [],
            "status": 1,
        }
    for other_vid, vlan in vlans.items():
        if other_vid != str(vid):
            for key in ("egress", "untagged"):
                if port in vlan[key]:
                    vlan[key].remove(port)
    for key in ("egress", "untagged"):
        if port not in vlans[str(vid)][key]:
            vlans[str(vid)][key] = sorted([*vlans[str(vid)][key], port])
    state["pvid"][str(port)] = vid


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _ber_oid(oid: str) -> bytes:
    parts = [int(x) for x in oid.strip(".").split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _ber(0x06, bytes(body))


def _get_packet(community: str, oid: str, request_id: int) -> bytes:
    varbind = _ber(0x30, _ber_oid(oid) + b"\x05\x00")
    pdu = _ber(
        0xA0, _ber(0x02, request_id.to_bytes(2, "big")) + b"\x02\x01\x00\x02\x01\x00" + _ber(0x30, varbind)
    )
    return _ber(0x30, b"\x02\x01\x01" + _ber(0x04, community.encode()) + pdu)


def _answers(port: int, deadline: float) -> bool:
    """Whether snmpd answers a v2c GET of dot1dBaseNumPorts.0 and of ifName.1 (raises if it answers without a
    value: no agent). snmpd starts each pass_persist agent at its first request: asking both here starts both,
    so that a test's first request (with its short timeout) does not wait for a Python process to start."""
    return all(_answers_get(port, oid, deadline) for oid in (DOT1D_BASE_NUM_PORTS, f"{IF_NAME_BASE}.1"))


def _answers_get(port: int, oid: str, deadline: float) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.25)
        s.connect(("127.0.0.1", port))
        for attempt in range(1, 1000):  # bounded by the count and by the deadline
            if time.monotonic() > deadline:
                return False
            try:
                s.send(_get_packet(RO_COMMUNITY, oid, attempt))
                reply = s.recv(2048)
            except (TimeoutError, ConnectionRefusedError):
                time.sleep(0.05)
                continue
            # noSuchObject / noSuchInstance / endOfMibView come back as an empty context tag at the very end
            if reply[-2:] in (b"\x80\x00", b"\x81\x00", b"\x82\x00"):
                raise RuntimeError(f"snmpd answers but not its Q-BRIDGE pass_persist agent (GET {oid})")
            return True
    return False


def _config(port: int, state: Path, ports: int, agent_args: Sequence[str]) -> str:
    python = sys.executable
    run_agent = f"{python} -m kavlan_core.lab.qbridge_agent --state {state} --ports {ports}"
    return "\n".join(
        [
            f"agentaddress udp:127.0.0.1:{port}",
            f"rocommunity {RO_COMMUNITY} 127.0.0.1",
            f"rwcommunity {RW_COMMUNITY} 127.0.0.1",
            # snmpd reads createUser from its -c file too (5.9.3, checked) and stores the user in SNMP_PERSISTENT_DIR
            f'createUser {V3_USER} SHA "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"',
            f"rwuser {V3_USER} priv",
            f"pass_persist .{BRIDGE_BASE} {run_agent} {' '.join(agent_args)}".rstrip(),
            f"pass_persist .{IF_NAME_BASE} {run_agent} --base-oid {IF_NAME_BASE}",
            "",
        ]
    )


@contextlib.contextmanager
def running_snmpd(workdir: Path, *, ports: int = 48, agent_args: Sequence[str] = ()) -> Iterator[Snmpd]:
    """Start snmpd on a free 127.0.0.1 UDP port with the Q-BRIDGE agent; wait until it answers; stop it after."""
    if SNMPD is None:
        pytest.skip(NO_SNMPD)
    # pass_persist splits its command line on blanks: no path may hold one
    for path in (workdir, Path(sys.executable)):
        if any(ch.isspace() for ch in str(path)):
            raise RuntimeError(f"snmpd's pass_persist cannot run a command from a path with blanks: {path}")
    workdir.mkdir(parents=True, exist_ok=True)
    persistent = workdir / "persist"
    persistent.mkdir(exist_ok=True)
    state = workdir / "switch.json"
    agent.ensure_state(state, ports)
    env = {
        **os.environ,
        "SNMP_PERSISTENT_DIR": str(persistent),  # engine ids and v3 users; the CLI tools need it too
        "SNMPCONFPATH": str(persistent),  # no host snmp.conf for the CLI tools
        "MIBS": "",  # no MIB files to parse: numeric OIDs everywhere, and a quiet log
    }
    last_log = ""
    for _attempt in range(3):  # the free port may be taken between the probe and snmpd's bind
        port = free_udp_port()
        conf = workdir / "snmpd.conf"
        conf.write_text(_config(port, state, ports, agent_args))
        log_path = workdir / "snmpd.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [SNMPD, "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf)],  # no SMUX: no TCP port 199
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        lab = Snmpd(port, workdir, state, process, env, ports, log_path, tuple(agent_args))
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if _answers(port, min(deadline, time.monotonic() + 1.0)):
                        break
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}; snmpd's log:\n{lab.log()}") from None
            else:
                last_log = lab.log()
                lab.stop()
                continue
            yield lab
            return
        finally:
            lab.stop()
    raise RuntimeError(f"snmpd did not start on 127.0.0.1 in three attempts; its log:\n{last_log}")


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """One snmpd (48-port switch) for a test module; reset its state with ``snmpd.reset()`` between tests."""
    if SNMPD is None:
        pytest.skip(NO_SNMPD)
    with running_snmpd(tmp_path_factory.mktemp("snmpd")) as lab:
        yield lab
