"""SSH to nodes, through a local VLAN's gateway when needed: connect, run, run on many nodes, interactive sessions."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import socket
import stat
import termios
import time
import tty
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import asyncssh

from ..errors import Unavailable
from ..model import LOCAL_IDS, VlanKind

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
"""The user's file, where a new key goes, then the system-wide one (Grid'5000 frontends list the nodes' there)."""
CHANNELS_PER_CONNECTION = 8
"""Channels kept in flight on one SSH connection: OpenSSH's MaxSessions is 10 by default; 8 leaves room."""
CLOSE_TIMEOUT = 2.0
"""Seconds to wait for a peer to acknowledge a close before leaving the connection to the event loop."""

PathArg = str | os.PathLike[str]
KnownHostsArg = PathArg | Sequence[PathArg]


class AccessError(Unavailable):
    """A node (or its gateway) could not be reached or logged into; the message is one sentence naming it."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(reason)
        self.host = host
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Gateway:
    """The SSH gateway of a local VLAN, ``kavlan-N``: the one host of that VLAN reachable from outside."""

    host: str
    port: int = 22
    username: str | None = None
    """None: the local user's name, as ``ssh kavlan-N`` would use."""
    address: str | None = None
    """Where to dial instead of ``host`` (the lab's address for it); ``host`` still selects the known_hosts entry."""


@dataclass(frozen=True, slots=True)
class Target:
    """A node to log into: its name, port and login, and the gateway to go through (local VLANs only)."""

    host: str
    port: int = 22
    username: str | None = "root"
    gateway: Gateway | None = None
    address: str | None = None
    """Where to dial instead of ``host`` (through the gateway: what the gateway is asked to connect to);
    ``host`` still names the node in reports and selects its known_hosts entry (as OpenSSH's HostKeyAlias)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one command did on one host; ``error`` says why it could not run (or finish) there."""

    host: str
    exit_status: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_status == 0


def route(
    hostname: str,
    vlan_kind: VlanKind,
    vlan_id: int,
    *,
    gateways: Mapping[int, Gateway] | None = None,
    username: str | None = "root",
    port: int = 22,
    address: str | None = None,
) -> Target:
    """How to reach ``hostname`` in VLAN ``vlan_id``: a local VLAN's nodes through its gateway ``kavlan-N``
    (``gateways`` gives known gateways by VLAN id; otherwise ``kavlan-N`` by name, port 22), others directly."""
    if vlan_kind is VlanKind.LOCAL:
        if vlan_id not in LOCAL_IDS:
            raise ValueError(
                f"VLAN {vlan_id} is not a local VLAN (local VLANs are {LOCAL_IDS.start}-{LOCAL_IDS.stop - 1})"
            )
        gateway = (gateways or {}).get(vlan_id) or Gateway(f"kavlan-{vlan_id}")
        return Target(hostname, port, username, gateway, address)
    return Target(hostname, port, username, None, address)


# --- options shared by every connection of one call --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    known_hosts: asyncssh.SSHKnownHosts
    """Every known_hosts file's entries together, as the connections check them."""
    files: tuple[tuple[str, asyncssh.SSHKnownHosts | None], ...]
    """Each file as the user named it (``~/.ssh/known_hosts``), with its entries (None: no such file)."""
    client_keys: Sequence[asyncssh.SSHKeyPair] | None
    connect_timeout: float


def _options(
    host: str, known_hosts: KnownHostsArg, client_keys: Sequence[PathArg] | None, connect_timeout: float
) -> _Options:
    """Files read and keys loaded once per call; ``host`` only names whom an AccessError is about."""
    names = (
        [os.fspath(known_hosts)]
        if isinstance(known_hosts, str | os.PathLike)
        else [os.fspath(f) for f in known_hosts]
    )
    if not names:
        raise ValueError("known_hosts names no file: host keys are always checked")
    files: list[tuple[str, asyncssh.SSHKnownHosts | None]] = []
    text: list[str] = []
    for name in names:
        path = Path(name).expanduser()
        if not path.exists():
            files.append((name, None))
            continue
        try:
            content = path.read_text()
            files.append((name, asyncssh.import_known_hosts(content)))
        except (OSError, ValueError) as exc:
            raise AccessError(host, f"cannot read the known_hosts file {name}: {_text(exc)}") from None
        text.append(content)
    keys: Sequence[asyncssh.SSHKeyPair] | None = None
    if client_keys is not None:
        paths = [str(Path(os.fspath(k)).expanduser()) for k in client_keys]
        try:
            keys = asyncssh.load_keypairs(paths)
        except (OSError, ValueError) as exc:
            raise AccessError(host, f"cannot load the SSH key {', '.join(paths)}: {_text(exc)}") from None
    return _Options(asyncssh.import_known_hosts("\n".join(text)), tuple(files), keys, connect_timeout)


def seconds_text(value: float) -> str:
    """A duration in the project's words: ``2 s``, ``1.5 s``, ``120 s`` (never ``1.46658 s``)."""
    return f"{value:.0f} s" if value >= 10 or value == int(value) else f"{value:.1f} s"


def _text(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.Error):
        return exc.reason
    if isinstance(exc, OSError) and exc.errno:
        # asyncio's own words are "Connect call failed ('10.64.0.11', 22)": the system's say what happened
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if not exc.filename else f"{exc.strerror}: {exc.filename}"
    if isinstance(
        exc, OSError
    ):  # several addresses tried: "Multiple exceptions: [Errno 111] Connect call failed..."
        return "the connection failed (refused or unreachable)"
    return str(exc) or type(exc).__name__


# --- one connection ------------------------------------------------------------------------------------------


async def _open(
    hop: Target | Gateway, opts: _Options, *, tunnel: asyncssh.SSHClientConnection | None = None
) -> asyncssh.SSHClientConnection:
    """One SSH connection (through ``tunnel`` when given), host key checked; every failure is an AccessError."""
    dial = hop.address or hop.host
    kwargs: dict[str, Any] = {
        "port": hop.port,
        "known_hosts": opts.known_hosts,
        # the route is explicit: a user's ~/.ssh/config (its ProxyCommand for *-kavlan-N) must not add a hop
        "config": None,
    }
    if hop.username:
        kwargs["username"] = hop.username
    if dial != hop.host:
        kwargs["host_key_alias"] = hop.host
    if tunnel is not None:
        kwargs["tunnel"] = tunnel
    if opts.client_keys is not None:
        # the keys given, and only them: an agent's keys would make tests and scripts depend on the session
        kwargs["client_keys"] = opts.client_keys
        kwargs["agent_path"] = None
    via = _gateway_name(tunnel)
    try:
        async with asyncio.timeout(opts.connect_timeout):
            conn = await asyncssh.connect(dial, **kwargs)
    except TimeoutError:
        where = f" through {via}" if via else ""
        raise AccessError(
            hop.host, f"no SSH answer from {hop.host}{where} within {seconds_text(opts.connect_timeout)}"
        ) from None
    except (asyncssh.Error, OSError, ValueError) as exc:
        raise AccessError(hop.host, _reason(exc, hop, opts, via)) from None
    conn.set_extra_info(kavlan_host=hop.host)
    return conn


def _gateway_name(conn: asyncssh.SSHClientConnection | None) -> str | None:
    if conn is None:
        return None
    return str(conn.get_extra_info("kavlan_host") or conn.get_extra_info("host") or "the gateway")


def _reason(exc: BaseException, hop: Target | Gateway, opts: _Options, via: str | None) -> str:
    """One sentence for a failed connection, naming the host and saying what to do."""
    host = hop.host
    dial = hop.address or hop.host
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return _host_key_reason(exc, hop, opts, via)
    if isinstance(exc, asyncssh.PermissionDenied):
        user = hop.username or _local_user()
        return f"SSH login as {user} on {host} was refused ({exc.reason}): is your public key in its authorized_keys?"
    if isinstance(exc, asyncssh.ChannelOpenError) and via:
        return (
            f"the gateway {via} could not open a connection to {dial} port {hop.port} ({exc.reason}): "
            f"is {host} up, and in that gateway's VLAN?"
        )
    if isinstance(exc, asyncssh.DisconnectError):
        return f"{host} closed the SSH connection during login: {exc.reason}"
    if isinstance(exc, asyncssh.Error):
        return f"SSH to {host} failed: {exc.reason}"
    if isinstance(exc, socket.gaierror):
        hint = "" if via else " (a node of a local VLAN is reached through its gateway kavlan-N)"
        return f"cannot resolve {dial}: {exc.strerror or exc}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing accepts SSH connections on {dial} port {hop.port} (connection refused): is {host} up, with sshd running?"
    if isinstance(exc, OSError):
        return f"cannot connect to {host} ({dial} port {hop.port}): {_text(exc)}"
    return f"cannot connect to {host}: {_text(exc)}"


def _host_key_reason(
    exc: asyncssh.HostKeyNotVerifiable, hop: Target | Gateway, opts: _Options, via: str | None
) -> str:
    host, port = hop.host, hop.port
    mine = opts.files[0][0]  # the user's own file: where a new key goes
    entry = host if port == 22 else f"[{host}]:{port}"
    scan = f"ssh-keyscan {host}" if port == 22 else f"ssh-keyscan -p {port} {host}"
    if via:
        scan = f"ssh {via} {scan}"  # the node's name resolves (and its sshd answers) only inside its VLAN
    if "revoked" in exc.reason:
        return f"host key of {host} is marked revoked in {_names(opts)}: refusing to connect"
    for name, known in opts.files:
        if known is not None and known.match(host, hop.address or "", port)[0]:
            return (
                f"host key of {host} does not match the one in {name}: if {host} was reinstalled (kadeploy gives "
                f"a node a new key), remove the old key with `ssh-keygen -R '{entry}' -f {name}` and add the new "
                f"one with `{scan} >> {mine}`; otherwise someone may be intercepting the connection"
            )
    missing = f" ({mine} does not exist yet)" if opts.files[0][1] is None else ""
    return f"host key of {host} is not in {_names(opts)}{missing}: add it with `{scan} >> {mine}` after checking its fingerprint"


def _names(opts: _Options) -> str:
    return " or ".join(name for name, _ in opts.files)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"


async def _close(conn: asyncssh.SSHClientConnection) -> None:
    conn.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await conn.wait_closed()


@contextlib.asynccontextmanager
async def _connect(target: Target, opts: _Options) -> AsyncIterator[asyncssh.SSHClientConnection]:
    async with contextlib.AsyncExitStack() as stack:
        tunnel = None
        if target.gateway is not None:
            tunnel = await _open(target.gateway, opts)
            stack.push_async_callback(_close, tunnel)
        conn = await _open(target, opts, tunnel=tunnel)
        stack.push_async_callback(_close, conn)
        yield conn


@contextlib.asynccontextmanager
async def connect(
    target: Target,
    *,
    known_hosts: KnownHostsArg = DEFAULT_KNOWN_HOSTS,
    client_keys: Sequence[PathArg] | None = None,
    connect_timeout: float = 10.0,
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An SSH connection to ``target``, tunnelled through its gateway's connection when it has one; both closed
    on exit. Host keys are checked against ``known_hosts``; ``client_keys`` None: ~/.ssh keys and the agent."""
    opts = _options(target.host, known_hosts, client_keys, connect_timeout)
    async with _connect(target, opts) as conn:
        yield conn


# --- commands -----------------------------------------------------------------------------------------------


async def _run_command(
    conn: asyncssh.SSHClientConnection,
    host: str,
    command: str,
    timeout: float | None,
    started: float,
    budget: float | None = None,
) -> RunResult:
    """``timeout``: seconds left for the command; ``budget``: the limit to name when it runs out."""
    try:
        done = await conn.run(
            command, check=False, timeout=timeout, stdin=asyncssh.DEVNULL, encoding="utf-8", errors="replace"
        )
    except asyncssh.TimeoutError as exc:
        return RunResult(
            host,
            None,
            _str(exc.stdout),
            _str(exc.stderr),
            time.monotonic() - started,
            f"the command on {host} was still running after {seconds_text(budget or timeout or 0)}: stopped waiting",
        )
    except asyncssh.ChannelOpenError as exc:
        return RunResult(
            host, None, seconds=time.monotonic() - started, error=f"{host} refused a session: {exc.reason}"
        )
    except (asyncssh.Error, OSError) as exc:
        return RunResult(
            host,
            None,
            seconds=time.monotonic() - started,
            error=f"the connection to {host} was lost while the command ran: {_text(exc)}",
        )
    seconds = time.monotonic() - started
    stdout, stderr = _str(done.stdout), _str(done.stderr)
    if done.exit_signal:
        name = done.exit_signal[0]
        return RunResult(
            host, None, stdout, stderr, seconds, f"the command on {host} was killed by signal {name}"
        )
    return RunResult(host, done.exit_status, stdout, stderr, seconds)


def _str(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


async def run(
    target: Target,
    command: str,
    *,
    known_hosts: KnownHostsArg = DEFAULT_KNOWN_HOSTS,
    client_keys: Sequence[PathArg] | None = None,
    connect_timeout: float = 10.0,
    timeout: float | None = None,
) -> RunResult:
    """Run ``command`` on ``target`` (stdin empty); never raises for an unreachable host: ``error`` says why."""
    started = time.monotonic()
    try:
        opts = _options(target.host, known_hosts, client_keys, connect_timeout)
        async with _connect(target, opts) as conn:
            return await _run_command(conn, target.host, command, timeout, started)
    except AccessError as exc:
        return RunResult(target.host, None, seconds=time.monotonic() - started, error=exc.reason)


class _GatewayPool:
    """One connection per gateway, shared by every node behind it, with a bound on the channels in flight."""

    def __init__(self, opts: _Options, channels: int) -> None:
        self.opts = opts
        self._channels = channels
        self._conns: dict[Gateway, asyncio.Task[asyncssh.SSHClientConnection]] = {}
        self._slots: dict[Gateway, asyncio.Semaphore] = {}

    def slots(self, gateway: Gateway) -> asyncio.Semaphore:
        return self._slots.setdefault(gateway, asyncio.Semaphore(self._channels))

    async def connection(self, gateway: Gateway) -> asyncssh.SSHClientConnection:
        task = self._conns.get(gateway)
        if task is None:
            task = asyncio.ensure_future(_open(gateway, self.opts))
            self._conns[gateway] = task
        # shielded: a node that gives up waiting must not cancel the connection its neighbours wait for
        return await asyncio.shield(task)

    async def close(self) -> None:
        for task in self._conns.values():
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if task.done() and not task.cancelled() and task.exception() is None:
                await _close(task.result())
        self._conns.clear()


async def run_many(
    targets: Iterable[Target],
    command: str,
    *,
    known_hosts: KnownHostsArg = DEFAULT_KNOWN_HOSTS,
    client_keys: Sequence[PathArg] | None = None,
    concurrency: int = 32,
    per_host_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    channels_per_connection: int = CHANNELS_PER_CONNECTION,
) -> list[RunResult]:
    """Run ``command`` on every target once, as taktuk does: duplicates dropped (an OAR nodefile lists a node once
    per core), at most ``concurrency`` hosts at a time, one result per host in input order, failures reported
    with their reason. Nodes behind one gateway share one connection to it, with at most
    ``channels_per_connection`` tunnels open on it at once. ``per_host_timeout`` bounds connect plus command."""
    if concurrency < 1 or channels_per_connection < 1:
        raise ValueError("concurrency and channels_per_connection must be at least 1")
    unique = list(dict.fromkeys(targets))
    if not unique:
        return []
    try:
        opts = _options(unique[0].host, known_hosts, client_keys, min(connect_timeout, per_host_timeout))
    except AccessError as exc:
        return [RunResult(t.host, None, error=exc.reason) for t in unique]
    hosts = asyncio.Semaphore(concurrency)
    pool = _GatewayPool(opts, channels_per_connection)
    try:
        return list(
            await asyncio.gather(*(_run_one(pool, hosts, t, command, per_host_timeout) for t in unique))
        )
    finally:
        await pool.close()


async def _run_one(
    pool: _GatewayPool, hosts: asyncio.Semaphore, target: Target, command: str, per_host_timeout: float
) -> RunResult:
    """``command`` on one target, within the bounds on hosts and channels; never raises: what went wrong is the
    result's error."""
    try:
        # a gateway's channel slot first, then a host slot: a node waiting for its gateway holds no host slot
        channel = pool.slots(target.gateway) if target.gateway is not None else contextlib.nullcontext()
        async with channel, hosts:
            return await _connect_and_run(pool, target, command, per_host_timeout)
    except Exception as exc:  # never skip a host silently, whatever went wrong
        return RunResult(target.host, None, error=f"unexpected failure on {target.host}: {exc!r}")


async def _connect_and_run(
    pool: _GatewayPool, target: Target, command: str, per_host_timeout: float
) -> RunResult:
    """Connect (through the target's gateway, on the pool's shared connection) and run, in ``per_host_timeout``."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(per_host_timeout):
            tunnel = await pool.connection(target.gateway) if target.gateway is not None else None
            conn = await _open(target, pool.opts, tunnel=tunnel)
    except AccessError as exc:
        return RunResult(target.host, None, seconds=time.monotonic() - started, error=exc.reason)
    except TimeoutError:
        return RunResult(
            target.host,
            None,
            seconds=time.monotonic() - started,
            error=f"no SSH answer from {target.host} within {seconds_text(per_host_timeout)}",
        )
    try:
        remaining = max(per_host_timeout - (time.monotonic() - started), 0.001)
        return await _run_command(conn, target.host, command, remaining, started, per_host_timeout)
    finally:
        await _close(conn)


# --- interactive sessions -----------------------------------------------------------------------------------


def terminal_size(fd: int) -> tuple[int, int]:
    """(columns, rows) of the terminal on ``fd``; 80x24 when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return (80, 24)
    return (size.columns or 80, size.lines or 24)


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Put the terminal on ``fd`` in raw mode (keys go to the remote side as typed); restore it on exit."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSADRAIN)  # as ssh does: keep what the user typed ahead
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def keep_blocking_mode(*fds: int) -> Iterator[None]:
    """Restore the blocking mode of ``fds``: asyncio makes its pipe ends non-blocking, and a dup shares that flag."""
    saved = [(fd, os.get_blocking(fd)) for fd in dict.fromkeys(fds)]
    try:
        yield
    finally:
        for fd, blocking in saved:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, blocking)


@contextlib.contextmanager
def forward_resize(resize: Callable[[int, int], None], fd: int) -> Iterator[None]:
    """Call ``resize(columns, rows)`` with the size of the terminal on ``fd`` on every SIGWINCH, in the running
    loop; the previous SIGWINCH handler is back on exit. Outside the main thread, nothing is forwarded."""
    loop = asyncio.get_running_loop()

    def apply() -> None:
        resize(*terminal_size(fd))

    def on_sigwinch(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(apply)

    try:
        previous = signal.signal(signal.SIGWINCH, on_sigwinch)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _input(fd: int) -> int:
    """What the session reads: a dup of ``fd``, or nothing when it is a device that cannot be polled (/dev/null,
    as a script or a test gives: the event loop refuses to watch it, and the session would end in a traceback)."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISCHR(mode) and not os.isatty(fd):
        return asyncio.subprocess.DEVNULL
    return os.dup(fd)


async def interactive(
    target: Target,
    *,
    known_hosts: KnownHostsArg = DEFAULT_KNOWN_HOSTS,
    client_keys: Sequence[PathArg] | None = None,
    connect_timeout: float = 10.0,
    command: str | None = None,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    term_type: str | None = None,
) -> int:
    """A login shell (or ``command``) on ``target`` on the user's terminal, as ``ssh`` gives: raw mode, the
    window size followed, the terminal restored after, even on error. Returns the remote exit status.
    From Textual: ``with app.suspend(): status = await interactive(target)``."""
    opts = _options(target.host, known_hosts, client_keys, connect_timeout)
    async with _connect(target, opts) as conn:
        is_tty = os.isatty(stdin_fd)
        options: dict[str, Any] = {"encoding": None}
        if is_tty:
            options["term_type"] = term_type or os.environ.get("TERM") or "xterm"
            options["term_size"] = terminal_size(stdout_fd)
        with keep_blocking_mode(stdin_fd, stdout_fd), raw_terminal(stdin_fd):
            try:
                process = await conn.create_process(command, **options)
            except asyncssh.ChannelOpenError as exc:
                raise AccessError(target.host, f"{target.host} refused a session: {exc.reason}") from None
            resizing = (
                forward_resize(process.change_terminal_size, stdout_fd)
                if is_tty
                else contextlib.nullcontext()
            )
            with resizing:
                # dups: asyncssh closes what it is given when the session ends, and the user's fds must stay open
                await process.redirect(
                    stdin=_input(stdin_fd), stdout=os.dup(stdout_fd), stderr=os.dup(stdout_fd)
                )
                done = await process.wait()
    if done.exit_status is not None and done.exit_status >= 0:
        return done.exit_status
    if done.returncode is not None and done.returncode < 0:
        return 128 - done.returncode  # killed by a signal, as a shell reports it
    return 255  # as ssh does when the session ends without an exit status
