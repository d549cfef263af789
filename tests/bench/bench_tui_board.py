"""kavlan-tui on 1,000 nodes: each key of the filter, each sort and grouping, to the frame that shows it; and the
start-up to the first frame, side by side with a baseline tree (``main`` by default) in the same run.

The testbed is bench_tui.py's (1,000 nodes, 21 VLANs seen from the home site, all in use). Run on demand (not by
the test suite), from a checkout:

    python tests/bench/bench_tui_board.py --runs 5                 # baseline: git's main
    python tests/bench/bench_tui_board.py --runs 5 --baseline HEAD~3
    KAVLAN_BENCH_PROFILE=/tmp/keys.prof python tests/bench/bench_tui_board.py --runs 1   # where a key's time goes

Each run is a fresh process on a pseudo-terminal (120x40, Textual's real Linux driver), as root, who sees the home
site's 21 VLANs and 1,000 nodes at start. The two trees run in turn (baseline, this checkout, baseline...), each
imported from a directory of its own (``git archive`` of the baseline), bytecode compiled by a warm-up run first.

In this checkout's runs, once the board is drawn: ``/`` opens the filter, then keys go in as a terminal sends them
(``c0x12-1`` narrowing to 11 nodes, seven Backspaces widening back to all, ``vlan:5``, Esc; then keys after an
unclosed range, which redraw the filter line alone: the floor), then ``o`` three times
(switch and port, state, name) and ``g`` three times (cluster, switch, VLAN). Each is timed from the key to the
first frame written after the board was arranged again (the frame that shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

T_START = time.time()
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from bench_tui import SIZE, environment, populate, testbed  # noqa: E402

TYPED = [*"c0x12-1", *["backspace"] * 7, *"vlan:5", "escape"]
"""The filter's keys: narrowing, widening back to every node, a field, then Esc (every node again)."""
FLOOR = [*"c0x12-[", "1", "2", "3"]
"""Keys after a range that does not close yet: the board stays, only the filter line changes (the count says the
range is open). Those after the ``[`` time what a key costs without the board: the floor of a filter key."""
ARRANGING = ["o", "o", "o", "g", "g", "g"]
"""Sort by switch and port, by state, by name; group by cluster, by switch, by VLAN."""


# --- the child: one kavlan-tui process in a pty -------------------------------------------------------


def child(result: Path) -> None:
    import kavlan_tui
    from kavlan_tui.app import KavlanApp

    out: dict[str, Any] = {"python_up_at": T_START, "package": str(Path(kavlan_tui.__file__).parent)}
    hooks: dict[str, Any] = {"applied": False, "frame": None}

    class BenchApp(KavlanApp):
        # Textual calls the handlers of every class of the app (KavlanApp's too): none here calls super()
        first = True

        def on_mount(self) -> None:
            from kavlan_tui.screens.main import MainScreen

            shown = MainScreen.show_board

            async def show_board(screen: Any, board: Any, seconds: float) -> None:
                await shown(screen, board, seconds)
                if self.first:
                    out["shown_at"] = time.time()
                    self.first = False
                    self.call_after_refresh(self.ready)

            MainScreen.show_board = show_board  # type: ignore[method-assign]
            arranging = getattr(MainScreen, "shown_arranged", None)
            if arranging is not None:  # this tree arranges the board: its redraws are timed

                def shown_arranged(screen: Any, arranged: Any) -> None:
                    arranging(screen, arranged)
                    hooks["applied"] = True

                MainScreen.shown_arranged = shown_arranged  # type: ignore[attr-defined]
                from kavlan_tui.widgets.filter_bar import FilterBar

                said = FilterBar.show_error

                def show_error(bar: Any, sentence: str) -> None:  # a range half typed: said, nothing redrawn
                    said(bar, sentence)
                    hooks["applied"] = True

                FilterBar.show_error = show_error  # type: ignore[method-assign]

        def _display(self, screen: Any, renderable: Any) -> None:
            # Textual's private hook: a frame written to the terminal
            super()._display(screen, renderable)
            if renderable is None:
                return
            if "shown_at" in out and "frame_at" not in out:
                out["frame_at"] = time.time()
            frame = hooks["frame"]
            if frame is not None and hooks["applied"]:
                hooks["frame"] = None
                frame.set_result(time.perf_counter())

        def ready(self) -> None:
            out["cpu_ready_s"] = time.process_time()
            self.run_worker(self.measure(), exit_on_error=True)

        async def key(self, key: str) -> float:
            """A key as the terminal sends it, and the seconds to the first frame after the board was arranged."""
            hooks["applied"] = False
            frame = hooks["frame"] = asyncio.get_running_loop().create_future()
            t0 = time.perf_counter()
            await self._press_keys([key])  # what Pilot.press does: the driver's queue, as from a terminal
            return float(await frame) - t0

        async def measure(self) -> None:
            await asyncio.sleep(0.5)  # every section mounted, the start-up's leftovers done
            main = self.main
            profile = os.environ.get("KAVLAN_BENCH_PROFILE")
            if profile and hasattr(main, "action_filter"):  # a profile of the keys and sorts, into that file
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            if hasattr(main, "action_filter"):
                out["nodes_shown"] = len(main.context.board.nodes) if main.context.board else 0
                await self._press_keys(["slash"])
                await asyncio.sleep(0.1)
                out["filter_s"] = [await self.key(k) for k in TYPED]
                await self._press_keys(["slash"])
                await asyncio.sleep(0.1)
                out["floor_s"] = [await self.key(k) for k in FLOOR][-3:]
                await self._press_keys(["escape"])
                await asyncio.sleep(0.1)
                out["arrange_s"] = [await self.key(k) for k in ARRANGING]
                if profile:
                    profiler.disable()
                    profiler.dump_stats(profile)
            result.write_text(json.dumps(out))
            self.exit()

    BenchApp(poll_interval=0).run()


def one_run(tree: Path, data: Path, inventory: Path) -> dict[str, Any]:
    result = Path(tempfile.mktemp(prefix="kavlan-bench-", suffix=".json"))
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))

    written = bytearray()

    def drain() -> None:  # the terminal must be read, or the app blocks writing to it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            written[:] = (written + chunk)[-4096:]  # the end of what it wrote: a traceback, if it failed

    threading.Thread(target=drain, daemon=True).start()
    env = environment(data, inventory, "root")
    env["PYTHONPATH"] = str(tree)
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(result)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        cwd=tempfile.gettempdir(),  # not the checkout: its packages come from PYTHONPATH only
    )
    os.close(slave)
    try:
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    if not result.exists():
        tail = written.decode(errors="replace")
        raise SystemExit(f"the TUI of {tree} did not report (exit status {proc.returncode}):\n{tail}")
    out: dict[str, Any] = json.loads(result.read_text())
    result.unlink()
    out["first_frame_s"] = out["frame_at"] - started
    return out


def packages(source: Path, into: Path) -> Path:
    """A directory where ``kavlan_core`` and ``kavlan_tui`` are the packages of the tree at ``source``."""
    into.mkdir(parents=True, exist_ok=True)
    for name, path in (("kavlan_core", "core"), ("kavlan_tui", "kavlan_tui"), ("themes", "themes")):
        (into / name).symlink_to(source / path)
    return into


def baseline_tree(ref: str, tmp: Path) -> Path:
    """The baseline's files, from git (``git archive``: the checkout and its branches are left as they are)."""
    source = tmp / "baseline-src"
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    return packages(source, tmp / "baseline")


def stats(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, worst {max(values) * 1000:.0f} ms"


def both(
    ref: str, before: list[dict[str, Any]], after: list[dict[str, Any]], field: str, i: int | None
) -> str:
    """The figures of both trees for one key (``i``) or for all of them (None)."""

    def values(runs: list[dict[str, Any]]) -> list[float]:
        return [t for r in runs for t in (r[field] if i is None else [r[field][i]])]

    if not all(field in r for r in before):  # a baseline without the filter: this checkout alone
        return stats(values(after))
    return f"{ref} {stats(values(before))}; this checkout {stats(values(after))}"


def report(ref: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    print(f"root, {len(after)} run(s) of each tree, terminal {SIZE[0]}x{SIZE[1]}:")
    print(f"  {ref}: {before[0]['package']}; this checkout: {after[0]['package']}")
    print(
        f"  start-up to the first frame of the board: {ref} {stats([r['first_frame_s'] for r in before])}; "
        f"this checkout {stats([r['first_frame_s'] for r in after])}"
    )
    print(
        f"    its CPU time (steadier than the clock on a busy machine): {ref} {stats([r['cpu_ready_s'] for r in before])}; "
        f"this checkout {stats([r['cpu_ready_s'] for r in after])}"
    )
    print(
        f"  a key of the filter to its frame ({len(TYPED)} keys a run): {both(ref, before, after, 'filter_s', None)}"
    )
    for i, key in enumerate(TYPED):
        print(f"    {key!r:12} {both(ref, before, after, 'filter_s', i)}")
    floor = both(ref, before, after, "floor_s", None)
    print(f"  the floor: a key that redraws only the filter line (3 keys a run): {floor}")
    names = [
        "sort: switch and port",
        "sort: state",
        "sort: name",
        "group: cluster",
        "group: switch",
        "group: VLAN",
    ]
    sorts = [r["arrange_s"][i] for r in after for i in range(3)]
    print(f"  a sort to its frame ({len(sorts)} sorts), this checkout: {stats(sorts)}")
    for i, name in enumerate(names):
        print(f"    {name:22} {both(ref, before, after, 'arrange_s', i)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", default="main", help="the git ref to compare the start-up with (main)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="kavlan-bench-board-") as name:
        tmp = Path(name)
        data, inventory = tmp / "data", tmp / "testbed.toml"
        data.mkdir()
        inventory.write_text(testbed())
        info = populate(data, inventory)
        print(f"testbed: {info['nodes']} nodes, {info['vlans_seen_from_home']} VLANs seen from the home site")
        trees = {"before": baseline_tree(args.baseline, tmp), "after": packages(ROOT, tmp / "after")}
        for tree in trees.values():  # warm-up: bytecode compiled and cached, as once installed
            one_run(tree, data, inventory)
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(args.runs):
            for which, tree in trees.items():
                runs[which].append(one_run(tree, data, inventory))
    report(args.baseline, runs["before"], runs["after"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
