"""Small asyncssh servers on loopback that speak Cisco IOS, Junos and Dell OS10 CLIs well enough for the ssh_cli driver
(and for netmiko), with a network round trip, a control plane's time per line and an input buffer of their own.

Run alone (``python tests/fakes/cli_switch.py --ports 48``) it serves one switch from its own process, for the
benchmark: it prints one JSON line (port, known_hosts, username, password), then obeys lines on its stdin (``state``,
``set round_trip 0.005``, ``quit``) until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncssh

from kavlan_core.model import Switch

MAX_COMMANDS = 10_000
"""Commands one session may send before the fake hangs up: every loop here is bounded."""
MAX_RELAYED = 1 << 30
"""Bytes one connection may carry through the wire before the fake hangs up."""

_LONG_NAMES = {
    "gigabitethernet": "Gi",
    "tengigabitethernet": "Te",
    "fastethernet": "Fa",
    "fortygigabitethernet": "Fo",
    "hundredgige": "Hu",
    "ethernet": "Eth",
}


def short_name(port: str) -> str:
    """How a switch prints a port in tables: GigabitEthernet1/0/1 -> Gi1/0/1."""
    m = re.fullmatch(r"([A-Za-z]+)(.*)", port)
    if m and m[1].lower() in _LONG_NAMES:
        return _LONG_NAMES[m[1].lower()] + m[2]
    return port


class FakeCliSwitch:
    """One switch: ``ports`` (port -> access VLAN tag) is its state, for the test to read and alter.

    Timing, settable at any time: ``round_trip`` (seconds the network adds to every exchange, half each way, on
    every byte of the connection: TCP and SSH handshakes included), ``line_time`` (seconds its control plane spends
    on each line it reads, before answering). ``input_buffer`` (characters, None: unbounded): what it holds of lines
    typed ahead and not read yet; what arrives beyond is dropped, as some switches do (counted in ``dropped``).
    The CLI echoes each line when it reads it, as switch CLIs with their own line editor do.

    Fault injection: ``locked_commits`` (Junos: the next K commits find the database locked),
    ``stall_on`` (stop answering at the first command starting with this text), ``refuse_vlans``
    (VLAN tags the switch will not put a port in), ``misread`` (line typed -> line the CLI reads instead, once: what
    lost type-ahead does when the tail of one line meets the rest of another), ``echoes`` (False: the CLI does not
    echo what it reads).
    Counters: ``connections``, ``sessions``, ``commands`` (every command line read, in order; comments apart, in
    ``comments``), ``commits``, ``saves``, ``dropped``, ``waits`` (how often the CLI found no line to read and waited
    for the client: a round trip each, at least).
    """

    def __init__(
        self,
        dialect: str,
        ports: Mapping[str, int | None],
        *,
        hostname: str = "sw1",
        username: str = "admin",
        password: str = "secret",
        vlans: Mapping[int, str] | None = None,
        trunks: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        if dialect not in _CLIS:
            raise ValueError(f"no fake for dialect {dialect!r}")
        self.dialect = dialect
        self.hostname = hostname
        self.username = username
        self.password = password
        self.ports: dict[str, int | None] = dict(ports)
        self.trunks: dict[str, tuple[int, ...]] = dict(trunks or {})
        for port in self.trunks:
            self.ports.setdefault(port, None)
        self.vlans: dict[int, str] = {1: "default"}
        self.vlans.update(
            vlans if vlans is not None else {t: f"VLAN{t:04d}" for t in self.ports.values() if t}
        )
        self.refuse_vlans: set[int] = set()
        self.locked_commits = 0
        self.stall_on: str | None = None
        self.misread: dict[str, str] = {}
        self.echoes = True
        self.round_trip = 0.0
        self.line_time = 0.0
        self.input_buffer: int | None = None
        self.members_by_name = False
        """Junos: print "vlan members NAME" rather than the tag, as many configurations do."""
        self.candidate: list[tuple[str, ...]] = []
        """Junos: the shared candidate configuration, uncommitted."""
        self.cabled: dict[str, str] = {}
        """Monitoring: port -> the MAC of the host behind it, learned in the port's VLAN while its link is up."""
        self.learned: list[tuple[str, int, str]] = []
        """More of the MAC table: (MAC, VLAN tag, port), e.g. a leak made on purpose."""
        self.down: set[str] = set()
        """Ports whose link is down."""
        self.octets: dict[str, tuple[int, int]] = {}
        """Port -> (octets in, octets out); 0 for the others."""
        self.in_errors: dict[str, int] = {}
        self.connections = 0
        self.sessions = 0
        self.commands: list[str] = []
        self.comments: list[str] = []
        self.commits = 0
        self.saves = 0
        self.dropped = 0
        self.waits = 0
        self.port = 0
        self._busy_until = 0.0
        self._dir = Path(tempfile.mkdtemp(prefix="kavlan-fake-switch-"))
        self.known_hosts = self._dir / "known_hosts"
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_keys: list[bytes] = []
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._wire: _Wire | None = None
        self._conns: list[asyncssh.SSHServerConnection] = []
        self._stopped = asyncio.Event()

    # --- for tests ---

    def mac_table(self) -> list[tuple[str, int, str]]:
        """What the switch learned: (MAC, VLAN tag, port), the hosts behind its ports first."""
        rows = [
            (mac, self.ports.get(port) or 1, port)
            for port, mac in self.cabled.items()
            if port not in self.down and port not in self.trunks
        ]
        return rows + list(self.learned)

    def link(self, port: str) -> tuple[bool, int, int, int]:
        """A port's link, octets in and out, input errors."""
        octets_in, octets_out = self.octets.get(port, (0, 0))
        return port not in self.down, octets_in, octets_out, self.in_errors.get(port, 0)

    def switch(self, name: str = "sw1", **options: Any) -> Switch:
        """The inventory's view of this switch, host keys checked against this fake's own known_hosts."""
        opts: dict[str, Any] = {"dialect": self.dialect, "known_hosts": str(self.known_hosts)}
        opts.update(options)
        return Switch(
            name=name, site="test", driver="ssh_cli", address=f"127.0.0.1:{self.port}", options=opts
        )

    @property
    def credentials(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}

    def client_key(self) -> str:
        """A new client key this switch accepts; returns the private key's path."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        path = self._dir / f"client_key_{len(self._client_keys)}"
        key.write_private_key(path)
        self._client_keys.append(key.public_data)
        return str(path)

    def drop_connections(self) -> None:
        """Hang up on every client, as a switch does on its idle timeout or a reload."""
        for conn in self._conns:
            conn.close()
        self._conns.clear()

    # --- server ---

    async def start(self) -> FakeCliSwitch:
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            0,
            server_host_keys=[self._host_key],
            process_factory=self._session,
            keepalive_interval=0,
            line_editor=False,  # the CLI echoes what it reads, when it reads it
        )
        self._wire = _Wire(self, self._acceptor.get_port())
        self.port = await self._wire.start()
        public = self._host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public}\n")
        return self

    async def stop(self) -> None:
        self._stopped.set()
        try:
            if self._wire is not None:
                await self._wire.stop()
                self._wire = None
            if self._acceptor is not None:
                self._acceptor.close()
                await self._acceptor.wait_closed()
                self._acceptor = None
            conns, self._conns = self._conns, []
            for conn in conns:
                conn.close()
            for conn in conns:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1):
                        await conn.wait_closed()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[FakeCliSwitch]:
        """Serve from an event loop of its own, for callers that run (and end) event loops of their own."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-cli-switch", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    async def __aenter__(self) -> FakeCliSwitch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        self.sessions += 1
        cli = _CLIS[self.dialect](self, process.get_extra_info("username") or self.username)
        tty = _Tty(self, process)
        try:
            if process.command is not None:
                process.stdout.write("% exec of commands is not supported here: open a shell\n")
                process.exit(1)
                return
            process.stdout.write(cli.banner() + cli.prompt())
            for _ in range(MAX_COMMANDS):
                waits = self.waits
                line = await tty.next_line()
                if line is None or not await self._read_line(cli, process, line, self.waits != waits):
                    break
            process.exit(0)
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            pass
        finally:
            tty.close()

    async def _read_line(
        self, cli: _Cli, process: asyncssh.SSHServerProcess[str], line: str, waited: bool = True
    ) -> bool:
        """Echo a line, spend the control plane's time on it, answer it; False when the session ends. ``waited``:
        the CLI waited for this line (else it was in the buffer, typed ahead)."""

        def say(text: str) -> None:
            process.stdout.write(text.replace("\n", "\r\n"))

        line = self.misread.pop(line, line)
        command = line.strip()
        if line == "\x04":
            say(cli.end_of_input() + "\n" + cli.prompt())
            return True
        if not command:
            say("\n" + cli.prompt())
            return True
        if cli.comment and command.startswith(cli.comment):
            self.comments.append(command)
            say(line + "\n" + cli.prompt())
            return True
        self.commands.append(command)
        if self.stall_on is not None and command.startswith(self.stall_on):
            await self._stall(process)
            return False
        say(line + "\n" if self.echoes else "\n")
        if self.line_time:
            await self._control_plane(waited)
        answer, done = cli.handle(command)
        if done:
            return False
        say(answer + ("\n" if answer else "") + cli.prompt())
        return True

    async def _control_plane(self, waited: bool) -> None:
        """``line_time`` of work on the line just read. A line that was waiting in the buffer starts when the one
        before it ended on the control plane's own clock, not when a timer (a millisecond's granularity, late by up
        to as much) woke the fake: late timers must not add up over a batch typed ahead."""
        loop = asyncio.get_running_loop()
        start = loop.time() if waited else self._busy_until
        self._busy_until = start + self.line_time
        delay = self._busy_until - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._busy_until = loop.time()  # behind: the fake's own work is the limit now

    async def _stall(self, process: asyncssh.SSHServerProcess[str]) -> None:
        """The switch goes silent; bounded by the test's end (stop) or by the client leaving."""
        stop = asyncio.ensure_future(self._stopped.wait())
        gone = asyncio.ensure_future(process.wait_closed())
        _, pending = await asyncio.wait({stop, gone}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


class _Tty:
    """A session's input: read off the channel as it arrives, held up to the switch's ``input_buffer`` (the rest is
    dropped), handed to the CLI a line at a time (^D is a line of its own)."""

    def __init__(self, sw: FakeCliSwitch, process: asyncssh.SSHServerProcess[str]) -> None:
        self.sw = sw
        self.process = process
        self.held = ""
        self.eof = False
        self.arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        for _ in range(MAX_RELAYED // 4096):
            try:
                chunk = await self.process.stdin.read(4096)
            except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
                continue
            except (asyncssh.Error, ConnectionError):
                chunk = ""
            if not chunk:
                break
            self.held += self._keep(chunk.replace("\r", ""))
            self.arrived.set()
        self.eof = True
        self.arrived.set()

    def _keep(self, chunk: str) -> str:
        """What of ``chunk`` the switch keeps: the line its editor is on takes every character up to its end; the
        lines after it wait in the input buffer, and what does not fit there is dropped."""
        if self.sw.input_buffer is None:
            return chunk
        kept = ""
        if _line_end(self.held) < 0:  # the line being edited: its end is taken whatever the buffer holds
            end = _line_end(chunk)
            if end < 0:
                return chunk
            kept, chunk = chunk[: end + 1], chunk[end + 1 :]
        waiting = self.held + kept
        used = len(waiting) - (_line_end(waiting) + 1)
        room = max(0, self.sw.input_buffer - used)
        self.sw.dropped += max(0, len(chunk) - room)
        return kept + chunk[:room]

    async def next_line(self) -> str | None:
        """The next line (without its newline), "\x04" for ^D, None when the client is gone."""
        for _ in range(MAX_RELAYED):  # each pass takes a line or waits for more input
            if self.held.startswith("\x04"):
                self.held = self.held[1:]
                return "\x04"
            ends = [i for i in (self.held.find("\n"), self.held.find("\x04")) if i >= 0]
            if ends:
                end = min(ends)
                line = self.held[:end]
                # a newline goes with its line; ^D stays, to be a line of its own next
                self.held = self.held[end + 1 :] if self.held[end] == "\n" else self.held[end:]
                return line
            if self.eof:
                return None
            self.sw.waits += 1
            self.arrived.clear()
            await self.arrived.wait()
        return None

    def close(self) -> None:
        self.reader.cancel()


def _line_end(text: str) -> int:
    """Where the first line of ``text`` ends (its newline or a ^D), -1 when it does not."""
    ends = [i for i in (text.find("\n"), text.find("\x04")) if i >= 0]
    return min(ends) if ends else -1


class _Wire:
    """The network between client and switch: a TCP relay on 127.0.0.1 that delays every byte by half the switch's
    ``round_trip`` each way, in order."""

    def __init__(self, sw: FakeCliSwitch, inner_port: int) -> None:
        self.sw = sw
        self.inner_port = inner_port
        self.server: asyncio.Server | None = None
        self.relays: set[asyncio.Task[None]] = set()
        self.pumps: set[asyncio.Future[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for pump in list(self.pumps):
            pump.cancel()  # each relay then closes its two ends and returns
        if self.relays:
            await asyncio.wait(self.relays, timeout=2)
        if self.server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.server.wait_closed()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.relays.add(task)
        try:
            switch_in, switch_out = await asyncio.open_connection("127.0.0.1", self.inner_port)
        except OSError:
            client_out.close()
            self.relays.discard(task)
            return
        pumps = [
            asyncio.ensure_future(self._pump(client_in, switch_out)),
            asyncio.ensure_future(self._pump(switch_in, client_out)),
        ]
        self.pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
                self.pumps.discard(pump)
            for writer in (client_out, switch_out):
                writer.close()
            self.relays.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Bytes from ``reader`` to ``writer``, each chunk held half a round trip from when it arrived."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        deliver = asyncio.ensure_future(self._deliver(queue, writer))
        try:
            relayed = 0
            while relayed < MAX_RELAYED:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self.sw.round_trip / 2, data))
                if not data:
                    break
                relayed += len(data)
            await deliver
        finally:
            deliver.cancel()

    @staticmethod
    async def _deliver(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:  # bounded by the reader's end: it queues an empty chunk last
            due, data = await queue.get()
            if not data:
                return
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            writer.write(data)
            await writer.drain()


class _Server(asyncssh.SSHServer):
    def __init__(self, fake: FakeCliSwitch) -> None:
        self.fake = fake

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.fake.connections += 1
        self.fake._conns.append(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._conns[:] = [c for c in self.fake._conns if not c.is_closed()]

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.fake.username and password == self.fake.password

    def public_key_auth_supported(self) -> bool:
        return bool(self.fake._client_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self.fake.username and key.public_data in self.fake._client_keys


class _Cli:
    """One session's CLI: its mode and what it answers."""

    def __init__(self, sw: FakeCliSwitch, user: str) -> None:
        self.sw = sw
        self.user = user
        self.mode = "exec"
        self.port: str | None = None
        self.vlan: int | None = None

    def banner(self) -> str:
        return ""

    def prompt(self) -> str:
        raise NotImplementedError

    comment: str | None = None
    """What starts a comment line: read, echoed, ignored in every mode."""

    def handle(self, command: str) -> tuple[str, bool]:
        """The answer, and whether the session ends."""
        raise NotImplementedError

    def end_of_input(self) -> str:
        """The answer to ^D at the start of a line (nothing, outside a terminal load)."""
        return ""

    def find_port(self, name: str) -> str | None:
        if name in self.sw.ports:
            return name
        for port in self.sw.ports:
            if short_name(port).lower() == short_name(name).lower():
                return port
        return None


class _CiscoCli(_Cli):
    INVALID = "% Invalid input detected at '^' marker."
    comment = "!"

    def banner(self) -> str:
        return "\nUser Access Verification\n\n"

    def prompt(self) -> str:
        sub = {"exec": "", "config": "(config)", "if": "(config-if)", "vlan": "(config-vlan)"}[self.mode]
        return f"{self.sw.hostname}{sub}#"

    def invalid(self, command: str, at: int = 0) -> str:
        return " " * (len(self.prompt()) + at) + "^\n" + self.INVALID

    def show_port(self, port: str) -> str:
        tag = self.sw.ports.get(port)
        trunk = port in self.sw.trunks
        mode = "trunk" if trunk else "static access"
        access = tag if tag is not None else 1
        return "\n".join(
            [
                f"Name: {short_name(port)}",
                "Switchport: Enabled",
                f"Administrative Mode: {mode}",
                f"Operational Mode: {mode}",
                "Administrative Trunking Encapsulation: dot1q",
                "Negotiation of Trunking: Off",
                f"Access Mode VLAN: {access} ({self.sw.vlans.get(access, f'VLAN{access:04d}')})",
                "Trunking Native Mode VLAN: 1 (default)",
                f"Trunking VLANs Enabled: {','.join(map(str, self.sw.trunks.get(port, ()))) or 'ALL'}",
                "",
            ]
        )

    def mac_rows(self) -> str:
        rows = [
            "          Mac Address Table",
            "-------------------------------------------",
            "",
            "Vlan    Mac Address       Type        Ports",
            "----    -----------       --------    -----",
        ]
        table = self.sw.mac_table()
        for mac, tag, port in table:
            digits = mac.replace(":", "")
            dotted = f"{digits[0:4]}.{digits[4:8]}.{digits[8:12]}"
            rows.append(f"{tag:>4}    {dotted}    DYNAMIC     {short_name(port)}")
        rows.append(f"Total Mac Addresses for this criterion: {len(table)}")
        return "\n".join(rows)

    def show_counters(self, port: str) -> str:
        up, octets_in, octets_out, errors = self.sw.link(port)
        state = "up, line protocol is up (connected)" if up else "down, line protocol is down (notconnect)"
        return "\n".join(
            [
                f"{port} is {state}",
                "  Hardware is Gigabit Ethernet, address is 0025.9066.0001 (bia 0025.9066.0001)",
                "  MTU 1500 bytes, BW 1000000 Kbit/sec, DLY 10 usec,",
                "  Full-duplex, 1000Mb/s, media type is 10/100/1000BaseTX",
                "  5 minute input rate 0 bits/sec, 0 packets/sec",
                f"     {octets_in // 1000} packets input, {octets_in} bytes, 0 no buffer",
                f"     {errors} input errors, 0 CRC, 0 frame, 0 overrun, 0 ignored",
                f"     {octets_out // 1000} packets output, {octets_out} bytes, 0 underruns",
                "     0 output errors, 0 collisions, 1 interface resets",
            ]
        )

    def vlan_rows(self, tags: list[int]) -> str:
        rows = [
            "VLAN Name                             Status    Ports",
            "---- -------------------------------- --------- -------------------------------",
        ]
        for tag in tags:
            members = ", ".join(short_name(p) for p, t in self.sw.ports.items() if t == tag)
            rows.append(f"{tag:<4} {self.sw.vlans[tag]:<32} active    {members}")
        return "\n".join(rows)

    def handle(self, command: str) -> tuple[str, bool]:
        sw = self.sw
        words = command.split()
        if self.mode == "exec":
            if re.fullmatch(r"terminal (?:length|width) \d+", command):
                return "", False
            if command in ("exit", "logout", "quit"):
                return "", True
            if command == "show interfaces switchport":
                return "\n".join(self.show_port(p) for p in sw.ports), False
            if m := re.fullmatch(r"show interfaces (\S+) switchport", command):
                port = self.find_port(m[1])
                return (self.show_port(port), False) if port else (self.invalid(command, 16), False)
            if command in ("show mac address-table", "show mac address-table dynamic"):
                return self.mac_rows(), False
            if m := re.fullmatch(r"show interfaces (\S+)", command):
                port = self.find_port(m[1])
                return (self.show_counters(port), False) if port else (self.invalid(command, 16), False)
            if m := re.fullmatch(r"show vlan id (\d+)", command):
                tag = int(m[1])
                if tag not in sw.vlans:
                    return f"VLAN id {tag} not found in current VLAN database", False
                return self.vlan_rows([tag]), False
            if command in ("show vlan", "show vlan brief"):
                return self.vlan_rows(sorted(sw.vlans)), False
            if command in ("configure terminal", "conf t"):
                self.mode = "config"
                return "Enter configuration commands, one per line.  End with CNTL/Z.", False
            if command in ("write memory", "copy running-config startup-config"):
                sw.saves += 1
                return "Building configuration...\n[OK]", False
            return self.invalid(command), False
        if command == "end":
            self.mode = "exec"
            return "", False
        if command == "exit":
            self.mode = "config" if self.mode in ("if", "vlan") else "exec"
            return "", False
        if words and words[0] == "interface":
            if len(words) != 2:
                return "% Incomplete command.", False
            port = self.find_port(words[1])
            if port is None:
                return self.invalid(command, 10), False
            self.mode, self.port = "if", port
            return "", False
        if words and words[0] == "vlan":
            if len(words) != 2 or not words[1].isdigit():
                return "% Incomplete command." if len(words) == 1 else self.invalid(command, 5), False
            tag = int(words[1])
            if tag in sw.refuse_vlans:
                return f"Command rejected: Bad VLAN list - VLAN {tag} is reserved", False
            sw.vlans.setdefault(tag, f"VLAN{tag:04d}")
            self.mode, self.vlan = "vlan", tag
            return "", False
        if self.mode == "vlan" and words and words[0] == "name":
            if len(words) != 2:
                return "% Incomplete command.", False
            assert self.vlan is not None
            sw.vlans[self.vlan] = words[1]
            return "", False
        if self.mode == "if" and command.startswith("switchport"):
            assert self.port is not None
            if command == "switchport mode access":
                sw.trunks.pop(self.port, None)
                return "", False
            if command == "switchport access vlan":
                return "% Incomplete command.", False
            if m := re.fullmatch(r"switchport access vlan (\d+)", command):
                tag = int(m[1])
                if tag in sw.refuse_vlans or not 1 <= tag <= 4094:
                    return f"Command rejected: Bad VLAN list - VLAN {tag} is reserved", False
                note = ""
                if tag not in sw.vlans:
                    sw.vlans[tag] = f"VLAN{tag:04d}"
                    note = f"% Access VLAN does not exist. Creating vlan {tag}"
                sw.ports[self.port] = tag
                return note, False
        return self.invalid(command), False


class _JunosCli(_Cli):
    LOCK_HOLDER = "netops terminal pts/1 (pid 4242) on since 2024-05-01 10:00:00 UTC, idle 00:00:07"

    def banner(self) -> str:
        return "--- JUNOS 21.4R3.15 Kernel 64-bit  JNPR-12.1-20220728.ebc3a7a_buil\n"

    def __init__(self, sw: FakeCliSwitch, user: str) -> None:
        super().__init__(sw, user)
        self.loaded = 0
        self.load_errors: list[str] = []

    def prompt(self) -> str:
        if self.mode == "load":
            return ""  # reading the terminal: no prompt until ^D
        return f"{self.user}@{self.sw.hostname}{'#' if self.mode == 'config' else '>'} "

    def answer(self, text: str) -> tuple[str, bool]:
        if self.mode == "config":
            text = f"{text}\n\n[edit]" if text else "\n[edit]"
        return text, False

    def member(self, tag: int) -> str:
        if self.sw.members_by_name and tag in self.sw.vlans:
            return self.sw.vlans[tag]
        return str(tag)

    def config_lines(self, port: str) -> list[str]:
        base = f"set interfaces {port} unit 0 family ethernet-switching"
        if port in self.sw.trunks:
            return [
                f"{base} interface-mode trunk",
                *(f"{base} vlan members {self.member(t)}" for t in self.sw.trunks[port]),
            ]
        tag = self.sw.ports.get(port)
        return [f"{base} vlan members {self.member(tag)}"] if tag is not None else []

    def mac_rows(self) -> str:
        table = self.sw.mac_table()
        rows = [
            "",
            "MAC flags (S - static MAC, D - dynamic MAC, L - locally learned, P - Persistent static",
            "           SE - statistics enabled, NM - non configured MAC, R - remote PE MAC, O - ovsdb MAC)",
            "",
            "",
            f"Ethernet switching table : {len(table)} entries, {len(table)} learned",
            "Routing instance : default-switch",
            "   Vlan                MAC                 MAC         Age    Logical                NH        RTR",
            "   name                address             flags              interface              Index     ID",
        ]
        for mac, tag, port in table:
            name = self.sw.vlans.get(tag, f"vlan-{tag}")
            rows.append(f"   {name:<19} {mac:<19} D             -   {port + '.0':<22} 0         0")
        return "\n".join(rows)

    def show_counters(self, port: str) -> str:
        up, octets_in, octets_out, errors = self.sw.link(port)
        return "\n".join(
            [
                f"Physical interface: {port}, Enabled, Physical link is {'Up' if up else 'Down'}",
                "  Interface index: 650, SNMP ifIndex: 515, Generation: 153",
                "  Link-level type: Ethernet, MTU: 1514, LAN-PHY mode, Speed: 1000mbps, Duplex: Full-Duplex,",
                "  Traffic statistics:",
                f"   Input  bytes  :            {octets_in:>12}                    0 bps",
                f"   Output bytes  :            {octets_out:>12}                    0 bps",
                "  Input errors:",
                f"    Errors: {errors}, Drops: 0, Framing errors: 0, Runts: 0, Policed discards: 0",
            ]
        )

    def vlan_lines(self) -> str:
        return "\n".join(f"set vlans {name} vlan-id {tag}" for tag, name in sorted(self.sw.vlans.items()))

    def unknown(self, command: str) -> tuple[str, bool]:
        text = "syntax error." if self.mode == "config" else "unknown command."
        return self.answer(" " * len(self.prompt()) + "^\n" + text)

    def commit(self, quit: bool = False) -> tuple[str, bool]:
        sw = self.sw
        if sw.locked_commits > 0:
            sw.locked_commits -= 1
            return self.answer(
                f"error: configuration database locked by:\n  {self.LOCK_HOLDER}\n  exclusive [edit]"
            )
        names = {name: tag for tag, name in sw.vlans.items()}
        names.update({entry[1]: int(entry[2]) for entry in sw.candidate if entry[0] == "vlan"})
        tags = set(names.values())
        for entry in sw.candidate:
            if entry[0] != "set":
                continue
            _, port, member = entry
            if port not in sw.ports:
                return self.answer(
                    f"[edit interfaces {port} unit 0 family ethernet-switching]\n  'vlan'\n"
                    f"    Interface {port} is not present on this switch\nerror: configuration check-out failed"
                )
            tag = int(member) if member.isdigit() else names.get(member)
            if tag is None or tag not in tags or tag in sw.refuse_vlans:
                return self.answer(
                    f"[edit interfaces {port} unit 0 family ethernet-switching vlan]\n  'members {member}'\n"
                    f"    No vlan matches vlan tag {member} for interface {port}.0\nerror: configuration check-out failed"
                )
        for entry in sw.candidate:
            if entry[0] == "vlan":
                sw.vlans[int(entry[2])] = entry[1]
            elif entry[0] == "delete":
                sw.ports[entry[1]] = None
            else:
                sw.ports[entry[1]] = int(entry[2]) if entry[2].isdigit() else names[entry[2]]
        sw.candidate.clear()
        sw.commits += 1
        if quit:
            self.mode = "exec"
            return "commit complete\nExiting configuration mode", False
        return self.answer("commit complete")

    def stage(self, command: str) -> str | None:
        """Put a configuration line into the candidate; the switch's complaint, if any."""
        sw = self.sw
        if m := re.fullmatch(
            r"delete interfaces (\S+) unit 0 family ethernet-switching vlan members", command
        ):
            if m[1] not in sw.ports or sw.ports[m[1]] is None:
                return "warning: statement not found"
            sw.candidate.append(("delete", m[1]))
            return None
        if m := re.fullmatch(
            r"set interfaces (\S+) unit 0 family ethernet-switching vlan members (\S+)", command
        ):
            sw.candidate.append(("set", m[1], m[2]))
            return None
        if m := re.fullmatch(r"set vlans (\S+) vlan-id (\d+)", command):
            if int(m[2]) in sw.refuse_vlans or not 1 <= int(m[2]) <= 4094:
                return f"error: vlan-id {m[2]} is reserved"
            sw.candidate.append(("vlan", m[1], m[2]))
            return None
        return "syntax error."

    def load_line(self, command: str) -> tuple[str, bool]:
        """A line of a terminal load: staged, or its complaint kept for ^D with the line's number."""
        self.loaded += 1
        complaint = self.stage(command)
        if complaint == "syntax error.":
            self.load_errors.append(
                f"terminal:{self.loaded}:(0) syntax error: {command.split()[0]}\n"
                f"  [edit]\n    '{command}'\n      syntax error"
            )
        elif complaint and complaint.startswith("error:"):
            self.load_errors.append(f"terminal:{self.loaded}:(0) {complaint}")
        return "", False

    def end_of_input(self) -> str:
        if self.mode != "load":
            return ""
        self.mode = "config"
        errors, self.load_errors = self.load_errors, []
        verdict = f"load complete ({len(errors)} errors)" if errors else "load complete"
        return self.answer("^D" + "".join(e + "\n" for e in errors) + verdict)[0]

    def handle(self, command: str) -> tuple[str, bool]:
        if self.mode == "load":
            return self.load_line(command)
        if self.mode == "exec":
            return self.operational(command)
        if command in ("exit", "exit configuration-mode", "quit"):
            self.mode = "exec"
            if self.sw.candidate:
                return (
                    "The configuration has been changed but not committed\nExiting configuration mode",
                    False,
                )
            return "Exiting configuration mode", False
        if command in ("commit", "commit and-quit"):
            return self.commit(quit=command == "commit and-quit")
        if command == "rollback 0":
            self.sw.candidate.clear()
            return self.answer("load complete")
        if command == "load set terminal":
            self.mode, self.loaded, self.load_errors = "load", 0, []
            return "[Type ^D at a new line to end input]", False
        complaint = self.stage(command)
        if complaint == "syntax error.":
            return self.unknown(command)
        return self.answer(complaint or "")

    def operational(self, command: str) -> tuple[str, bool]:
        sw = self.sw
        if m := re.fullmatch(r"set cli screen-(length|width) (\d+)", command):
            return f"Screen {m[1]} set to {m[2]}", False
        if command in ("exit", "quit"):
            return "", True
        if command == "show configuration interfaces | display set | match ethernet-switching":
            return "\n".join(line for p in sw.ports for line in self.config_lines(p)), False
        if m := re.fullmatch(r"show configuration interfaces (\S+) \| display set", command):
            return "\n".join(self.config_lines(m[1])) if m[1] in sw.ports else "", False
        if command == "show configuration vlans | display set":
            return self.vlan_lines(), False
        if command == "show ethernet-switching table":
            return self.mac_rows(), False
        if m := re.fullmatch(r"show interfaces (\S+) extensive", command):
            if m[1] not in sw.ports:
                return f"error: device {m[1]} not found", False
            return self.show_counters(m[1]), False
        if command in ("configure", "edit"):
            self.mode = "config"
            return "Entering configuration mode\n\n[edit]", False
        return self.unknown(command)


class _DellCli(_Cli):
    comment = "!"

    def prompt(self) -> str:
        if self.mode == "exec":
            return f"{self.sw.hostname}#"
        if self.mode == "config":
            return f"{self.sw.hostname}(config)#"
        if self.mode == "vlan":
            return f"{self.sw.hostname}(conf-if-vl-{self.vlan})#"
        assert self.port is not None
        return f"{self.sw.hostname}(conf-if-{short_name(self.port).lower()})#"

    def show_port(self, port: str) -> str:
        tagged = self.sw.trunks.get(port, ())
        untagged = self.sw.ports.get(port) or 1
        lines = [
            f"Name: {port}",
            f"802.1QTagged: {'Hybrid' if tagged else 'False'}",
            "Vlan membership:",
            "Q       Vlans",
        ]
        lines.append(f"U       {untagged}")
        if tagged:
            lines.append(f"T       {','.join(map(str, tagged))}")
        return "\n".join(lines) + "\n"

    def mac_rows(self) -> str:
        rows = ["VlanId        Mac Address         Type              Interface"]
        rows += [f"{tag:<13} {mac:<19} dynamic           {port}" for mac, tag, port in self.sw.mac_table()]
        return "\n".join(rows)

    def show_counters(self, port: str) -> str:
        up, octets_in, octets_out, errors = self.sw.link(port)
        state = "up" if up else "down"
        return "\n".join(
            [
                f"Ethernet {port.removeprefix('ethernet')} is {state}, line protocol is {state}",
                "Hardware is Eth, address is 00:0c:29:aa:bb:01",
                "MTU 1532 bytes, IP MTU 1500 bytes",
                "LineSpeed 10G, Auto-Negotiation on",
                "Input statistics:",
                f"     {octets_in // 1000} packets, {octets_in} octets",
                f"     {errors} input errors, 0 CRC-error",
                "Output statistics:",
                f"     {octets_out // 1000} packets, {octets_out} octets",
            ]
        )

    def show_vlan(self) -> str:
        rows = [
            "Codes: * - Default VLAN, M - Management VLAN, R - Remote Port Mirroring VLANs,",
            "       @ - Attached to Virtual Network, P - Primary, C - Community, I - Isolated",
            "Q: A - Access (Untagged), T - Tagged",
            "    NUM    Status    Description                     Q Ports",
        ]
        for tag, name in sorted(self.sw.vlans.items()):
            members = ",".join(short_name(p) for p, t in self.sw.ports.items() if (t or 1) == tag)
            rows.append(
                f"{'*' if tag == 1 else ' '}   {tag:<6} up        {name if tag != 1 else '':<31} A {members}"
            )
        return "\n".join(rows)

    def handle(self, command: str) -> tuple[str, bool]:
        sw = self.sw
        if self.mode == "exec":
            if command == "terminal length 0":
                return "", False
            if command == "exit":
                return "", True
            if command == "show interface switchport":
                return "\n".join(self.show_port(p) for p in sw.ports), False
            if m := re.fullmatch(r"show interface switchport (\S+)", command):
                port = self.find_port(m[1])
                return (self.show_port(port), False) if port else ("% Error: Illegal parameter.", False)
            if command == "show vlan":
                return self.show_vlan(), False
            if command == "show mac address-table":
                return self.mac_rows(), False
            if m := re.fullmatch(r"show interface (\S+)", command):
                port = self.find_port(m[1])
                return (self.show_counters(port), False) if port else ("% Error: Illegal parameter.", False)
            if command == "configure terminal":
                self.mode = "config"
                return "", False
            if command == "copy running-configuration startup-configuration":
                sw.saves += 1
                return "", False
            return "% Error: Unrecognized command.", False
        if command == "end":
            self.mode = "exec"
            return "", False
        if command == "exit":
            self.mode = "config" if self.mode in ("if", "vlan") else "exec"
            return "", False
        if m := re.fullmatch(r"interface vlan ?(\d+)", command):
            tag = int(m[1])
            if tag in sw.refuse_vlans or not 1 <= tag <= 4093:
                return f"% Error: VLAN {tag} is reserved.", False
            sw.vlans.setdefault(tag, "")
            self.mode, self.vlan = "vlan", tag
            return "", False
        if m := re.fullmatch(r"interface (\S+)", command):
            port = self.find_port(m[1])
            if port is None:
                return "% Error: Illegal parameter.", False
            self.mode, self.port = "if", port
            return "", False
        if self.mode == "vlan" and (m := re.fullmatch(r"description (\S+)", command)):
            assert self.vlan is not None
            sw.vlans[self.vlan] = m[1]
            return "", False
        if self.mode == "if" and (m := re.fullmatch(r"switchport access vlan (\d+)", command)):
            assert self.port is not None
            tag = int(m[1])
            if tag in sw.refuse_vlans:
                return f"% Error: VLAN {tag} is reserved.", False
            if tag not in sw.vlans:
                return f"% Error: VLAN {tag} does not exist.", False
            sw.ports[self.port] = tag
            return "", False
        return "% Error: Unrecognized command.", False


_CLIS: dict[str, type[_Cli]] = {"cisco_ios": _CiscoCli, "junos": _JunosCli, "dell_os10": _DellCli}


# --- a switch in a process of its own (the benchmark's) -------------------------------------------------------

_BENCH_PORTS = {
    "cisco_ios": "GigabitEthernet1/0/{}",
    "junos": "ge-0/0/{}",
    "dell_os10": "ethernet1/1/{}",
}


def _control(fake: FakeCliSwitch, words: list[str]) -> dict[str, Any]:
    """One order from the controlling process: ``state``, ``counts`` or ``set NAME VALUE``."""
    if words == ["state"]:
        return {"ports": fake.ports}
    if words == ["counts"]:
        return {
            "connections": fake.connections,
            "sessions": fake.sessions,
            "commands": len(fake.commands),
            "dropped": fake.dropped,
        }
    if len(words) == 3 and words[0] == "set" and words[1] in ("round_trip", "line_time"):
        setattr(fake, words[1], float(words[2]))
        return {"ok": True}
    if len(words) == 3 and words[0] == "set" and words[1] == "input_buffer":
        fake.input_buffer = None if words[2] == "none" else int(words[2])
        return {"ok": True}
    return {"error": f"unknown order {' '.join(words)!r}"}


async def _serve(args: argparse.Namespace) -> None:
    names = [_BENCH_PORTS[args.dialect].format(i) for i in range(1, args.ports + 1)]
    async with FakeCliSwitch(args.dialect, dict.fromkeys(names, 10), vlans={10: "v10", 20: "v20"}) as fake:
        fake.round_trip = args.round_trip_ms / 1000
        fake.line_time = args.line_time_ms / 1000
        fake.input_buffer = args.input_buffer
        hello = {"port": fake.port, "known_hosts": str(fake.known_hosts), "ports": names, **fake.credentials}
        print(json.dumps(hello), flush=True)
        loop = asyncio.get_running_loop()
        for _ in range(MAX_COMMANDS):
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            print(json.dumps(_control(fake, line.split())), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Serve one fake CLI switch on 127.0.0.1 until stdin closes.")
    p.add_argument("--dialect", default="cisco_ios", choices=sorted(_CLIS))
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--round-trip-ms", type=float, default=0.0)
    p.add_argument("--line-time-ms", type=float, default=0.0)
    p.add_argument("--input-buffer", type=int, default=None)
    args = p.parse_args(argv)
    if not 1 <= args.ports <= 512:
        raise SystemExit("--ports 1..512")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
