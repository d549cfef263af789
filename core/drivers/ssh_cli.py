"""Switches driven through their vendor CLI over SSH (asyncssh): dialects as data, one session per batch."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncssh

from ..model import Switch
from .base import DriverContext, PortChange, PortState, SwitchDriver, SwitchError, SwitchTimeout

# Options (in the inventory's [site.switch.options]):
#   dialect          cisco_ios | junos | dell_os10 (required)
#   port             SSH port (default 22; an address "host:port" or "[v6]:port" works too)
#   known_hosts      path of an OpenSSH known_hosts file; without it ~/.ssh/known_hosts is used.
#                    "none" turns host-key checking off: meant only for tests against loopback.
#   save_config      save the running configuration after each batch (default false)
#   connect_timeout  seconds to connect and log in (default 10)
#   command_timeout  seconds to wait for the prompt after a command (default 30)
#   commit_timeout   seconds to wait for a commit (default 120)
#   commit_retries   commits retried while another session holds the configuration database (default 5)
#   lock_backoff     first wait (s) before retrying a locked commit; doubled each try, jittered (default 1)
#   show_all_above   read every port with one "show" when more than this many ports are asked (default 4)
# Credentials: {"username": ..., "password": ...} or {"username": ..., "client_keys": [path, ...]}
# (with "passphrase" for encrypted keys).

_PORT = re.compile(r"[A-Za-z0-9/:.\-]{1,64}")
_VLAN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_T = TypeVar("_T")
_MAX_ANSWER = 4 * 1024 * 1024
"""Bytes of a single answer past which the switch is deemed broken (bounds the read loop)."""


@dataclass(frozen=True)
class Dialect:
    """What one vendor CLI expects and answers. Command templates take {port}, {vlan} and {name}."""

    name: str
    prompt: str
    """Regex matching the whole last line when the CLI waits for a command; group ``host``."""
    setup: tuple[str, ...]
    """Once per session, before anything else: paging off."""
    config_enter: tuple[str, ...]
    set_access: tuple[str, ...]
    """Per port: make it an access port of VLAN {vlan}."""
    create_vlan: tuple[str, ...]
    config_exit: tuple[str, ...]
    abort: tuple[str, ...]
    """Back to the exec prompt after a failure in configuration mode, dropping what is not committed."""
    show_port: tuple[str, ...]
    show_all: tuple[str, ...]
    show_vlan: str
    vlan_present: str
    """Regex (``{vlan}`` replaced by the tag) that finds the VLAN in ``show_vlan``'s answer."""
    errors: tuple[str, ...]
    """Regexes: a line of an answer matching one is the switch refusing the command."""
    record: str
    """Regex: a line of a show answer that starts (or belongs to) a port's record; group ``port``."""
    tag: str
    """Regex: the access VLAN in a port's record; group ``tag``, a number or a VLAN name."""
    trunk: str
    """Regex: a line saying the port is a trunk."""
    commit: tuple[str, ...] = ()
    save: tuple[str, ...] = ()
    locked: str | None = None
    """Regex: the commit was refused because another session holds the configuration database."""
    vlan_name: str | None = None
    """Regex over the show answer mapping VLAN names to tags; groups ``name`` and ``tag``."""


CISCO_IOS = Dialect(
    name="cisco_ios",
    prompt=r"(?P<host>[A-Za-z0-9_.\-]+)(?:\([A-Za-z0-9\-]+\))?[>#] ?",
    setup=("terminal length 0",),
    config_enter=("configure terminal",),
    set_access=("interface {port}", "switchport access vlan {vlan}", "exit"),
    create_vlan=("vlan {vlan}", "name {name}", "exit"),
    config_exit=("end",),
    abort=("end",),
    save=("write memory",),
    show_port=("show interfaces {port} switchport",),
    show_all=("show interfaces switchport",),
    show_vlan="show vlan id {vlan}",
    vlan_present=r"^{vlan}\s+\S+\s+(?:active|act/)",
    errors=(
        r"^% ?(?:Invalid|Incomplete|Ambiguous|Unknown|Unrecognized|Bad|Error)\b.*",
        r"^Command rejected:.*",
    ),
    record=r"^Name:\s*(?P<port>\S+)",
    tag=r"^Access Mode VLAN:\s*(?P<tag>\d+)",
    trunk=r"^Administrative Mode:\s*trunk",
)

JUNOS = Dialect(
    name="junos",
    prompt=r"(?:[A-Za-z0-9_.\-]+@)?(?P<host>[A-Za-z0-9_.\-]+)[>#] ?",
    setup=("set cli screen-length 0", "set cli screen-width 0"),
    # plain "configure" shares the candidate: another session's exclusive lock shows at commit time
    config_enter=("configure",),
    set_access=(
        # "set ... vlan members" adds a member: drop the old one first
        "delete interfaces {port} unit 0 family ethernet-switching vlan members",
        "set interfaces {port} unit 0 family ethernet-switching vlan members {vlan}",
    ),
    create_vlan=("set vlans {name} vlan-id {vlan}",),
    commit=("commit",),
    config_exit=("exit configuration-mode",),
    # the candidate is shared: leaving changes in it would let someone else's commit apply them
    abort=("rollback 0", "exit configuration-mode"),
    save=(),  # a commit is already saved
    show_port=(
        "show configuration interfaces {port} | display set",
        "show configuration vlans | display set",
    ),
    show_all=(
        "show configuration interfaces | display set | match ethernet-switching",
        "show configuration vlans | display set",
    ),
    show_vlan="show configuration vlans | display set",
    vlan_present=r"^set vlans \S+ vlan-id {vlan}$",
    errors=(
        r"^\s*error:.*",
        r"^syntax error.*",
        r"^unknown command\..*",
        r"^invalid (?:value|interface)\b.*",
    ),
    locked=r"configuration database locked by",
    record=r"^set interfaces (?P<port>\S+) ",
    tag=r"ethernet-switching vlan members (?P<tag>\S+)$",
    trunk=r"ethernet-switching interface-mode trunk$",
    vlan_name=r"^set vlans (?P<name>\S+) vlan-id (?P<tag>\d+)$",
)

DELL_OS10 = Dialect(
    name="dell_os10",
    prompt=r"(?P<host>[A-Za-z0-9_.\-]+)(?:\([A-Za-z0-9_.\-/]+\))?[>#] ?",
    setup=("terminal length 0",),
    config_enter=("configure terminal",),
    set_access=("interface {port}", "switchport access vlan {vlan}", "exit"),
    create_vlan=("interface vlan{vlan}", "description {name}", "exit"),
    config_exit=("end",),
    abort=("end",),
    save=("copy running-configuration startup-configuration",),
    show_port=("show interface switchport {port}",),
    show_all=("show interface switchport",),
    show_vlan="show vlan",
    vlan_present=r"^[\s*@]*{vlan}\s+(?:up|down|active|inactive)\b",
    errors=(r"^% ?Error:.*",),
    record=r"^Name:\s*(?P<port>\S+)",
    tag=r"^U\s+(?P<tag>\d+)\s*$",
    trunk=r"^T\s+\d",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (CISCO_IOS, JUNOS, DELL_OS10)}


class CliError(SwitchError):
    """The switch answered a command with an error; ``reason`` is its own error line."""

    def __init__(self, switch: str, reason: str, command: str, *, ports: Sequence[str] = ()) -> None:
        super().__init__(switch, reason, ports=ports)
        self.command = command


class _Dropped(Exception):
    """The SSH channel closed under us."""


class _Garbled(Exception):
    """The CLI answered something that never ends in a prompt."""


def mentions(text: str, port: str) -> bool:
    """Whether ``text`` names ``port`` (ge-0/0/1 in "ge-0/0/1.0", not in "ge-0/0/10")."""
    return re.search(rf"(?<![A-Za-z0-9/:\-]){re.escape(port)}(?![A-Za-z0-9/:\-])", text) is not None


# --- validation: inventory values only, and still checked before they reach a command line -----------------


def check_port(switch: str, port: object) -> str:
    # fullmatch, not "^...$": "$" would let a trailing newline through, and a newline ends a CLI command
    if not isinstance(port, str) or not _PORT.fullmatch(port):
        raise SwitchError(
            switch, f"refusing port name {port!r}: not a plain interface name", ports=[str(port)]
        )
    return port


def check_tag(switch: str, tag: object) -> int:
    if isinstance(tag, bool) or not isinstance(tag, int) or not 1 <= tag <= 4094:
        raise SwitchError(switch, f"refusing VLAN tag {tag!r}: not an integer from 1 to 4094")
    return tag


def check_vlan_name(switch: str, name: object) -> str:
    if not isinstance(name, str) or not _VLAN_NAME.fullmatch(name):
        raise SwitchError(
            switch, f"refusing VLAN name {name!r}: letters, digits, '_', '.', '-' only (32 at most)"
        )
    return name


# --- parsing ------------------------------------------------------------------------------------------------


def port_key(name: str) -> tuple[str, str]:
    """``GigabitEthernet1/0/1`` and ``Gi1/0/1`` (or ``ethernet1/1/1`` and ``Eth1/1/1``) name one port."""
    m = re.fullmatch(r"([A-Za-z]*)(.*)", name)
    assert m is not None
    return m[1][:2].lower(), m[2].lower()


def parse_ports(dialect: Dialect, text: str) -> dict[str, PortState]:
    """Port states from show output, keyed by the names the switch printed."""
    names: dict[str, int] = {}
    if dialect.vlan_name:
        names = {m["name"]: int(m["tag"]) for m in re.finditer(dialect.vlan_name, text, re.M)}
    tags: dict[str, list[int | None]] = {}
    trunks: set[str] = set()
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        m = re.search(dialect.record, line)
        if m:
            current = m["port"]
            tags.setdefault(current, [])
        if current is None:
            continue
        t = re.search(dialect.tag, line)
        if t:
            value = t["tag"]
            tags[current].append(int(value) if value.isdigit() else names.get(value))
        if re.search(dialect.trunk, line):
            trunks.add(current)
    out = {}
    for port, found in tags.items():
        distinct = set(found)
        trunk = port in trunks or len(distinct) > 1
        out[port] = PortState(None if trunk or len(distinct) != 1 else found[0], trunk=trunk)
    return out


def error_reason(dialect: Dialect, answer: str) -> str | None:
    """The switch's error line in an answer (with the lines that explain it), or None when it accepted."""
    lines = [line for line in answer.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if any(re.match(p, line) for p in dialect.errors):
            # Junos explains above ("[edit interfaces ...] 'vlan' ...") or below (who holds the lock)
            context = [
                c.strip()
                for j, c in enumerate(lines)
                if j != i and c.strip() != "[edit]" and not re.fullmatch(r"\s*\^\s*", c)
            ]
            reason = line.strip()
            if context:
                reason = f"{reason} ({' '.join(context)})"
            return reason if len(reason) <= 400 else reason[:397] + "..."
    return None


# --- one interactive CLI session -----------------------------------------------------------------------------


class _Cli:
    """A shell channel with a prompt: write a command, read up to the next prompt."""

    def __init__(self, process: asyncssh.SSHClientProcess[str], dialect: Dialect) -> None:
        self.process = process
        self.dialect = dialect
        self.host: str | None = None
        self._prompt = re.compile(dialect.prompt)

    @property
    def closed(self) -> bool:
        return self.process.is_closing() or self.process.stdout.at_eof()

    def _at_prompt(self, buffer: str) -> bool:
        last = buffer.rsplit("\n", 1)[-1]
        m = self._prompt.fullmatch(last)
        if m is None:
            return False
        if self.host is None:
            self.host = m["host"]
            return True
        return m["host"] == self.host

    async def _read_to_prompt(self, timeout: float) -> str:
        buffer = ""
        async with asyncio.timeout(timeout):
            while not self._at_prompt(buffer):  # bounded by the timeout and by _MAX_ANSWER
                chunk = await self.process.stdout.read(65536)
                if not chunk:
                    raise _Dropped()
                buffer += chunk.replace("\r", "")
                if len(buffer) > _MAX_ANSWER:
                    raise _Garbled(f"an answer longer than {_MAX_ANSWER} characters, and no prompt")
        return buffer

    async def start(self, timeout: float) -> None:
        await self._read_to_prompt(timeout)

    async def run(self, command: str, timeout: float) -> str:
        """The answer to ``command``, without its echo and the prompt that follows."""
        self.process.stdin.write(command + "\n")
        buffer = await self._read_to_prompt(timeout)
        lines = buffer.split("\n")[:-1]  # the last line is the prompt
        if lines and lines[0].rstrip().endswith(command):
            lines = lines[1:]  # the echo
        return "\n".join(lines)


# --- the driver -----------------------------------------------------------------------------------------------


def _split_address(address: str, default_port: int) -> tuple[str, int]:
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", address)
    if m:
        return m[1], int(m[2]) if m[2] else default_port
    host, sep, port = address.rpartition(":")
    if sep and host and ":" not in host and port.isdigit():
        return host, int(port)
    return address, default_port


class SshCliDriver(SwitchDriver):
    """A switch driven through its CLI. The connection and its one shell session live until ``close()``."""

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        name = str(switch.options.get("dialect", ""))
        dialect = DIALECTS.get(name)
        if dialect is None:
            raise SwitchError(
                switch.name,
                f"unknown CLI dialect {name!r} in the switch options (known: {', '.join(sorted(DIALECTS))})",
            )
        self.dialect = dialect
        self._conn: asyncssh.SSHClientConnection | None = None
        self._cli: _Cli | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    # options

    def _opt(self, key: str, default: Any) -> Any:
        return self.switch.options.get(key, default)

    def _seconds(self, key: str, default: float) -> float:
        return float(self._opt(key, default))

    @property
    def _save(self) -> bool:
        return bool(self._opt("save_config", False))

    # command lines

    def _port_lines(self, changes: Sequence[PortChange]) -> list[tuple[str, str]]:
        lines = []
        for change in changes:
            port = check_port(self.switch.name, change.port)
            vlan = check_tag(self.switch.name, change.new_tag)
            lines += [(t.format(port=port, vlan=vlan), port) for t in self.dialect.set_access]
        return lines

    def _vlan_lines(self, tag: int, name: str) -> list[tuple[str, str]]:
        tag = check_tag(self.switch.name, tag)
        name = check_vlan_name(self.switch.name, name)
        return [(t.format(vlan=tag, name=name), "") for t in self.dialect.create_vlan]

    def _batch(self, body: list[tuple[str, str]]) -> list[str]:
        d = self.dialect
        return [
            *d.config_enter,
            *(c for c, _ in body),
            *d.commit,
            *d.config_exit,
            *(d.save if self._save else ()),
        ]

    def describe(self, changes: Sequence[PortChange]) -> list[str]:
        return self._batch(self._port_lines(changes)) if changes else []

    # the session

    async def _connect(self) -> None:
        username = self.credentials.get("username")
        if not username:
            raise SwitchError(self.switch.name, "no username in this switch's credentials")
        host, port = _split_address(self.switch.address or self.switch.name, int(self._opt("port", 22)))
        timeout = self._seconds("connect_timeout", 10)
        self._conn = await self._dial(host, port, str(username), timeout)
        self._cli = await self._start_cli(self._conn, host, port, timeout)

    def _login_options(self, username: str) -> dict[str, Any]:
        """asyncssh's options for logging in: host-key checking, then client keys or a password."""
        creds = self.credentials
        kwargs: dict[str, Any] = {
            "username": username,
            "connect_timeout": self._seconds("connect_timeout", 10),
            "login_timeout": self._seconds("connect_timeout", 10),
            "config": None,  # the inventory says everything; a user's ~/.ssh/config must not change it
        }
        known_hosts = self._opt("known_hosts", None)
        if known_hosts == "none":
            # host-key checking off: only for tests against a throwaway server on loopback
            kwargs["known_hosts"] = None
        elif known_hosts:
            kwargs["known_hosts"] = str(known_hosts)
        if creds.get("client_keys"):
            kwargs["client_keys"] = [str(k) for k in creds["client_keys"]]
            kwargs["preferred_auth"] = "publickey"
            if creds.get("passphrase"):
                kwargs["passphrase"] = str(creds["passphrase"])
        elif creds.get("password") is not None:
            kwargs.update(
                password=str(creds["password"]),
                client_keys=None,
                agent_path=None,
                preferred_auth="keyboard-interactive,password",
            )
        else:
            raise SwitchError(self.switch.name, "no password or client_keys in this switch's credentials")
        return kwargs

    async def _dial(
        self, host: str, port: int, username: str, timeout: float
    ) -> asyncssh.SSHClientConnection:
        """The SSH connection, logged in; every failure as a SwitchError saying which."""
        kwargs = self._login_options(username)
        try:
            async with asyncio.timeout(timeout):
                return await asyncssh.connect(host, port, **kwargs)
        except TimeoutError:
            raise SwitchTimeout(
                self.switch.name, f"no SSH answer from {host}:{port} within {timeout:g} s"
            ) from None
        except asyncssh.HostKeyNotVerifiable as exc:
            raise SwitchError(
                self.switch.name, f"host key of {host}:{port} not verified against known_hosts ({exc.reason})"
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise SwitchError(self.switch.name, f"SSH login as {username} refused ({exc.reason})") from None
        except (asyncssh.Error, OSError, ValueError) as exc:
            raise SwitchError(self.switch.name, f"cannot connect to {host}:{port}: {exc}") from None

    async def _start_cli(
        self, conn: asyncssh.SSHClientConnection, host: str, port: int, timeout: float
    ) -> _Cli:
        """An interactive CLI on the connection, at its first prompt, with the dialect's setup commands run."""
        try:
            async with asyncio.timeout(timeout):
                process = await conn.create_process(
                    term_type="vt100", term_size=(511, 24), encoding="utf-8", errors="replace"
                )
                cli = _Cli(process, self.dialect)
                await cli.start(timeout)
            command_timeout = self._seconds("command_timeout", 30)
            for command in self.dialect.setup:
                await self._send(cli, command, command_timeout)
        except TimeoutError:
            raise SwitchTimeout(
                self.switch.name, f"no CLI prompt from {host}:{port} within {timeout:g} s"
            ) from None
        except asyncssh.Error as exc:
            raise SwitchError(
                self.switch.name, f"cannot open a CLI session on {host}:{port}: {exc}"
            ) from None
        return cli

    async def _session(self) -> _Cli:
        if self._cli is not None and not self._cli.closed:
            return self._cli
        await self._drop()  # dropped by the switch (idle timeout, reload): reconnect
        try:
            await self._connect()
        except BaseException:
            self._abandon()  # logged in but no usable CLI: do not keep the connection
            raise
        assert self._cli is not None
        return self._cli

    def _abandon(self) -> None:
        conn, self._conn, self._cli = self._conn, None, None
        if conn is not None:
            conn.abort()

    async def _drop(self) -> None:
        conn, self._conn, self._cli = self._conn, None, None
        if conn is not None:
            conn.abort()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await conn.wait_closed()

    async def _with_session(self, work: Callable[[_Cli], Awaitable[_T]]) -> _T:
        """Run ``work`` on the session, reconnecting once if a session kept from an earlier call turns out dead."""
        async with self._guard():
            reused = self._cli is not None and not self._cli.closed
            cli = await self._session()
            try:
                return await work(cli)
            except (
                _Dropped,
                asyncssh.ConnectionLost,
                asyncssh.ChannelOpenError,
                BrokenPipeError,
                ConnectionResetError,
            ):
                if not reused:
                    raise
            # the switch hung up between two calls (idle timeout, reload): what we sent went nowhere,
            # and every batch is idempotent, so one more go on a fresh connection is safe
            await self._drop()
            return await work(await self._session())

    def _mutex(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a new event loop (a new command, a new test): what the old one held died with it
            self._lock, self._loop = asyncio.Lock(), loop
            self._conn = self._cli = None
        return self._lock

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """One operation at a time on the session; a session left in an unknown state is dropped."""
        async with self._mutex():
            try:
                yield
            except asyncio.CancelledError:
                # an answer may still be on its way: a later command would read it as its own
                self._abandon()
                raise
            except CliError:
                raise  # refused, and the session was brought back to the exec prompt
            except SwitchError:
                await self._drop()
                raise
            except _Garbled as exc:
                await self._drop()
                raise SwitchError(self.switch.name, str(exc)) from None
            except _Dropped:
                await self._drop()
                raise SwitchTimeout(self.switch.name, "the SSH session was closed by the switch") from None
            except (asyncssh.Error, OSError) as exc:
                await self._drop()
                raise SwitchTimeout(self.switch.name, f"SSH connection lost: {exc}") from None

    async def _send(self, cli: _Cli, command: str, timeout: float, ports: Sequence[str] = ()) -> str:
        try:
            answer = await cli.run(command, timeout)
        except TimeoutError:
            raise SwitchTimeout(
                self.switch.name, f"no answer to `{command}` within {timeout:g} s", ports=ports
            ) from None
        reason = error_reason(self.dialect, answer)
        if reason is not None:
            raise CliError(self.switch.name, reason, command, ports=ports)
        return answer

    async def _configure(self, cli: _Cli, body: list[tuple[str, str]]) -> None:
        """Enter configuration mode, send ``body``, commit, leave; on an error answer, drop what is uncommitted."""
        timeout = self._seconds("command_timeout", 30)
        batch_ports = sorted({p for _, p in body if p})
        for command in self.dialect.config_enter:
            await self._send(cli, command, timeout)
        try:
            for command, port in body:
                await self._send(cli, command, timeout, [port] if port else ())
            for command in self.dialect.commit:
                await self._commit(cli, command, batch_ports)
            for command in self.dialect.config_exit:
                await self._send(cli, command, timeout)
        except CliError:
            # back to the exec prompt so the session stays usable; a timeout here drops the session instead
            for command in self.dialect.abort:
                with contextlib.suppress(CliError):
                    await self._send(cli, command, timeout)
            raise
        for command in self.dialect.save if self._save else ():
            await self._send(cli, command, self._seconds("commit_timeout", 120))

    async def _commit(self, cli: _Cli, command: str, ports: Sequence[str]) -> None:
        retries = max(0, int(self._opt("commit_retries", 5)))
        backoff = self._seconds("lock_backoff", 1.0)
        timeout = self._seconds("commit_timeout", 120)
        for attempt in range(retries + 1):
            try:
                await self._send(cli, command, timeout)
                return
            except CliError as exc:
                if not (self.dialect.locked and re.search(self.dialect.locked, exc.reason)):
                    named = [p for p in ports if mentions(exc.reason, p)]
                    raise CliError(self.switch.name, exc.reason, command, ports=named or ports) from None
                if attempt == retries:
                    raise CliError(
                        self.switch.name,
                        f"{exc.reason}; still locked after {attempt + 1} commits",
                        command,
                        ports=ports,
                    ) from None
            # jittered so that two waiting sessions do not retry in step
            await asyncio.sleep(random.uniform(0.5, 1.0) * min(backoff * 2**attempt, 30.0))

    # the contract

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        wanted = [check_port(self.switch.name, p) for p in ports]
        if not wanted:
            return {}
        timeout = self._seconds("command_timeout", 30)
        commands: dict[
            str, list[str]
        ] = {}  # command -> the ports it shows (a Junos VLAN list serves them all)
        if len(wanted) > int(self._opt("show_all_above", 4)):
            commands = {c: [] for c in self.dialect.show_all}
        else:
            for template in self.dialect.show_port:
                for p in wanted:
                    commands.setdefault(template.format(port=p), []).append(p)

        async def show(cli: _Cli) -> list[str]:
            return [await self._send(cli, c, timeout, p) for c, p in commands.items()]

        answers = await self._with_session(show)
        seen = parse_ports(self.dialect, "\n".join(answers))
        by_key = {port_key(p): s for p, s in seen.items()}
        return {p: seen.get(p) or by_key.get(port_key(p)) or PortState(None) for p in wanted}

    async def apply(self, changes: Sequence[PortChange]) -> None:
        body = self._port_lines(changes)
        if not body:
            return

        async def configure(cli: _Cli) -> None:
            await self._configure(cli, body)

        await self._with_session(configure)

    async def ensure_vlan(self, tag: int, name: str) -> None:
        body = self._vlan_lines(tag, name)
        present = self.dialect.vlan_present.replace("{vlan}", str(tag))

        async def ensure(cli: _Cli) -> None:
            answer = await self._send(
                cli, self.dialect.show_vlan.format(vlan=tag), self._seconds("command_timeout", 30)
            )
            if not re.search(present, answer, re.M):
                await self._configure(cli, body)

        await self._with_session(ensure)

    async def close(self) -> None:
        async with self._mutex():
            conn, cli, self._conn, self._cli = self._conn, self._cli, None, None
            if conn is None:
                return
            if cli is not None and not cli.closed:
                cli.process.close()
            conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.wait_closed()
