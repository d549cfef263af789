"""What a lab made, recorded as it is made (namespaces, links, processes, files), and how to undo each of them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .topology import LabError

STATE_FILE = "lab.json"
NETNS_DIR = Path("/run/netns")
STOP_SECONDS = 3.0

# children this process started, so that stopping them also reaps them (no zombies left behind)
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class Proc:
    name: str
    """What it is, e.g. ``sshd suno-1``."""
    pid: int
    start: int
    """Start time in clock ticks since boot (/proc/PID/stat field 22): tells the process from a later one with its pid."""
    netns: str = ""


@dataclass
class LabState:
    path: Path
    prefix: str
    inventory: str = ""
    phase: str = "building"
    sites: list[str] = field(default_factory=list)
    """The sites of the testbed the lab builds, home first (empty: the testbed's first site)."""
    api: bool = False
    """Remote mode: each site's frontend runs kavlan-api (kavlan-lab up --api)."""
    created_state_dir: bool = False
    namespaces: list[str] = field(default_factory=list)
    links: list[list[str]] = field(default_factory=list)
    """[netns, link] of the end each veth pair was created from."""
    processes: list[Proc] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Paths made (files or directories, removed recursively), in the order made."""
    host_dirs: list[str] = field(default_factory=list)
    """Directories of the machine that did not exist before (/etc/netns, /run/mount): removed when left empty."""
    started: float = field(default_factory=time.time)

    def save(self) -> None:
        data = asdict(self)
        data["path"] = str(self.path)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> LabState:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read the lab state {path}: {exc}") from None
        data["path"] = path
        data["processes"] = [Proc(**p) for p in data.get("processes", [])]
        return cls(**data)

    def made_file(self, path: Path) -> Path:
        if str(path) not in self.files:
            self.files.append(str(path))
            self.save()
        return path

    def made_namespace(self, name: str) -> None:
        self.namespaces.append(name)
        self.save()

    def made_links(self, links: Iterable[tuple[str, str]]) -> None:
        self.links += [[ns, name] for ns, name in links]
        self.save()

    def made_process(
        self, name: str, pid: int, netns: str = "", child: subprocess.Popen[bytes] | None = None
    ) -> Proc:
        if child is not None:
            _children[pid] = child
        proc = Proc(name, pid, start_time(pid) or 0, netns)
        self.processes.append(proc)
        self.save()
        return proc


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold blanks and parentheses: split after its closing one
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def alive(proc: Proc) -> bool:
    """The recorded process still runs (same pid, same start time) and is not a zombie."""
    st = start_time(proc.pid)
    if st is None or st != proc.start:
        return False
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{proc.pid}/stat").read_text()
        return status[status.rindex(")") + 2] != "Z"
    return False


def _reap(pid: int) -> None:
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(0.2)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(procs: Iterable[Proc]) -> list[Proc]:
    """SIGTERM each live one, SIGKILL what still runs after a bounded wait, reap our own children; returns survivors."""
    live = [p for p in procs if alive(p)]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        for p in live:
            _reap(p.pid)
        live = [p for p in live if alive(p)]
        if not live:
            return []
        time.sleep(0.05)
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_SECONDS
    while live and time.monotonic() < deadline:
        for p in live:
            _reap(p.pid)
        live = [p for p in live if alive(p)]
        time.sleep(0.05)
    return live


def namespace_inodes(names: Iterable[str]) -> dict[tuple[int, int], str]:
    out = {}
    for name in names:
        with contextlib.suppress(OSError):
            st = (NETNS_DIR / name).stat()
            out[(st.st_dev, st.st_ino)] = name
    return out


def _ancestors() -> set[int]:
    out, pid = set(), os.getpid()
    for _ in range(256):  # bounded walk up to init
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if pid <= 1:
            break
    return out


def processes_in(namespaces: Iterable[str]) -> Iterator[Proc]:
    """Every process living in one of these network namespaces (this process and its ancestors excepted)."""
    inodes = namespace_inodes(namespaces)
    if not inodes:
        return
    mine = _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            st = (entry / "ns" / "net").stat()
        except OSError:
            continue
        ns = inodes.get((st.st_dev, st.st_ino))
        if ns is not None:
            pid = int(entry.name)
            yield Proc(_comm(pid), pid, start_time(pid) or 0, ns)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def lab_namespaces(prefix: str) -> list[str]:
    """The network namespaces that carry the lab's prefix."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    except OSError:
        return []


def as_dict(state: LabState) -> dict[str, Any]:
    data = asdict(state)
    data["path"] = str(state.path)
    return data
