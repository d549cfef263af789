"""One SSH connection to a switch and the vendor CLI on it: logged in and set up on first use, opened again when the
switch hung up, dropped when its state is unknown; one piece of work at a time."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncssh

from ..model import Switch
from .base import SwitchError, SwitchTimeout
from .cli_dialects import Dialect
from .cli_shell import CliError, Dropped, Garbled, Shell

_T = TypeVar("_T")


class Redo(Dropped):
    """Raised by a piece of work: run it again on a new session (the switch hung up, and running the work twice is
    running it once)."""


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """Host and port from an inventory address: "host", "host:port", "[v6]" or "[v6]:port"."""
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", address)
    if m:
        return m[1], int(m[2]) if m[2] else default_port
    host, sep, port = address.rpartition(":")
    if sep and host and ":" not in host and port.isdigit():
        return host, int(port)
    return address, default_port


class SshSession:
    """The connection and its one shell, for one switch, until ``close()``. ``setup`` runs once on each new shell
    (the dialect's setup commands)."""

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any],
        dialect: Dialect,
        setup: Callable[[Shell], Awaitable[None]],
    ) -> None:
        self.switch = switch
        self.credentials = credentials
        self.dialect = dialect
        self._setup = setup
        self._conn: asyncssh.SSHClientConnection | None = None
        self._cli: Shell | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    def _opt(self, key: str, default: Any) -> Any:
        return self.switch.options.get(key, default)

    def _seconds(self, key: str, default: float) -> float:
        return float(self._opt(key, default))

    async def _connect(self) -> None:
        username = self.credentials.get("username")
        if not username:
            raise SwitchError(self.switch.name, "no username in this switch's credentials")
        host, port = split_address(self.switch.address or self.switch.name, int(self._opt("port", 22)))
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
                # password first: one round trip where keyboard-interactive takes two (and is still tried)
                preferred_auth="password,keyboard-interactive",
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
    ) -> Shell:
        """An interactive CLI on the connection, at its first prompt, with the dialect's setup commands run (their
        echoes say whether the CLI echoes what it runs, their answers how quick it is)."""
        try:
            async with asyncio.timeout(timeout):
                process = await conn.create_process(
                    term_type="vt100", term_size=(511, 24), encoding="utf-8", errors="replace"
                )
                cli = Shell(process, self.dialect)
                await cli.start(timeout)
            await self._setup(cli)
        except TimeoutError:
            raise SwitchTimeout(
                self.switch.name, f"no CLI prompt from {host}:{port} within {timeout:g} s"
            ) from None
        except asyncssh.Error as exc:
            raise SwitchError(
                self.switch.name, f"cannot open a CLI session on {host}:{port}: {exc}"
            ) from None
        return cli

    async def _session(self) -> Shell:
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

    async def run(self, work: Callable[[Shell], Awaitable[_T]]) -> _T:
        """Run ``work`` on the session, reconnecting once if a session kept from an earlier call turns out dead."""
        async with self._guard():
            reused = self._cli is not None and not self._cli.closed
            cli = await self._session()
            try:
                return await work(cli)
            except Redo:
                pass
            except (
                Dropped,
                asyncssh.ConnectionLost,
                asyncssh.ChannelOpenError,
                BrokenPipeError,
                ConnectionResetError,
            ):
                if not reused:
                    raise
            # the switch hung up between two calls (idle timeout, reload): what we sent went nowhere; or it hung up
            # after dropping type-ahead: the echoes say it ran nothing but the batch's lines. Every batch is
            # idempotent, so one more go on a fresh connection is safe (line by line, after lost type-ahead)
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
                raise  # refused, and the session was brought back to the exec prompt (or hung up)
            except SwitchError:
                await self._drop()
                raise
            except Garbled as exc:
                await self._drop()
                raise SwitchError(self.switch.name, str(exc)) from None
            except Dropped:
                await self._drop()
                raise SwitchTimeout(self.switch.name, "the SSH session was closed by the switch") from None
            except (asyncssh.Error, OSError) as exc:
                await self._drop()
                raise SwitchTimeout(self.switch.name, f"SSH connection lost: {exc}") from None

    async def close(self) -> None:
        """Leave the CLI and hang up."""
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
