"""Removing a lab: stop its processes, delete its namespaces (their links go with them), remove its files."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import system
from .state import NETNS_DIR, alive, lab_namespaces, processes_in, stop
from .topology import LabError

if TYPE_CHECKING:
    from .builder import Lab

ETC_NETNS = Path("/etc/netns")


@dataclass
class DownReport:
    processes: int = 0
    namespaces: list[str] = field(default_factory=list)
    files: int = 0
    leftovers: list[str] = field(default_factory=list)


def down(lab: Lab) -> DownReport:
    """Remove everything the lab made, from its state file, its prefix and its topology; safe to run twice."""
    report = DownReport()
    state = lab.state
    known = set(state.namespaces) if state else set()
    with contextlib.suppress(Exception):
        known |= set(lab.topology.namespaces)
    namespaces = sorted({ns for ns in known if (NETNS_DIR / ns).exists()} | set(lab_namespaces(lab.prefix)))
    recorded = state.processes if state else []
    live = {p.pid: p for p in [*recorded, *processes_in(namespaces)] if alive(p)}
    report.processes = len(live)
    survivors = stop(live.values())
    survivors += stop(list(processes_in(namespaces)))  # anything started meanwhile (sessions, at jobs)
    report.leftovers += [f"process {p.pid} ({p.name}) survived SIGKILL" for p in survivors]
    for ns in namespaces:
        try:
            system.run(["ip", "netns", "del", ns])
            report.namespaces.append(ns)
        except LabError as exc:
            report.leftovers.append(str(exc))
    etc = {str(ETC_NETNS / ns) for ns in known | set(namespaces)}
    with contextlib.suppress(OSError):
        etc |= {str(p) for p in ETC_NETNS.iterdir() if p.name.startswith(lab.prefix)}
    paths = [*(reversed(state.files) if state else []), *sorted(etc)]
    for raw in dict.fromkeys(paths):
        path = Path(raw)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                report.files += 1
            elif path.exists() or path.is_symlink():
                path.unlink()
                report.files += 1
        except OSError as exc:
            report.leftovers.append(f"cannot remove {path}: {exc.strerror}")
    for raw in state.host_dirs if state else []:
        with contextlib.suppress(OSError):
            Path(raw).rmdir()  # only when nothing else lives there
    if state is not None:
        if state.created_state_dir:
            shutil.rmtree(lab.dir, ignore_errors=True)
        else:
            for leftover in (state.path, state.path.with_name(state.path.name + ".tmp")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
    return report
