"""kavlan-tui at scale: start-up, refresh, poll and move-dialog times and memory, on 1,000 nodes in 21 VLANs.

The testbed is generated: 1,000 nodes, and a home site that sees 21 VLANs (DEFAULT, 1-9 and 11 global ones),
all in use.

Run on demand (not by the test suite):

    python tests/bench/bench_tui.py --runs 7            # start-up in a real terminal (a pty), 120x40, against main
    python tests/bench/bench_tui.py --runs 7 --before REV   # against another commit ("none": this tree alone)
    python tests/bench/bench_tui.py --runs 1 --tracemalloc

Each run is a fresh process (interpreter, imports, store, first read, first paint all counted), driven by
Textual's real Linux driver on a pseudo-terminal, so rendering is paid for as in a terminal. Start-up is timed
to the first frame that shows the board; the CPU time of the whole start-up (what the app does right after that
frame included) is steadier than the clock on a busy machine.

The earlier commit ("before", default ``main``) runs in the same run, its runs interleaved with this tree's and with
the floor of any Python command (``python -c pass``), on the same interpreter and libraries (exported with
``git archive``, see before.py) and the same store. Goal (issue 17): the first frame under 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

T_START = time.time()

SITES = 11
"""The home site and ten others: with one global VLAN each, the home site sees 21 VLANs (0-9 and 10-20)."""
HOME_NODES = 900
OTHER_NODES = 10
CLUSTER = 45
"""Nodes per cluster, one switch per cluster."""
PER_VLAN = 40
"""Nodes of the home site put in each of VLANs 1-9 and in each global VLAN."""
SIZE = (120, 40)
PROFILER: Any = None


def site_name(i: int) -> str:
    return "home" if i == 0 else f"site{i}"


def testbed() -> str:
    """A testbed description: 900 nodes on 20 switches at the home site, 10 nodes at each of 10 other sites."""
    out = ['domain = "bench.example"\n']
    for i in range(SITES):
        name, x = site_name(i), 4 * i
        out.append(f"""
[[site]]
name = "{name}"
global_vlan = {10 + i}
default_subnet = "10.{x}.0.0/18"
global_subnet = "10.{x + 2}.0.0/18"
[site.subnets]
"1" = "10.{x + 1}.192.0/20"
"2" = "10.{x + 1}.208.0/20"
"3" = "10.{x + 1}.224.0/20"
"4" = "10.{x}.64.0/18"
"5" = "10.{x}.128.0/18"
"6" = "10.{x}.192.0/18"
"7" = "10.{x + 1}.0.0/18"
"8" = "10.{x + 1}.64.0/18"
"9" = "10.{x + 1}.128.0/18"
""")
        count = HOME_NODES if i == 0 else OTHER_NODES
        clusters = [
            (f"c{i}x{k}", min(CLUSTER, count - k * CLUSTER)) for k in range((count + CLUSTER - 1) // CLUSTER)
        ]
        for cname, _n in clusters:
            out.append(f'[[site.switch]]\nname = "{name}-{cname}-sw"\ndriver = "simulated"\n')
        for cname, n in clusters:
            out.append(
                f'[[site.cluster]]\nname = "{cname}"\nnodes = {n}\ncores = 8\n'
                f'[[site.cluster.cabling]]\nnodes = "1-{n}"\nswitch = "{name}-{cname}-sw"\n'
                'port = "GigabitEthernet1/0/{k}"\n'
            )
    return "".join(out)


def environment(data: Path, inventory: Path, user: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAVLAN_DATA_DIR=str(data),
        KAVLAN_CACHE_DIR=str(data.parent / "cache"),
        KAVLAN_INVENTORY=str(inventory),
        KAVLAN_USER=user,
        KAVLAN_CONFIG=str(data / "no-config.toml"),
        TERM="xterm-256color",
        COLUMNS=str(SIZE[0]),
        LINES=str(SIZE[1]),
    )
    for var in ("KAVLAN_DATABASE", "KAVLAN_SITE", "KAVLAN_ADMINS", "KAVLAN_THEME", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    # an installed package has its bytecode compiled; keep this checkout's out of the tree
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "kavlan-bench-pycache")
    return env


def populate(data: Path, inventory: Path) -> dict[str, int]:
    """Put 40 home nodes in each VLAN but DEFAULT, each other site's nodes in its global VLAN, and give
    ``alice`` a job (one routed VLAN, 100 nodes); as root, who may move anything."""
    os.environ.update(environment(data, inventory, "root"))
    from kavlan_core import config
    from kavlan_core.model import DEFAULT
    from kavlan_core.service import KavlanService

    async def go() -> dict[str, int]:
        root = KavlanService(config.load())
        inv = root.inventory
        home = [n.name for n in inv.site_nodes("home")]
        job = await root.submit("""{"type='kavlan'"}/vlan=1,/nodes=100""", user="alice")
        targets = [v for v in inv.vlan_ids("home") if v != DEFAULT]
        moved = 0
        for k, vid in enumerate(targets):
            names = home[k * PER_VLAN : (k + 1) * PER_VLAN]
            report = await root.set_vlan(names, vid)
            moved += len(report.results)
        for i in range(1, SITES):
            report = await root.set_vlan([n.name for n in inv.site_nodes(site_name(i))], 10 + i)
            moved += len(report.results)
        await root.close()
        return {
            "nodes": len(inv.nodes),
            "vlans_seen_from_home": len(inv.vlan_ids("home")),
            "moved": moved,
            "job": job.id,
        }

    return asyncio.run(go())


# --- the child: one kavlan-tui process in a pty -------------------------------------------------------


def child(result: Path, use_tracemalloc: bool) -> None:
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    import resource

    t_imports = time.time()
    import kavlan_tui.app as app_module
    from kavlan_tui.app import KavlanApp
    from kavlan_tui.messages import MoveRequested
    from kavlan_tui.screens.move import MoveDialog

    plain_read = app_module.read_board

    async def timed_read(service: Any, *args: Any) -> Any:
        out.setdefault("read_started_at", time.time())
        board = await plain_read(service, *args)
        out.setdefault("read_done_at", time.time())
        return board

    app_module.read_board = timed_read  # type: ignore[assignment]  # for the timeline: when the first read ran
    t_imported = time.time()
    out: dict[str, Any] = {
        "imports_s": t_imported - t_imports,
        "imported_at": t_imported,
        "python_up_at": T_START,
    }

    class BenchApp(KavlanApp):
        # Textual calls the handlers of every class of the app (KavlanApp's too): none here calls super()
        waiting: asyncio.Event | None = None
        first = True

        def on_mount(self) -> None:
            out["mounted_at"] = time.time()
            from kavlan_tui.screens.main import MainScreen  # imported by the app's own on_mount, next

            shown = MainScreen.show_board

            async def show_board(screen: Any, board: Any, seconds: float) -> None:
                await shown(screen, board, seconds)
                if self.first:  # the board is shown: usable once drawn, and what was left for after that done
                    out["shown_at"] = time.time()
                    self.first = False
                    self.call_after_refresh(self.ready)
                elif self.waiting is not None:
                    self.call_after_refresh(self.waiting.set)

            MainScreen.show_board = show_board  # type: ignore[method-assign]

        def _display(self, screen: Any, renderable: Any) -> None:
            # Textual's private hook: the first frame written after the board was shown is the board's first paint
            super()._display(screen, renderable)
            if renderable is not None and "shown_at" in out and "frame_at" not in out:
                out["frame_at"] = time.time()
                out["cpu_frame_s"] = time.process_time()  # the process's CPU to its first frame

        def ready(self) -> None:
            out["ready_at"] = time.time()
            out["first_read_s"] = out["read_done_at"] - out["read_started_at"]
            out["cpu_ready_s"] = (
                time.process_time()
            )  # this process's CPU time: steadier than the clock on a busy machine
            if PROFILER is not None:
                PROFILER.disable()
                PROFILER.dump_stats(os.environ["KAVLAN_BENCH_PROFILE"])
            out["rss_ready_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.run_worker(self.measured(), exit_on_error=True)

        async def measured(self) -> None:
            try:
                await self.measure()
            except BaseException:  # the parent says what went wrong instead of "did not report"
                import traceback

                result.write_text(json.dumps({"error": traceback.format_exc()}))
                self.exit()
                raise

        async def next_board(self, start: Any) -> float:
            self.waiting = asyncio.Event()
            t0 = time.perf_counter()
            start()
            await self.waiting.wait()
            return time.perf_counter() - t0

        async def measure(self) -> None:
            await asyncio.sleep(0.2)
            out["cpu_settled_s"] = (
                time.process_time()
            )  # every bit of start-up work done (what follows the paint too)
            out["refresh_s"] = [await self.next_board(self.load_board) for _ in range(5)]
            out["poll_s"] = [await self.next_board(self.poll) for _ in range(3)]
            board = self.board
            assert board is not None
            if board.jobs:  # the user's nodes into their VLAN
                nodes = [n for n in board.nodes.values() if n.mine][:100]
                target = board.jobs[0].vlans[0]
            else:  # root: 100 nodes of DEFAULT into VLAN 5
                nodes = [n for n in board.nodes.values() if n.site == "home" and n.vlan == 0][:100]
                target = ("home", 5)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                self.main.post_message(MoveRequested(nodes, target))
                while not (
                    isinstance(self.screen, MoveDialog)
                    and (self.screen.plan is not None or self.screen.query("#plan.-refused"))
                ):
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0)
                times.append(time.perf_counter() - t0)
                self.screen.dismiss(None)
                await asyncio.sleep(0.05)
            out["move_dialog_s"] = times
            out["rss_end_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if use_tracemalloc:
                import tracemalloc

                out["python_heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            result.write_text(json.dumps(out))
            self.exit()

    if os.environ.get("KAVLAN_BENCH_PROFILE"):  # a profile of the start-up, up to the usable screen
        import cProfile

        global PROFILER
        PROFILER = cProfile.Profile()
        PROFILER.enable()
    app = BenchApp(poll_interval=0)
    out["app_made_at"] = time.time()
    app.run()
    if not result.exists():  # it ended before measuring: say why
        why = f"return code {app.return_code}, {getattr(app, 'open_error', None)!r}"
        result.write_text(json.dumps({"error": f"the app ended before it was measured: {why}"}))


def one_run(
    data: Path, inventory: Path, user: str, use_tracemalloc: bool, pythonpath: Path | None = None
) -> dict[str, Any]:
    result = Path(tempfile.mktemp(prefix="kavlan-bench-", suffix=".json"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    args = [sys.executable, __file__, "--child", str(result)] + (["--tracemalloc"] if use_tracemalloc else [])

    screen: list[bytes] = []

    def drain() -> None:  # the terminal must be read, or the app blocks writing to it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen[:] = screen[-8:] + [chunk]  # the last output, for a report of what went wrong

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    started = time.time()
    proc = subprocess.Popen(
        args,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment(data, inventory, user) | ({"PYTHONPATH": str(pythonpath)} if pythonpath else {}),
        start_new_session=True,
    )
    os.close(slave)
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    if not result.exists():
        tail = b"".join(screen).decode(errors="replace")[-2000:]
        raise SystemExit(
            f"the TUI ({pythonpath or 'this tree'}) did not report (exit status {proc.returncode}); "
            f"its terminal's last output:\n{tail}"
        )
    out: dict[str, Any] = json.loads(result.read_text())
    result.unlink()
    if "error" in out:
        raise SystemExit(f"the TUI failed:\n{out['error']}")
    out["startup_s"] = out.pop("ready_at") - started
    out["first_frame_s"] = out["frame_at"] - started
    if os.environ.get("KAVLAN_BENCH_TIMELINE"):
        marks = {k: v - started for k, v in out.items() if k.endswith("_at")}
        print(
            "  timeline (s since spawn):",
            ", ".join(f"{k[:-3]} {v:.3f}" for k, v in sorted(marks.items(), key=lambda kv: kv[1])),
            f"ready {out['startup_s']:.3f}",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--user",
        default="root",
        help="root sees every site's VLANs at start (the heaviest "
        "first screen) and may plan any move; alice has a job (her VLANs first)",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also measure the Python heap's peak (slower)"
    )
    parser.add_argument(
        "--before", default="main", help="the commit to compare with (default: main; none: this tree alone)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.tracemalloc)
        return 0
    from before import commit_of, export  # the parent's alone: the child, measured, starts without it

    with tempfile.TemporaryDirectory(prefix="kavlan-bench-tui-") as tmp:
        data, inventory = Path(tmp) / "data", Path(tmp) / "testbed.toml"
        data.mkdir()
        inventory.write_text(testbed())
        t0 = time.perf_counter()
        info = populate(data, inventory)
        print(
            f"testbed: {info['nodes']} nodes, {info['vlans_seen_from_home']} VLANs seen from the home site, "
            f"{info['moved']} NICs placed in VLANs ({time.perf_counter() - t0:.1f} s to set up)"
        )
        before = None if args.before == "none" else export(args.before, Path(tmp) / "before")
        trees = {"this tree": None, **({f"before ({commit_of(args.before)})": before} if before else {})}
        floor_env = environment(data, inventory, args.user)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        floor = []
        for path in trees.values():  # warm-up: bytecode compiled and cached, as once installed
            one_run(data, inventory, args.user, False, path)
        for _ in range(args.runs):  # interleaved: a change of the machine's load falls on each alike
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=floor_env, check=True)
            floor.append(time.perf_counter() - t0)
            for name, path in trees.items():
                runs[name].append(one_run(data, inventory, args.user, args.tracemalloc, path))
    load = os.getloadavg()
    print(
        f"user {args.user}, {args.runs} run(s) each, terminal {SIZE[0]}x{SIZE[1]}, load average at the end "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} ({os.cpu_count()} cores)"
    )
    print(f"python -c pass (the floor): median {statistics.median(floor) * 1000:.0f} ms")
    for name, samples in runs.items():
        print(f"{name}, medians:")
        summary(samples, args.tracemalloc)
    frame = statistics.median(r["first_frame_s"] for r in runs["this tree"])
    print(
        f"goal: the first frame on 1,000 nodes under 500 ms: {frame * 1000:.0f} ms ({'met' if frame < 0.5 else 'NOT met'})"
    )
    return 0


def summary(runs: list[dict[str, Any]], tracemalloc: bool) -> None:
    def med(key: str) -> float:
        values = [r[key] if not isinstance(r[key], list) else statistics.median(r[key]) for r in runs]
        return statistics.median(values)

    print(
        f"  start-up to a usable screen (process start to the board's first frame): {med('first_frame_s') * 1000:.0f} ms"
    )
    print(
        f"    of which importing the app: {med('imports_s') * 1000:.0f} ms, first read of the board: "
        f"{med('first_read_s') * 1000:.0f} ms"
    )
    print(
        f"    CPU time to that frame: {med('cpu_frame_s') * 1000:.0f} ms (the clock's figure on an idle machine)"
    )
    print(f"    then done with what it left for after that paint: {med('startup_s') * 1000:.0f} ms")
    print(
        f"    CPU time of the whole start-up (every bit of its work, idle after it): "
        f"{med('cpu_settled_s') * 1000:.0f} ms"
    )
    print(f"  refresh (read the board, redraw):       {med('refresh_s') * 1000:.0f} ms")
    print(f"  poll (jobs, drift of 30 switches, board): {med('poll_s') * 1000:.0f} ms")
    print(f"  move dialog of 100 nodes to its plan:    {med('move_dialog_s') * 1000:.0f} ms")
    print(
        f"  peak RSS: {med('rss_ready_mb'):.0f} MB at the usable screen, {med('rss_end_mb'):.0f} MB at the end"
    )
    if tracemalloc:
        print(f"  Python heap peak (tracemalloc): {med('python_heap_peak_mb'):.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
