"""Commands the lab runs on this machine: ip, sysctl, ssh-keygen, processes started in namespaces; bounded waits."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .topology import LabError

REQUIRED = {
    "ip": "iproute2",
    "ss": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setpriv": "util-linux",  # the frontend's user: root dropped (core/lab/frontend.py)
    "mount": "mount",
    "hostname": "hostname",
    "dnsmasq": "dnsmasq-base",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "busybox": "busybox",
    "sysctl": "procps",
    "nc": "netcat-openbsd",  # the gateways': the tutorial's ProxyCommand ssh -a -x kavlan-N nc -q 0 %h %p
}
SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DAEMON_ENV = {"PATH": SBIN, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root", "LOGNAME": "root"}
TIMEOUT = 30.0


def which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path=SBIN)


def missing_tools() -> list[str]:
    """``program (package)`` for each required program this machine lacks."""
    return [f"{p} ({pkg})" for p, pkg in REQUIRED.items() if which(p) is None]


def run(cmd: Sequence[str], *, stdin: str | None = None, timeout: float = TIMEOUT, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            list(cmd),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**DAEMON_ENV},
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise LabError(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(cmd[:5])} took longer than {timeout:g} s") from None
    if check and proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"{' '.join(cmd[:6])}: {reason[-1] if reason else f'exit status {proc.returncode}'}")
    return proc.stdout


def ip(netns: str, *args: str, check: bool = True) -> str:
    return run(["ip", "-n", netns, *args], check=check)


def ip_batch(netns: str, lines: Sequence[str]) -> None:
    if lines:
        run(["ip", "-n", netns, "-batch", "-"], stdin="\n".join(lines) + "\n")


def ip_json(netns: str, *args: str) -> list[dict[str, Any]]:
    out = ip(netns, "-j", *args, check=False)
    try:
        data = json.loads(out or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def sysctl(netns: str, values: dict[str, str]) -> None:
    run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])


def spawn(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a long-lived process in its own session, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**DAEMON_ENV, **(env or {})},
                start_new_session=True,
            )
        except FileNotFoundError:
            raise LabError(f"{cmd[0]} is not installed") from None


def wait_until(
    what: str,
    ready: Callable[[], bool],
    seconds: float,
    step: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(step)
    if ready():
        return
    raise LabError(f"{what} within {seconds:g} s" + (f": {detail()}" if detail else ""))


def tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair without passphrase; returns the public key line."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()
