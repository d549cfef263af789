"""SSH access against real asyncssh servers on 127.0.0.1: nodes, a local VLAN gateway, host keys, many nodes, a pty."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import termios
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

from kavlan_core.access.ssh import (
    AccessError,
    Gateway,
    RunResult,
    Target,
    connect,
    forward_resize,
    interactive,
    raw_terminal,
    route,
    run,
    run_many,
    terminal_size,
)
from kavlan_core.access.sshconfig import render_ssh_config
from kavlan_core.model import VlanKind

T = TypeVar("T")

SEED = Path(__file__).parent.parent.parent / "shared" / "seed" / "advanced-kavlan-tutorial.txt"
TUTORIAL_BLOCK = """\
Host *-*-kavlan-1 *-*-kavlan-1.*
    ProxyCommand ssh -a -x kavlan-1 nc -q 0 %h %p
Host *-*-kavlan-2 *-*-kavlan-2.*
    ProxyCommand ssh -a -x kavlan-2 nc -q 0 %h %p
Host *-*-kavlan-3 *-*-kavlan-3.*
    ProxyCommand ssh -a -x kavlan-3 nc -q 0 %h %p
"""
MAX_CHUNKS = 100_000
"""Reads one forwarded connection may make in the fake gateway: every loop here is bounded."""
MAX_SLEEP = 5.0


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Every test is bounded: a hang fails in 20 s instead of blocking the suite."""
    return asyncio.run(asyncio.wait_for(coro, 20))


# --- fakes: a node that runs a few shell words, a gateway that forwards only to its VLAN's nodes -------------


@dataclass
class Tally:
    """Sessions running on all fake nodes at once, and the most ever seen."""

    active: int = 0
    peak: int = 0

    def enter(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        self.active -= 1


class _Server(asyncssh.SSHServer):
    def __init__(self, host: FakeHost) -> None:
        self._host = host

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._host.connections += 1
        peer = conn.get_extra_info("peername")
        self._host.peers.append((peer[0], peer[1]))
        self._host.conns.append(conn)

    def begin_auth(self, username: str) -> bool:
        self._host.usernames.append(username)
        return True

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> Any:
        return self._host.forward(dest_host, dest_port)


@dataclass
class FakeHost:
    """A node (runs commands, a tiny shell on a pty) or a gateway (forwards to ``routes`` only)."""

    name: str
    tally: Tally
    authorized: asyncssh.SSHAuthorizedKeys
    routes: dict[str, int] = field(default_factory=dict)
    """Gateway: node name -> port on 127.0.0.1, as the gateway's DNS and VLAN would give."""
    key: asyncssh.SSHKey = field(default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519"))
    port: int = 0
    connections: int = 0
    sessions: int = 0
    commands: list[str] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    conns: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    forwards: int = 0
    forwards_active: int = 0
    forwards_peak: int = 0
    outgoing: set[tuple[str, int]] = field(default_factory=set)
    """Gateway: the local (address, port) of every connection it opened to a node."""
    acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self) -> FakeHost:
        self.acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            0,
            server_host_keys=[self.key],
            authorized_client_keys=self.authorized,
            process_factory=self.session,
            line_editor=False,
            keepalive_interval=0,
        )
        self.port = self.acceptor.get_port()
        return self

    async def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            await self.acceptor.wait_closed()
            self.acceptor = None
        for conn in self.conns:
            conn.close()
        self.conns.clear()

    def public(self) -> str:
        return self.key.export_public_key().decode().strip()

    # --- node ---

    async def session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        self.sessions += 1
        self.tally.enter()
        status: int | str = 0
        try:
            if process.command is None:
                status = await self._shell(process)
            else:
                self.commands.append(process.command)
                status = await self._command(process, process.command)
        finally:
            self.tally.leave()
        with contextlib.suppress(Exception):
            if isinstance(status, str):
                process.exit_with_signal(status)
            else:
                process.exit(status)

    async def _command(self, process: asyncssh.SSHServerProcess[str], command: str) -> int | str:
        """``;``-separated words: echo, hostname, sleep N, exit N, kill SIGNAL (the session dies of it)."""
        status = 0
        for part in command.split(";")[:20]:
            words = part.split()
            if not words:
                continue
            word, args = words[0], words[1:]
            if word == "echo":
                process.stdout.write(" ".join(args) + "\n")
            elif word == "hostname":
                process.stdout.write(self.name + "\n")
            elif word == "sleep":
                await asyncio.sleep(min(float(args[0]), MAX_SLEEP))
            elif word == "exit":
                return int(args[0])
            elif word == "kill":
                return args[0]
            else:
                process.stderr.write(f"sh: {word}: not found\n")
                status = 127
        return status

    async def _shell(self, process: asyncssh.SSHServerProcess[str]) -> int:
        """On a pty: greet with the terminal type and size, report resizes, echo lines, ``exit N`` ends."""
        cols, rows = process.get_terminal_size()[:2]
        process.stdout.write(f"term={process.get_terminal_type()} size={cols}x{rows}\r\n$ ")
        line = ""
        for _ in range(10_000):
            try:
                char = await process.stdin.read(1)
            except asyncssh.TerminalSizeChanged as exc:
                process.stdout.write(f"resized {exc.width}x{exc.height}\r\n")
                continue
            if not char:
                return 0
            if char not in "\r\n":
                line += char
                continue
            words = line.split()
            line = ""
            if words[:1] == ["exit"]:
                process.stdout.write("bye\r\n")
                return int(words[1]) if len(words) > 1 else 0
            process.stdout.write(f"you said {' '.join(words)}\r\n$ ")
        return 0

    # --- gateway ---

    def forward(self, dest_host: str, dest_port: int) -> Any:
        if dest_host not in self.routes or dest_port != 22:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, f"{dest_host} port {dest_port} is not in this VLAN"
            )
        return self._open_forward(dest_host, self.routes[dest_host])

    async def _open_forward(self, name: str, port: int) -> asyncssh.SSHTCPSession[bytes]:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, f"{name}: {exc.strerror}") from None
        local = writer.get_extra_info("sockname")
        self.outgoing.add((local[0], local[1]))
        self.forwards += 1
        return _Forward(self, reader, writer)


class _Forward(asyncssh.SSHTCPSession[bytes]):
    """One direct-tcpip channel on the gateway, pumped to and from the node's TCP connection."""

    def __init__(self, gateway: FakeHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._gateway = gateway
        self._reader = reader
        self._writer = writer
        self._chan: asyncssh.SSHTCPChannel[bytes] | None = None
        self._pump: asyncio.Task[None] | None = None

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._chan = chan
        self._gateway.forwards_active += 1
        self._gateway.forwards_peak = max(self._gateway.forwards_peak, self._gateway.forwards_active)
        self._pump = asyncio.ensure_future(self._back())

    async def _back(self) -> None:
        assert self._chan is not None
        with contextlib.suppress(Exception):
            for _ in range(MAX_CHUNKS):
                data = await self._reader.read(65536)
                if not data:
                    break
                self._chan.write(data)
        self._chan.close()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._writer.write(data)

    def eof_received(self) -> bool:
        with contextlib.suppress(OSError):
            self._writer.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._gateway.forwards_active -= 1
        self._writer.close()
        if self._pump is not None:
            self._pump.cancel()


@dataclass
class Lab:
    """Fake hosts, a client key they accept, a known_hosts file listing their keys."""

    dir: Path
    tally: Tally
    authorized: asyncssh.SSHAuthorizedKeys
    client_key: Path
    known_hosts: Path
    hosts: dict[str, FakeHost] = field(default_factory=dict)

    async def node(self, name: str, *, known: bool = True) -> FakeHost:
        """A node reached directly: 127.0.0.1 on its own port, recorded under its name (as HostKeyAlias)."""
        host = await self._add(name)
        if known:
            self.know(f"[{name}]:{host.port}", host.public())
        return host

    async def gateway(self, name: str, nodes: Sequence[str]) -> FakeHost:
        """A gateway and the nodes of its VLAN, reachable only through it (their names resolve only there)."""
        gw = await self._add(name)
        self.know(f"[{name}]:{gw.port}", gw.public())
        for node_name in nodes:
            node = await self._add(node_name)
            gw.routes[node_name] = node.port
            self.know(node_name, node.public())
        return gw

    def know(self, entry: str, public: str) -> None:
        with self.known_hosts.open("a") as f:
            f.write(f"{entry} {public}\n")

    def direct(self, name: str, **kw: Any) -> Target:
        return Target(name, self.hosts[name].port, address="127.0.0.1", **kw)

    def behind(self, gateway: str, name: str) -> Target:
        gw = self.hosts[gateway]
        return Target(name, 22, gateway=Gateway(gateway, gw.port, address="127.0.0.1"))

    @property
    def auth(self) -> dict[str, Any]:
        return {"known_hosts": self.known_hosts, "client_keys": [self.client_key], "connect_timeout": 5}

    async def _add(self, name: str) -> FakeHost:
        host = await FakeHost(name, self.tally, self.authorized).start()
        self.hosts[name] = host
        return host


@contextlib.asynccontextmanager
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    key.write_private_key(key_path)
    authorized = asyncssh.import_authorized_keys(key.export_public_key().decode())
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    the_lab = Lab(tmp_path, Tally(), authorized, key_path, known_hosts)
    try:
        yield the_lab
    finally:
        for host in the_lab.hosts.values():
            await host.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- routes and the OpenSSH config ----------------------------------------------------------------------------


def test_route_local_vlan_goes_through_its_gateway() -> None:
    t = route("suno-2-kavlan-2", VlanKind.LOCAL, 2)
    assert t == Target("suno-2-kavlan-2", 22, "root", Gateway("kavlan-2"))
    known = {2: Gateway("kavlan-2", 2202, "alice", "10.65.208.1")}
    assert route("suno-2-kavlan-2", VlanKind.LOCAL, 2, gateways=known).gateway == known[2]
    for kind, vid, name in (
        (VlanKind.ROUTED, 4, "suno-2-kavlan-4"),
        (VlanKind.GLOBAL, 18, "suno-2-kavlan-18"),
        (VlanKind.DEFAULT, 0, "suno-2"),
    ):
        assert route(name, kind, vid, gateways=known) == Target(name)
    with pytest.raises(ValueError):
        route("suno-2-kavlan-4", VlanKind.LOCAL, 4)


def test_ssh_config_proxycommand_is_the_tutorials_block() -> None:
    text = render_ssh_config([1, 2, 3], site_domain="sophia.grid5000.fr", style="proxycommand")
    assert text == TUTORIAL_BLOCK
    if SEED.exists():  # the seed's own text, where shared/ is beside the checkout (it has no-break spaces)
        assert TUTORIAL_BLOCK in SEED.read_text().replace("\u00a0", " ")


def test_ssh_config_proxyjump_and_known_gateways() -> None:
    gateways = {
        1: Gateway("kavlan-1", 2201, "alice", "10.65.192.1"),
        2: Gateway("kavlan-2"),
        3: Gateway("kavlan-3", username="bob"),
    }
    assert render_ssh_config(gateways, site_domain="sophia.grid5000.fr") == (
        "Host *-*-kavlan-1 *-*-kavlan-1.*\n"
        "    ProxyJump kavlan-1\n"
        "Host *-*-kavlan-2 *-*-kavlan-2.*\n"
        "    ProxyJump kavlan-2\n"
        "Host *-*-kavlan-3 *-*-kavlan-3.*\n"
        "    ProxyJump kavlan-3\n"
        "Host kavlan-1\n"
        "    HostName 10.65.192.1\n"
        "    HostKeyAlias kavlan-1\n"
        "    Port 2201\n"
        "    User alice\n"
        "Host kavlan-2\n"
        "    HostName kavlan-2.sophia.grid5000.fr\n"
        "Host kavlan-3\n"
        "    HostName kavlan-3.sophia.grid5000.fr\n"
        "    User bob\n"
    )
    assert (
        render_ssh_config({2: None}, style="proxyjump")
        == "Host *-*-kavlan-2 *-*-kavlan-2.*\n    ProxyJump kavlan-2\n"
    )
    with pytest.raises(ValueError, match="proxycommand"):
        render_ssh_config([1], style="netcat")


# --- one node ---------------------------------------------------------------------------------------------------


def test_run_on_one_node_directly(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            node = await lb.node("suno-1")
            r = await run(lb.direct("suno-1"), "echo hello world; hostname", **lb.auth)
            assert r == RunResult("suno-1", 0, "hello world\nsuno-1\n", "", r.seconds)
            assert r.ok and 0 < r.seconds < 5
            bad = await run(lb.direct("suno-1"), "exit 3", **lb.auth)
            assert (bad.exit_status, bad.error, bad.ok) == (3, None, False)
            missing = await run(lb.direct("suno-1"), "frobnicate", **lb.auth)
            assert (missing.exit_status, missing.stderr) == (127, "sh: frobnicate: not found\n")
            killed = await run(lb.direct("suno-1"), "echo dying; kill KILL", **lb.auth)
            assert (killed.exit_status, killed.stdout) == (None, "dying\n")
            assert killed.error == "the command on suno-1 was killed by signal KILL"
            assert node.usernames == ["root"] * 4
            async with connect(lb.direct("suno-1"), **lb.auth) as conn:
                done = await conn.run("hostname", check=True)
                assert done.stdout == "suno-1\n"

    run_async(main())


def test_run_through_the_gateway(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            gw = await lb.gateway("kavlan-2", ["suno-3-kavlan-2"])
            node = lb.hosts["suno-3-kavlan-2"]
            r = await run(lb.behind("kavlan-2", "suno-3-kavlan-2"), "hostname", **lb.auth)
            assert (r.exit_status, r.stdout, r.error) == (0, "suno-3-kavlan-2\n", None)
            # the node's one connection came from the gateway's forwarding, not from the client
            assert (gw.connections, gw.forwards, node.connections) == (1, 1, 1)
            assert node.peers[0] in gw.outgoing
            assert gw.sessions == 0 and node.sessions == 1

    run_async(main())


def test_gateway_refuses_a_host_outside_its_vlan(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            await lb.gateway("kavlan-2", ["suno-3-kavlan-2"])
            r = await run(lb.behind("kavlan-2", "suno-9-kavlan-4"), "hostname", **lb.auth)
            assert r.exit_status is None
            assert r.error is not None
            assert r.error.startswith(
                "the gateway kavlan-2 could not open a connection to suno-9-kavlan-4 port 22"
            )
            assert "is not in this VLAN" in r.error

    run_async(main())


# --- host keys ---------------------------------------------------------------------------------------------------


def test_unknown_host_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            node = await lb.node("suno-2-kavlan-4", known=False)
            target = lb.direct("suno-2-kavlan-4")
            with pytest.raises(AccessError) as caught:
                async with connect(target, **lb.auth):
                    pass
            kh = lb.known_hosts
            assert caught.value.host == "suno-2-kavlan-4"
            assert str(caught.value) == (
                f"host key of suno-2-kavlan-4 is not in {kh}: add it with "
                f"`ssh-keyscan -p {node.port} suno-2-kavlan-4 >> {kh}` after checking its fingerprint"
            )
            assert node.sessions == 0
            # no known_hosts file at all: the same refusal, saying so
            r = await run(target, "hostname", **{**lb.auth, "known_hosts": tmp_path / "nowhere"})
            assert (
                r.error is not None
                and f"is not in {tmp_path / 'nowhere'} ({tmp_path / 'nowhere'} does not exist yet)" in r.error
            )
            # behind a gateway, the scan has to run on the gateway
            await lb.gateway("kavlan-1", ["suno-5-kavlan-1"])
            text = kh.read_text()
            kh.write_text("".join(line + "\n" for line in text.splitlines() if not line.startswith("suno-5")))
            r = await run(lb.behind("kavlan-1", "suno-5-kavlan-1"), "hostname", **lb.auth)
            assert r.error == (
                f"host key of suno-5-kavlan-1 is not in {kh}: add it with "
                f"`ssh kavlan-1 ssh-keyscan suno-5-kavlan-1 >> {kh}` after checking its fingerprint"
            )
            assert lb.hosts["suno-5-kavlan-1"].sessions == 0

    run_async(main())


def test_changed_host_key_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            node = await lb.node("suno-2", known=False)
            impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
            lb.know(f"[suno-2]:{node.port}", impostor)
            r = await run(lb.direct("suno-2"), "hostname", **lb.auth)
            kh = lb.known_hosts
            assert r.exit_status is None and node.sessions == 0
            assert r.error == (
                f"host key of suno-2 does not match the one in {kh}: if suno-2 was reinstalled (kadeploy gives a "
                f"node a new key), remove the old key with `ssh-keygen -R '[suno-2]:{node.port}' -f {kh}` and add "
                f"the new one with `ssh-keyscan -p {node.port} suno-2 >> {kh}`; otherwise someone may be "
                f"intercepting the connection"
            )

    run_async(main())


def test_user_and_system_known_hosts_files(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            node = await lb.node("suno-3", known=False)
            mine, system = tmp_path / "mine", tmp_path / "system"
            system.write_text(f"[suno-3]:{node.port} {node.public()}\n")
            auth = {**lb.auth, "known_hosts": [mine, system]}
            assert (await run(lb.direct("suno-3"), "hostname", **auth)).stdout == "suno-3\n"
            other = await lb.node("suno-4", known=False)
            r = await run(lb.direct("suno-4"), "hostname", **auth)
            assert r.error == (
                f"host key of suno-4 is not in {mine} or {system} ({mine} does not exist yet): add it with "
                f"`ssh-keyscan -p {other.port} suno-4 >> {mine}` after checking its fingerprint"
            )
            system.write_text(f"[suno-4]:{other.port} {node.public()}\n")
            r = await run(lb.direct("suno-4"), "hostname", **auth)
            assert r.error is not None and r.error.startswith(
                f"host key of suno-4 does not match the one in {system}:"
            )

    run_async(main())


def test_refused_login_and_closed_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            await lb.node("suno-1")
            other = asyncssh.generate_private_key("ssh-ed25519")
            other_path = tmp_path / "other_key"
            other.write_private_key(other_path)
            r = await run(lb.direct("suno-1"), "hostname", **{**lb.auth, "client_keys": [other_path]})
            assert r.error is not None
            assert r.error.startswith("SSH login as root on suno-1 was refused")
            port = closed_port()
            r = await run(Target("suno-7", port, address="127.0.0.1"), "hostname", **lb.auth)
            assert r.error == (
                f"nothing accepts SSH connections on 127.0.0.1 port {port} (connection refused): "
                "is suno-7 up, with sshd running?"
            )

    run_async(main())


# --- many nodes -------------------------------------------------------------------------------------------------


def test_run_many_over_20_nodes_like_taktuk(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            names = [f"suno-{i}" for i in range(1, 21)]
            for name in names:
                await lb.node(name)
            dead = Target("suno-21", closed_port(), address="127.0.0.1")
            # an OAR nodefile: every node once per core, and one node that does not answer, in the middle
            nodefile = [lb.direct(n) for n in names[:10] for _ in range(2)]
            nodefile += [dead, dead] + [lb.direct(n) for n in names[10:] for _ in range(2)]
            results = await run_many(
                nodefile, "sleep 0.2; hostname", **lb.auth, concurrency=5, per_host_timeout=10
            )
            assert [r.host for r in results] == names[:10] + ["suno-21"] + names[10:]
            for r in results:
                if r.host == "suno-21":
                    assert r.exit_status is None and r.error is not None
                    assert "suno-21 up" in r.error and "connection refused" in r.error
                else:
                    assert (r.exit_status, r.stdout, r.error) == (0, f"{r.host}\n", None), r
            assert all(lb.hosts[n].sessions == 1 for n in names)  # duplicates ran once
            assert 2 <= lb.tally.peak <= 5  # concurrent, within the bound

    run_async(main())


def test_run_many_shares_one_gateway_connection(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            vlan2 = [f"suno-{i}-kavlan-2" for i in range(1, 13)]
            gw = await lb.gateway("kavlan-2", vlan2)
            await lb.node("suno-20-kavlan-4")
            targets = [lb.behind("kavlan-2", n) for n in vlan2] + [lb.direct("suno-20-kavlan-4")]
            targets += [lb.behind("kavlan-2", "suno-13-kavlan-2")]  # not in the VLAN: refused by the gateway
            targets += targets[:3]
            results = await run_many(
                targets, "sleep 0.2; hostname", **lb.auth, concurrency=32, channels_per_connection=3
            )
            assert [r.host for r in results] == [*vlan2, "suno-20-kavlan-4", "suno-13-kavlan-2"]
            assert all(r.ok and r.stdout == f"{r.host}\n" for r in results[:-1])
            assert (
                results[-1].error is not None
                and "could not open a connection to suno-13-kavlan-2" in results[-1].error
            )
            assert gw.connections == 1  # one gateway connection for all 13 tunnels
            assert gw.forwards == 12
            assert 2 <= gw.forwards_peak <= 3  # channels in flight on it, bounded
            assert all(lb.hosts[n].peers[0] in gw.outgoing for n in vlan2)

    run_async(main())


def test_run_many_unreachable_gateway_reports_every_node_behind_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            await lb.node("suno-1")
            gone = Gateway("kavlan-3", closed_port(), address="127.0.0.1")
            targets = [Target(f"suno-{i}-kavlan-3", gateway=gone) for i in (2, 3)] + [lb.direct("suno-1")]
            results = await run_many(targets, "hostname", **lb.auth)
            assert [r.host for r in results] == ["suno-2-kavlan-3", "suno-3-kavlan-3", "suno-1"]
            for r in results[:2]:
                assert r.error is not None and "is kavlan-3 up" in r.error
            assert results[2].ok

    run_async(main())


def test_run_many_per_host_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            await lb.node("suno-1")
            await lb.node("suno-2")
            t0 = time.monotonic()
            results = await run_many(
                [lb.direct("suno-1"), lb.direct("suno-2")],
                "echo started; sleep 4",
                **lb.auth,
                per_host_timeout=0.6,
            )
            assert time.monotonic() - t0 < 3
            for r in results:
                assert r.exit_status is None and r.stdout == "started\n"
                assert r.error == f"the command on {r.host} was still running after 0.6 s: stopped waiting"

    run_async(main())


# --- interactive ------------------------------------------------------------------------------------------------


class PtyReader:
    """What the remote side writes to the user's terminal, read from the pty master."""

    def __init__(self, master: int) -> None:
        self._master = master
        self.text = ""
        self._changed = asyncio.Event()
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        self.text += data.decode(errors="replace")
        self._changed.set()

    async def expect(self, text: str, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while text not in self.text:
                self._changed.clear()
                await self._changed.wait()

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._master)


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def fds_on(path: str) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                count += 1
    return count


def test_interactive_session_on_a_pty(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            await lb.gateway("kavlan-1", ["suno-4-kavlan-1"])
            master, slave = os.openpty()
            tty_path = os.ttyname(slave)
            set_size(slave, 80, 24)
            saved = termios.tcgetattr(slave)
            fds_before = fds_on(tty_path)

            def sentinel(signum: int, frame: object) -> None:
                pass

            previous = signal.signal(signal.SIGWINCH, sentinel)
            reader = PtyReader(master)
            try:
                session = asyncio.ensure_future(
                    interactive(
                        lb.behind("kavlan-1", "suno-4-kavlan-1"),
                        **lb.auth,
                        stdin_fd=slave,
                        stdout_fd=slave,
                        term_type="xterm-kavlan",
                    )
                )
                await reader.expect("term=xterm-kavlan size=80x24\r\n$ ")
                assert termios.tcgetattr(slave) != saved  # raw while the session runs
                set_size(slave, 132, 43)
                os.kill(os.getpid(), signal.SIGWINCH)
                await reader.expect("resized 132x43\r\n")
                os.write(master, b"hello there\r")
                await reader.expect("you said hello there\r\n$ ")
                os.write(master, b"exit 3\r")
                await reader.expect("bye\r\n")
                assert await asyncio.wait_for(session, 5) == 3
                assert termios.tcgetattr(slave) == saved  # the terminal is back as it was
                assert os.get_blocking(slave)
                assert signal.getsignal(signal.SIGWINCH) is sentinel
                assert fds_on(tty_path) == fds_before  # the dups given to the session are closed
            finally:
                reader.close()
                signal.signal(signal.SIGWINCH, previous)
                os.close(master)
                os.close(slave)

    run_async(main())


def test_interactive_restores_the_terminal_when_the_node_is_unreachable(tmp_path: Path) -> None:
    async def main() -> None:
        async with lab(tmp_path) as lb:
            master, slave = os.openpty()
            saved = termios.tcgetattr(slave)
            try:
                with pytest.raises(AccessError, match="connection refused"):
                    await interactive(
                        Target("suno-8", closed_port(), address="127.0.0.1"),
                        **lb.auth,
                        stdin_fd=slave,
                        stdout_fd=slave,
                    )
                assert termios.tcgetattr(slave) == saved
            finally:
                os.close(master)
                os.close(slave)

    run_async(main())


def test_terminal_pieces_restore_on_error() -> None:
    master, slave = os.openpty()
    try:
        set_size(slave, 100, 30)
        assert terminal_size(slave) == (100, 30)
        saved = termios.tcgetattr(slave)
        with pytest.raises(RuntimeError), raw_terminal(slave):
            assert termios.tcgetattr(slave)[3] & termios.ECHO == 0
            raise RuntimeError("the session failed")
        assert termios.tcgetattr(slave) == saved
    finally:
        os.close(master)
        os.close(slave)
    r, w = os.pipe()
    try:
        assert terminal_size(r) == (80, 24)
        with raw_terminal(r):  # not a terminal: nothing to do
            pass
    finally:
        os.close(r)
        os.close(w)


def test_forward_resize_calls_back_and_restores_the_handler() -> None:
    async def main() -> list[tuple[int, int]]:
        master, slave = os.openpty()
        seen: list[tuple[int, int]] = []
        got = asyncio.Event()

        def resize(cols: int, rows: int) -> None:
            seen.append((cols, rows))
            got.set()

        before = signal.getsignal(signal.SIGWINCH)
        try:
            set_size(slave, 90, 33)
            with forward_resize(resize, slave):
                os.kill(os.getpid(), signal.SIGWINCH)
                await asyncio.wait_for(got.wait(), 5)
            assert signal.getsignal(signal.SIGWINCH) == before
        finally:
            os.close(master)
            os.close(slave)
        return seen

    assert run_async(main()) == [(90, 33)]
