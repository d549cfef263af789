"""Switches driven through their vendor CLI over SSH (asyncssh): one session per batch, the batch typed ahead of the
switch's echoes (or loaded from the terminal and committed), line by line where a switch drops type-ahead."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..model import Switch
from .base import (
    DriverContext,
    FdbTable,
    PortChange,
    PortCounters,
    PortState,
    SwitchDriver,
    SwitchError,
    SwitchTimeout,
)
from .cli_dialects import DIALECTS, error_reason, mentions, parse_ports, port_key
from .cli_monitor import MONITORS, CliMonitor, parse_counters, parse_macs
from .cli_shell import CliError, Dropped, Line, Load, Loaded, Refusal, Shell, Silent, TypeAhead, Typed
from .ssh_session import Redo, SshSession

# Options (in the inventory's [site.switch.options]):
#   dialect          cisco_ios | junos | dell_os10 (required)
#   port             SSH port (default 22; an address "host:port" or "[v6]:port" works too)
#   known_hosts      path of an OpenSSH known_hosts file; without it ~/.ssh/known_hosts is used.
#                    "none" turns host-key checking off: meant only for tests against loopback.
#   save_config      save the running configuration after each batch (default false)
#   type_ahead       bytes of a batch typed ahead of the switch's echoes (default: the dialect's, 1024);
#                    0 sends one line at a time, for switches whose input buffer drops type-ahead
#   connect_timeout  seconds to connect and log in (default 10)
#   command_timeout  seconds to wait for the prompt after a command (default 30), or for any answer to a batch
#                    typed ahead
#   commit_timeout   seconds to wait for a commit (default 120)
#   commit_retries   commits retried while another session holds the configuration database (default 5)
#   lock_backoff     first wait (s) before retrying a locked commit; doubled each try, jittered (default 1)
#   show_all_above   read every port with one "show" when more than this many ports are asked (default 4)
# Credentials: {"username": ..., "password": ...} or {"username": ..., "client_keys": [path, ...]}
# (with "passphrase" for encrypted keys).

_PORT = re.compile(r"[A-Za-z0-9/:.\-]{1,64}")
_VLAN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_MAX_TYPE_AHEAD = 1024 * 1024


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


# --- the driver -----------------------------------------------------------------------------------------------


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
        self.type_ahead = self._type_ahead_option()
        self.lost_type_ahead = False
        """The switch dropped type-ahead once: it is driven line by line for the rest of this driver's life."""
        self._session = SshSession(switch, self.credentials, dialect, self._setup)

    # options

    def _opt(self, key: str, default: Any) -> Any:
        return self.switch.options.get(key, default)

    def _seconds(self, key: str, default: float) -> float:
        return float(self._opt(key, default))

    @property
    def _save(self) -> bool:
        return bool(self._opt("save_config", False))

    def _type_ahead_option(self) -> int:
        value = self._opt("type_ahead", self.dialect.type_ahead)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TYPE_AHEAD:
            raise SwitchError(
                self.switch.name,
                f"type_ahead {value!r} in the switch options: bytes from 0 (line by line) to {_MAX_TYPE_AHEAD}",
            )
        if value and not (self.dialect.sync or self.dialect.load):
            raise SwitchError(
                self.switch.name, f"the {self.dialect.name} dialect cannot type ahead: set type_ahead = 0"
            )
        return value

    @property
    def typing_ahead(self) -> bool:
        """Whether batches are typed ahead (else sent line by line)."""
        return self.type_ahead > 0 and not self.lost_type_ahead

    # command lines

    def _port_lines(self, changes: Sequence[PortChange]) -> list[Line]:
        lines = []
        for change in changes:
            port = check_port(self.switch.name, change.port)
            vlan = check_tag(self.switch.name, change.new_tag)
            lines += [Line(t.format(port=port, vlan=vlan), port) for t in self.dialect.set_access]
        return lines

    def _vlan_lines(self, tag: int, name: str) -> list[Line]:
        tag = check_tag(self.switch.name, tag)
        name = check_vlan_name(self.switch.name, name)
        return [Line(t.format(vlan=tag, name=name)) for t in self.dialect.create_vlan]

    def _batch(self, body: Sequence[Line]) -> list[str]:
        d = self.dialect
        return [
            *d.config_enter,
            *(d.load if self.typing_ahead else ()),
            *(line.text for line in body),
            *d.commit,
            *d.config_exit,
            *(d.save if self._save else ()),
        ]

    def describe(self, changes: Sequence[PortChange]) -> list[str]:
        return self._batch(self._port_lines(changes)) if changes else []

    async def _setup(self, cli: Shell) -> None:
        """The dialect's setup commands; their echoes say whether the CLI echoes what it runs, their answers how
        quick it is."""
        for command in self.dialect.setup:
            await self._send(cli, command, self._seconds("command_timeout", 30))
            cli.echoes = cli.echoes and cli.last_echoed

    async def _send(self, cli: Shell, command: str, timeout: float, ports: Sequence[str] = ()) -> str:
        self.sent += 1
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

    # configuring

    async def _configure(self, cli: Shell, body: list[Line]) -> None:
        """Apply ``body`` in configuration mode and leave it; on a refusal, drop what is uncommitted and raise."""
        window = self.type_ahead if cli.echoes and not self.lost_type_ahead else 0
        if not window:
            await self._line_by_line(cli, body)
        elif self.dialect.load:
            await self._load(cli, body, window)
        else:
            await self._typed_ahead(cli, body, window)
        for command in self.dialect.save if self._save else ():
            await self._send(cli, command, self._seconds("commit_timeout", 120))

    async def _line_by_line(self, cli: Shell, body: list[Line]) -> None:
        """Each line after the prompt that answers the one before: what a switch that drops type-ahead needs."""
        timeout = self._seconds("command_timeout", 30)
        for command in self.dialect.config_enter:
            await self._send(cli, command, timeout)
        try:
            for line in body:
                await self._send(cli, line.text, timeout, [line.port] if line.port else ())
            for command in self.dialect.commit:
                await self._commit(cli, command, _ports(body))
            for command in self.dialect.config_exit:
                await self._send(cli, command, timeout)
        except CliError:
            await self._abort(cli)
            raise

    async def _abort(self, cli: Shell) -> None:
        """Back to the exec prompt so the session stays usable; a timeout here drops the session instead."""
        timeout = self._seconds("command_timeout", 30)
        for command in self.dialect.abort:
            with contextlib.suppress(CliError):
                await self._send(cli, command, timeout)

    async def _typed_ahead(self, cli: Shell, body: list[Line], window: int) -> None:
        """The whole batch typed ahead, configuration mode in and out included: one round trip and the switch's
        time per line. A refusal is raised for its own line once everything typed is answered (IOS applies line by
        line: what ran stays, and the caller reads back and rolls back)."""
        d = self.dialect
        lines = [*(Line(c) for c in d.config_enter), *body, *(Line(c) for c in d.config_exit)]
        timeout = self._seconds("command_timeout", 30)
        try:
            typed = await TypeAhead(cli, lines, window, timeout).run()
        except Silent as exc:
            raise self._silent(exc, timeout) from None
        if typed.lost:
            await self._recover(cli, lines, body, typed)
        elif typed.refusals:
            if not typed.closed:
                await self._abort(cli)
            raise self._refused(typed.refusals)
        elif typed.closed:
            raise Dropped()

    async def _recover(self, cli: Shell, lines: list[Line], body: list[Line], typed: Typed) -> None:
        """Type-ahead was lost, and the echoes say exactly what the switch ran instead. From now on this switch is
        driven line by line: back to the exec prompt, then the whole batch again (every line sets a value, none
        toggles one, so what ran twice ran once). Lines the switch ran and accepted that were never sent fail the
        batch, named, with what they left on the ports they name."""
        self.lost_type_ahead = True
        strays = typed.unexpected(self.dialect, lines)
        if typed.closed:
            if strays:
                raise CliError(self.switch.name, _stray_sentence(strays, {}, redone=False), strays[0])
            raise Redo()  # nothing but the batch's own lines ran: again, line by line, on a new session
        await self._abort(cli)
        try:
            await self._line_by_line(cli, body)
        except CliError as exc:
            if not strays:
                raise
            reason = f"{exc.reason}; and {_stray_sentence(strays, {})}"
            raise CliError(
                self.switch.name, reason, exc.command, ports=exc.ports, refusals=exc.refusals
            ) from None
        if strays:
            states = await self._stray_states(cli, strays)
            raise CliError(self.switch.name, _stray_sentence(strays, states), strays[0])

    async def _stray_states(self, cli: Shell, strays: list[str]) -> dict[str, PortState | None]:
        """What the ports that stray lines name hold now (None: the switch would not show it)."""
        states: dict[str, PortState | None] = {}
        for port in self._named_ports(strays):
            try:
                states[port] = (await self._show(cli, [port]))[port]
            except CliError:
                states[port] = None
        return states

    def _named_ports(self, strays: list[str]) -> list[str]:
        """The ports stray lines name where the dialect's port lines name one (in the order of the lines)."""
        ports: list[str] = []
        for template in self.dialect.set_access:
            if "{port}" not in template:
                continue
            pattern = re.escape(template).replace(re.escape("{port}"), r"(?P<port>\S+)")
            pattern = pattern.replace(re.escape("{vlan}"), r"\d+")
            for stray in strays:
                m = re.fullmatch(pattern, stray)
                if m and _PORT.fullmatch(m["port"]) and m["port"] not in ports:
                    ports.append(m["port"])
        return ports

    def _silent(self, exc: Silent, timeout: float) -> SwitchTimeout:
        if exc.lost:
            self.lost_type_ahead = True  # the retry this timeout invites goes line by line
        port = exc.line.port
        return SwitchTimeout(
            self.switch.name,
            f"no answer to `{exc.line.text}` within {timeout:g} s",
            ports=[port] if port else (),
        )

    def _refused(self, refusals: Sequence[Refusal], *, every_port: bool = False) -> CliError:
        """The first refusal as the batch's error. Its port is the one at fault; with ``every_port`` (lines that
        do not depend on each other, as in a load) every refused line's port is."""
        first = refusals[0]
        named = [r.port for r in refusals if r.port] if every_port else [first.port] if first.port else []
        return CliError(
            self.switch.name, first.reason, first.command, ports=list(dict.fromkeys(named)), refusals=refusals
        )

    async def _load(self, cli: Shell, body: list[Line], window: int) -> None:
        """Junos: the whole batch as one terminal load, checked (its echoes, the load's errors), then committed: five
        round trips whatever the batch's size (configure, the load command, its lines, ^D, the commit). A lost echo
        costs a rollback of the candidate (nothing of it applied) and the batch again, line by line."""
        d = self.dialect
        timeout = self._seconds("command_timeout", 30)
        for command in d.config_enter:
            await self._send(cli, command, timeout)
        try:
            loaded = await self._load_lines(cli, body, window, timeout)
            if not loaded.lost:
                if loaded.refusals:
                    raise self._refused(loaded.refusals, every_port=True)
                for command in d.commit:
                    await self._commit(cli, command, _ports(body))
                for command in d.config_exit:
                    await self._send(cli, command, timeout)
                return
        except CliError:
            await self._abort(cli)
            raise
        await self._abort(cli)  # rollback 0: the candidate holds who knows what
        self.lost_type_ahead = True
        await self._line_by_line(cli, body)

    async def _load_lines(self, cli: Shell, body: list[Line], window: int, timeout: float) -> Loaded:
        """Into the load, then the lines. The commands before the lines are typed one at a time: a line typed while
        the CLI waits is never dropped, and no sync line could find where a cut load command left the CLI."""
        d = self.dialect
        for command in d.load[:-1]:
            await self._send(cli, command, timeout)
        try:
            cli.write(d.load[-1] + "\n")
            ready, answer = await cli.expect(d.load_ready, 1, timeout)
        except TimeoutError:
            raise SwitchTimeout(
                self.switch.name, f"no answer to `{d.load[-1]}` within {timeout:g} s"
            ) from None
        if not ready:
            reason = (
                error_reason(d, answer) or f"the switch did not read the terminal: {answer.strip()[-200:]}"
            )
            raise CliError(self.switch.name, reason, d.load[-1])
        try:
            return await Load(cli, body, window, timeout).run()
        except Silent as exc:
            raise self._silent(exc, timeout) from None

    async def _commit(self, cli: Shell, command: str, ports: Sequence[str]) -> None:
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

    # reading

    async def _show(self, cli: Shell, wanted: Sequence[str]) -> dict[str, PortState]:
        """The state of ``wanted`` (checked names) as the switch shows them, one show per port or one for all."""
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
        answers = await self._shows_typed_ahead(cli, commands, timeout)
        if answers is None:
            answers = [await self._send(cli, c, timeout, p) for c, p in commands.items()]
        seen = parse_ports(self.dialect, "\n".join(answers))
        by_key = {port_key(p): s for p, s in seen.items()}
        return {p: seen.get(p) or by_key.get(port_key(p)) or PortState(None) for p in wanted}

    async def _shows_typed_ahead(
        self, cli: Shell, commands: Mapping[str, list[str]], timeout: float
    ) -> list[str] | None:
        """The answers to several shows typed ahead (one round trip), or None to send them one at a time (one show,
        line by line, or type-ahead found lost on the way: nothing was changed, the shows simply go again)."""
        if len(commands) < 2 or not self.typing_ahead or not cli.echoes or not self.dialect.sync:
            return None
        lines = [Line(c, ports[0] if len(ports) == 1 else "") for c, ports in commands.items()]
        self.sent += len(lines)
        try:
            typed = await TypeAhead(cli, lines, self.type_ahead, timeout).run()
        except Silent as exc:
            raise self._silent(exc, timeout) from None
        if typed.lost:
            self.lost_type_ahead = True
            return None
        if typed.refusals:
            first = typed.refusals[0]
            raise CliError(self.switch.name, first.reason, first.command, ports=commands[first.command])
        if typed.closed:
            raise Dropped()
        return typed.answers

    # the contract

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        wanted = [check_port(self.switch.name, p) for p in ports]
        if not wanted:
            return {}

        async def show(cli: Shell) -> dict[str, PortState]:
            return await self._show(cli, wanted)

        return await self._session.run(show)

    async def apply(self, changes: Sequence[PortChange]) -> None:
        body = self._port_lines(changes)
        if not body:
            return

        async def configure(cli: Shell) -> None:
            await self._configure(cli, body)

        await self._session.run(configure)

    async def ensure_vlan(self, tag: int, name: str) -> None:
        body = self._vlan_lines(tag, name)
        present = self.dialect.vlan_present.replace("{vlan}", str(tag))

        async def ensure(cli: Shell) -> None:
            answer = await self._send(
                cli, self.dialect.show_vlan.format(vlan=tag), self._seconds("command_timeout", 30)
            )
            if not re.search(present, answer, re.M):
                await self._configure(cli, body)

        await self._session.run(ensure)

    async def read_fdb(self) -> FdbTable:
        """The vendor CLI's MAC address table (see ``cli_monitor``), its ports named as the inventory does."""
        monitor = MONITORS.get(self.dialect.name)
        if monitor is None:
            return FdbTable(missing=f"the {self.dialect.name} dialect shows no MAC address table")
        timeout = self._seconds("command_timeout", 30)

        async def show(cli: Shell) -> list[str]:
            return [await self._send(cli, command, timeout) for command in monitor.macs]

        answers = await self._session.run(show)
        known = {port_key(p): p for p in self.context.cabled}
        return FdbTable(tuple(parse_macs(monitor, "\n".join(answers), known)))

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        """Each port's ``show interfaces`` (typed ahead where the switch takes it): link, speed, counters; a port
        the switch refuses is refused alone, with the switch's words."""
        monitor = MONITORS.get(self.dialect.name)
        if monitor is None:
            return await super().read_counters(ports)
        wanted = [check_port(self.switch.name, p) for p in ports]
        commands = {monitor.counters.format(port=p): [p] for p in wanted}
        timeout = self._seconds("command_timeout", 30)

        async def show(cli: Shell) -> dict[str, PortCounters]:
            with contextlib.suppress(CliError):  # one port refused: each is asked alone below
                answers = await self._shows_typed_ahead(cli, commands, timeout)
                if answers is not None:
                    return {p: parse_counters(monitor, a) for p, a in zip(wanted, answers, strict=True)}
            return {p: await self._counters_of(cli, monitor, p, timeout) for p in wanted}

        return await self._session.run(show)

    async def _counters_of(self, cli: Shell, monitor: CliMonitor, port: str, timeout: float) -> PortCounters:
        try:
            answer = await self._send(cli, monitor.counters.format(port=port), timeout, [port])
        except CliError as exc:
            return PortCounters(refused=f"cannot be shown by the switch: {exc.reason}")
        return parse_counters(monitor, answer)

    async def close(self) -> None:
        await self._session.close()


def _ports(body: Sequence[Line]) -> list[str]:
    return sorted({line.port for line in body if line.port})


def _stray_sentence(
    strays: Sequence[str], states: Mapping[str, PortState | None], *, redone: bool = True
) -> str:
    """What lost type-ahead made the switch run, what the ports those lines name hold now, what was done about it."""
    shown = ", ".join(f"`{s}`" for s in strays[:6]) + (
        f" and {len(strays) - 6} more" if len(strays) > 6 else ""
    )
    held = "; ".join(f"{port} {_holds(state)}" for port, state in states.items())
    then = (
        "the batch was sent again line by line"
        if redone
        else "the switch then hung up, and the batch was not sent again"
    )
    return (
        f"the switch dropped type-ahead and ran lines never sent: {shown}{f' ({held})' if held else ''}; {then};"
        " this switch gets one line at a time from now on (set type_ahead = 0 in its options to keep it so): check"
        " what those lines changed"
    )


def _holds(state: PortState | None) -> str:
    if state is None:
        return "could not be read"
    return "is a trunk" if state.trunk else f"is in VLAN {state.tag}"
