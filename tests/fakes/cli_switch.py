"""Small asyncssh servers on loopback that speak Cisco IOS, Junos and Dell OS10 CLIs well enough for the ssh_cli driver."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncssh

from kavlan_core.model import Switch

MAX_COMMANDS = 10_000
"""Commands one session may send before the fake hangs up: every loop here is bounded."""

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

    Fault injection: ``locked_commits`` (Junos: the next K commits find the database locked),
    ``stall_on`` (stop answering at the first command starting with this text), ``refuse_vlans``
    (VLAN tags the switch will not put a port in), ``latency`` (seconds before each answer).
    Counters: ``connections``, ``sessions``, ``commands`` (every command line received, in order),
    ``commits``, ``saves``.
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
        self.latency = 0.0
        self.members_by_name = False
        """Junos: print "vlan members NAME" rather than the tag, as many configurations do."""
        self.candidate: list[tuple[str, ...]] = []
        """Junos: the shared candidate configuration, uncommitted."""
        self.connections = 0
        self.sessions = 0
        self.commands: list[str] = []
        self.commits = 0
        self.saves = 0
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="kavlan-fake-switch-"))
        self.known_hosts = self._dir / "known_hosts"
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_keys: list[bytes] = []
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: list[asyncssh.SSHServerConnection] = []
        self._stopped = asyncio.Event()

    # --- for tests ---

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
        )
        self.port = self._acceptor.get_port()
        public = self._host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public}\n")
        return self

    async def stop(self) -> None:
        self._stopped.set()
        try:
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
        try:
            if process.command is not None:
                process.stdout.write("% exec of commands is not supported here: open a shell\n")
                process.exit(1)
                return
            process.stdout.write(cli.banner() + cli.prompt())
            for _ in range(MAX_COMMANDS):
                try:
                    line = await process.stdin.readline()
                except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
                    continue
                if not line:
                    break
                command = line.strip()
                if not command:
                    process.stdout.write(cli.prompt())
                    continue
                self.commands.append(command)
                if self.stall_on is not None and command.startswith(self.stall_on):
                    # the switch goes silent; bounded by the test's end (stop) or by the client leaving
                    stop = asyncio.ensure_future(self._stopped.wait())
                    gone = asyncio.ensure_future(process.wait_closed())
                    _, pending = await asyncio.wait(
                        {stop, gone}, timeout=60, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in pending:
                        task.cancel()
                    return
                if self.latency:
                    await asyncio.sleep(self.latency)
                answer, done = cli.handle(command)
                if done:
                    break
                text = answer + ("\n" if answer else "") + cli.prompt()
                process.stdout.write(text.replace("\n", "\r\n"))
            process.exit(0)
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            pass


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


# --- the dialects ---------------------------------------------------------------------------------------------


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

    def handle(self, command: str) -> tuple[str, bool]:
        """The answer, and whether the session ends."""
        raise NotImplementedError

    def find_port(self, name: str) -> str | None:
        if name in self.sw.ports:
            return name
        for port in self.sw.ports:
            if short_name(port).lower() == short_name(name).lower():
                return port
        return None


class _CiscoCli(_Cli):
    INVALID = "% Invalid input detected at '^' marker."

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
            if command in ("terminal length 0", "terminal width 0"):
                return "", False
            if command in ("exit", "logout", "quit"):
                return "", True
            if command == "show interfaces switchport":
                return "\n".join(self.show_port(p) for p in sw.ports), False
            if m := re.fullmatch(r"show interfaces (\S+) switchport", command):
                port = self.find_port(m[1])
                return (self.show_port(port), False) if port else (self.invalid(command, 16), False)
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

    def prompt(self) -> str:
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

    def vlan_lines(self) -> str:
        return "\n".join(f"set vlans {name} vlan-id {tag}" for tag, name in sorted(self.sw.vlans.items()))

    def unknown(self, command: str) -> tuple[str, bool]:
        text = "syntax error." if self.mode == "config" else "unknown command."
        return self.answer(" " * len(self.prompt()) + "^\n" + text)

    def commit(self) -> tuple[str, bool]:
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
        return self.answer("commit complete")

    def handle(self, command: str) -> tuple[str, bool]:
        sw = self.sw
        if self.mode == "exec":
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
            if command in ("configure", "edit"):
                self.mode = "config"
                return "Entering configuration mode\n\n[edit]", False
            return self.unknown(command)
        if command in ("exit", "exit configuration-mode", "quit"):
            self.mode = "exec"
            if sw.candidate:
                return (
                    "The configuration has been changed but not committed\nExiting configuration mode",
                    False,
                )
            return "Exiting configuration mode", False
        if command == "commit":
            return self.commit()
        if command == "rollback 0":
            sw.candidate.clear()
            return self.answer("load complete")
        if m := re.fullmatch(
            r"delete interfaces (\S+) unit 0 family ethernet-switching vlan members", command
        ):
            if m[1] not in sw.ports or sw.ports[m[1]] is None:
                return self.answer("warning: statement not found")
            sw.candidate.append(("delete", m[1]))
            return self.answer("")
        if m := re.fullmatch(
            r"set interfaces (\S+) unit 0 family ethernet-switching vlan members (\S+)", command
        ):
            sw.candidate.append(("set", m[1], m[2]))
            return self.answer("")
        if m := re.fullmatch(r"set vlans (\S+) vlan-id (\d+)", command):
            if int(m[2]) in sw.refuse_vlans or not 1 <= int(m[2]) <= 4094:
                return self.answer(f"error: vlan-id {m[2]} is reserved")
            sw.candidate.append(("vlan", m[1], m[2]))
            return self.answer("")
        return self.unknown(command)


class _DellCli(_Cli):
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
