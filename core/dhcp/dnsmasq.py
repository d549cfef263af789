"""One real dnsmasq per (site, VLAN), run in a network namespace: start, stop, state, leases, reload; all files under a state dir."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ..errors import Unavailable
from ..inventory import Inventory
from ..reports import Lease
from . import config

DhcpState = Literal["on", "off", "failed"]
ON: Final = "on"
OFF: Final = "off"
FAILED: Final = "failed"


class DnsmasqError(Unavailable):
    """A dnsmasq could not be started or stopped; the message says which and why (the testbed cannot do it now:
    the API answers 409 with this sentence, as the face would say it embedded)."""


@dataclass(frozen=True, slots=True)
class ServerFiles:
    """Where the dnsmasq of one VLAN keeps its files."""

    directory: Path
    conf: Path
    pid: Path
    leases: Path
    hosts: Path
    """``dhcp-hostsfile``: re-read on SIGHUP."""
    addnhosts: Path
    """``addn-hosts`` (DNS names, when DNS is on): re-read on SIGHUP."""
    log: Path
    errors: Path
    """dnsmasq's stderr at start (why it refused to start)."""
    lock: Path


def parse_leases(text: str) -> list[Lease]:
    """Parse a dnsmasq lease file; skips the DHCPv6 ``duid`` line and anything malformed."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 5 or fields[0] == "duid":
            continue
        try:
            expiry = int(fields[0])
        except ValueError:
            continue
        hostname, client_id = ("" if f == "*" else f for f in fields[3:5])
        out.append(Lease(expiry, fields[1].lower(), fields[2], hostname, client_id))
    return out


class DnsmasqManager:
    """Manages the dnsmasq servers whose files live under ``state_dir``; holds no other state.

    Calls block (a start waits for dnsmasq to daemonise, at most ``start_timeout`` seconds): from
    asyncio code run them in a thread. dnsmasq daemonises itself, so a server outlives the process
    that started it; its pid file is the only record of it.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        dnsmasq: str = "dnsmasq",
        ip: str = "ip",
        user: str | None = None,
        start_timeout: float = 5.0,
        stop_timeout: float = 3.0,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.dnsmasq = dnsmasq
        self.ip = ip
        self.user = user
        """dnsmasq's ``--user``. None: its own default (Debian: nobody) when that user can reach the state
        dir, else root; dnsmasq re-reads the hosts files as that user on SIGHUP."""
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout

    # --- files --------------------------------------------------------------------------

    def files(self, site: str, vlan_id: int) -> ServerFiles:
        d = self.state_dir / f"kavlan-{vlan_id}-{site}"
        return ServerFiles(
            directory=d,
            conf=d / "dnsmasq.conf",
            pid=d / "dnsmasq.pid",
            leases=d / "dnsmasq.leases",
            hosts=d / "dhcp-hosts",
            addnhosts=d / "addn-hosts",
            log=d / "dnsmasq.log",
            errors=d / "start.err",
            lock=d / ".lock",
        )

    @contextlib.contextmanager
    def _locked(self, files: ServerFiles) -> Iterator[None]:
        # serialise start/stop of one server across processes (two `kavlan -e` at once)
        files.directory.mkdir(parents=True, exist_ok=True)
        with open(files.lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- process checks -----------------------------------------------------------------

    def _read_pid(self, files: ServerFiles) -> int | None:
        try:
            text = files.pid.read_text().strip()
        except OSError:
            return None
        try:
            pid = int(text)
        except ValueError:
            return -1  # a pid file we cannot read counts as a dead server
        return pid if pid > 0 else -1

    def _is_ours(self, pid: int, files: ServerFiles) -> bool:
        """True when ``pid`` is alive and is the dnsmasq started with our conf file (not a recycled pid)."""
        if pid <= 0:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # a killed daemon may linger as a zombie until init reaps it
        if stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"]):
            return False
        args = [a.decode(errors="replace") for a in argv if a]
        return bool(args) and os.path.basename(args[0]) == "dnsmasq" and f"--conf-file={files.conf}" in args

    def pid(self, site: str, vlan_id: int) -> int | None:
        """The pid of the running dnsmasq of this VLAN, or None."""
        files = self.files(site, vlan_id)
        pid = self._read_pid(files)
        return pid if pid is not None and self._is_ours(pid, files) else None

    def state(self, site: str, vlan_id: int) -> DhcpState:
        """``on`` (running), ``off`` (stopped), ``failed`` (a pid file but no such dnsmasq: it died)."""
        files = self.files(site, vlan_id)
        pid = self._read_pid(files)
        if pid is None:
            return OFF
        return ON if self._is_ours(pid, files) else FAILED

    # --- start, reload, stop ------------------------------------------------------------

    def _write_hosts(self, files: ServerFiles, p: config.VlanDhcp, dns: bool) -> None:
        _write(files.hosts, config.dnsmasq_hostsfile(p))
        if dns:
            _write(files.addnhosts, config.dnsmasq_addnhosts(p))

    def start(
        self,
        inventory: Inventory,
        site: str,
        vlan_id: int,
        *,
        interface: str,
        netns: str | None = None,
        next_server: str | ipaddress.IPv4Address | None = None,
        dns: bool = False,
    ) -> DhcpState:
        """Start the dnsmasq of VLAN ``vlan_id`` of ``site`` on ``interface`` inside ``netns`` (None: this namespace).

        A second start while it runs changes nothing. Returns ``on``; raises DnsmasqError with dnsmasq's reason.
        """
        p = config.plan(inventory, site, vlan_id, next_server)
        files = self.files(site, vlan_id)
        with self._locked(files):
            if self.state(site, vlan_id) == ON:
                return ON
            self._write_files(files, p, interface, dns)
            where = f"the DHCP server of VLAN {vlan_id} of {site}"
            self._launch(self._command(files, netns), files, where)
            deadline = time.monotonic() + self.start_timeout
            while (state := self.state(site, vlan_id)) != ON:
                if state == FAILED or time.monotonic() > deadline:
                    raise DnsmasqError(f"{where} exited right after starting; see {files.log}")
                time.sleep(0.02)
            return ON

    def _write_files(self, files: ServerFiles, p: config.VlanDhcp, interface: str, dns: bool) -> None:
        """The configuration and hosts files of a server about to start (a dead server's pid file removed)."""
        files.pid.unlink(missing_ok=True)
        if not dns:
            files.addnhosts.unlink(missing_ok=True)
        self._write_hosts(files, p, dns)
        _write(
            files.conf,
            config.dnsmasq_from_plan(
                p,
                interface=interface,
                leasefile=files.leases,
                dns=dns,
                hostsfile=files.hosts,
                addnhosts=files.addnhosts if dns else None,
                log_file=files.log,
            ),
        )

    def _command(self, files: ServerFiles, netns: str | None) -> list[str]:
        """The dnsmasq command line, inside ``netns`` when one is given."""
        cmd = [self.dnsmasq, f"--conf-file={files.conf}", f"--pid-file={files.pid}"]
        user = self.user
        if user is None and not _searchable_by_all(files.directory):
            user = "root"  # dnsmasq's own user could not re-read the hosts files on SIGHUP
        if user is not None:
            cmd.append(f"--user={user}")
        if netns is not None:
            cmd = [self.ip, "netns", "exec", netns, *cmd]
        return cmd

    def _launch(self, cmd: list[str], files: ServerFiles, where: str) -> None:
        """Run dnsmasq until it daemonises; raises DnsmasqError with dnsmasq's reason when it refuses to start."""
        # stderr to a file, not a pipe: the daemon must not hold our pipe open
        with open(files.errors, "w") as err:
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    timeout=self.start_timeout,
                    check=False,
                )
            except FileNotFoundError:
                raise DnsmasqError(f"cannot start {where}: {cmd[0]} is not installed") from None
            except subprocess.TimeoutExpired:
                raise DnsmasqError(f"{where} did not start within {self.start_timeout:g} s") from None
        if proc.returncode != 0:
            reason = _last_line(files.errors) or f"exit status {proc.returncode}"
            files.pid.unlink(missing_ok=True)
            raise DnsmasqError(f"cannot start {where}: {reason}")

    def reload(self, inventory: Inventory, site: str, vlan_id: int) -> bool:
        """Rewrite the hosts files from ``inventory`` and have the running dnsmasq re-read them (SIGHUP).

        Returns False when the server is not running. Subnet-wide settings (next-server, interface) need a restart.
        """
        files = self.files(site, vlan_id)
        p = config.plan(inventory, site, vlan_id)
        with self._locked(files):
            pid = self.pid(site, vlan_id)
            if pid is None:
                return False
            self._write_hosts(files, p, files.addnhosts.exists())
            os.kill(pid, signal.SIGHUP)
            return True

    def stop(self, site: str, vlan_id: int) -> DhcpState:
        """Stop the dnsmasq of this VLAN (only the process our pid file names, if it is our dnsmasq). Returns ``off``."""
        files = self.files(site, vlan_id)
        if not files.directory.exists():
            return OFF
        with self._locked(files):
            pid = self._read_pid(files)
            if pid is not None and self._is_ours(pid, files):
                _signal(pid, signal.SIGTERM)
                deadline = time.monotonic() + self.stop_timeout
                while self._is_ours(pid, files) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if self._is_ours(pid, files):
                    _signal(pid, signal.SIGKILL)
                    deadline = time.monotonic() + self.stop_timeout
                    while self._is_ours(pid, files) and time.monotonic() < deadline:
                        time.sleep(0.02)
                    if self._is_ours(pid, files):
                        raise DnsmasqError(
                            f"the DHCP server of VLAN {vlan_id} of {site} (pid {pid}) does not stop"
                        )
            files.pid.unlink(missing_ok=True)
            return OFF

    # --- leases -------------------------------------------------------------------------

    def leases(self, site: str, vlan_id: int) -> list[Lease]:
        """The leases the dnsmasq of this VLAN has handed out (empty when it never ran)."""
        try:
            text = self.files(site, vlan_id).leases.read_text()
        except OSError:
            return []
        return parse_leases(text)


def _write(path: Path, text: str) -> None:
    # readable by the user dnsmasq drops to, who re-reads the hosts files on SIGHUP
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)


def _searchable_by_all(directory: Path) -> bool:
    """True when every directory from / down to ``directory`` lets any user through."""
    for d in [directory, *directory.parents]:
        try:
            if not d.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("dnsmasq: ") if lines else ""
