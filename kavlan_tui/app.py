"""``kavlan-tui``: the Textual app on the service (embedded, or remote through the API): its workers, its
messages' handlers, its key map and entry point."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kavlan_core import __version__ as VERSION
from kavlan_core import config
from kavlan_core import events as ev
from kavlan_core.config import Settings
from kavlan_core.errors import KavlanError
from kavlan_core.interface import Service, connect

from .board import Board, NodeKey, NodeView, VlanKey, read_board
from .journal import Journal
from .messages import (
    ActionFailed,
    BoardLoaded,
    CommandFinished,
    DriftChecked,
    JobReserved,
    LeasesRead,
    ReachChecked,
    ServiceEvent,
)
from .options import add_api_arguments, api_overrides
from .polling import Poller, PollNotes
from .present import ERROR, TUI_HINTS, EventLine, is_user_error, run_guarded, sentence
from .theming import load_themes, themes_dir
from .widgets.node_list import ListContext

if TYPE_CHECKING:
    from .commands import Context
    from .screens.main import MainScreen
    from .screens.move import MoveOutcome

FIRST_READ_WAIT = 0.5
"""Seconds the first screen waits for the first read of the board, to be drawn once, complete."""

DEFAULT_POLL = 10.0
"""Seconds between background polls of switches, DHCP leases and jobs (0: never)."""

REACH_EVERY = 3
"""Polls between two checks that the user's real nodes answer over SSH."""

REFRESH_EVENTS = (ev.MoveFinished, ev.DhcpChanged, ev.JobSubmitted, ev.JobEnded)
"""Events after which the board is read again (debounced)."""

SVG_FONT = "font-family: Fira Code, monospace;"
SVG_FONT_ANY_VIEWER = "font-family: monospace;"
"""Screenshots name the generic monospace font first: viewers that take only the first family of the list and
have no Fira Code (librsvg-based ones, CairoSVG) drew a proportional font, so that text ran into its neighbour
(``DEFAULTdefault``) or left gaps, and buttons' edges overflowed their dialogs."""


def kavlan_commands() -> type[Provider]:
    """The palette's kavlan commands, imported when the palette opens (the registry is not needed before)."""
    from .screens.palette import KavlanCommands

    return KavlanCommands


async def wait_a_while(worker: Worker[Any], seconds: float) -> None:
    """Wait up to ``seconds`` for a worker to end, leaving it running after that (a timeout around
    ``worker.wait()`` would cancel the worker: that awaits its task); its failure is reported as every worker's."""
    waiter = asyncio.ensure_future(worker.wait())
    await asyncio.wait({waiter}, timeout=seconds)
    waiter.add_done_callback(lambda done: done.cancelled() or done.exception())


class KavlanApp(App[None]):
    """Reads the board in workers, follows the service's events, polls switches and leases in the background."""

    TITLE = "kavlan-tui"
    CSS_PATH = str(themes_dir() / "kavlan.tcss")
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {kavlan_commands}
    COMMAND_PALETTE_BINDING = "ctrl+p"
    service: Service

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, tooltip="Leave kavlan-tui"),
        Binding("f1", "help", "Help", id="help", tooltip="Help for what has the focus, and every key"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            id="command-palette",
            priority=True,
            tooltip="Every command, searchable",
        ),
        Binding(
            "ctrl+r", "refresh", "Refresh", id="refresh", tooltip="Read jobs, VLANs, switches and leases now"
        ),
        Binding("ctrl+t", "change_theme", "Theme", id="change-theme", show=False, tooltip="Pick a theme"),
    ]

    def __init__(
        self,
        service: Service | None = None,
        *,
        settings: Settings | None = None,
        poll_interval: float | None = None,
        clock: Callable[[], float] | None = None,
        debug: bool = False,
    ) -> None:
        self.tracebacks = debug
        # without a service, the app opens one in its own event loop when it mounts (remote: the servers are
        # asked first), so that making the app never blocks; it closes what it opened
        self._must_open = service is None
        self._owned: Service | None = None
        self.open_error: KavlanError | None = None
        """Why the service could not be opened: the app exits at once, ``main`` prints it."""
        if service is not None:
            self.service = service
        self.settings = service.settings if service is not None else settings or config.load()
        self._clock_given = clock
        self.clock = clock or (service.clock if service is not None else time.time)
        configured = getattr(self.settings, "poll_interval", None)
        self.poll_interval = float(
            poll_interval
            if poll_interval is not None
            else configured
            if configured is not None
            else DEFAULT_POLL
        )
        self.themes = {t.name: t for t in load_themes()}
        super().__init__()
        self.board: Board | None = None
        self.context = ListContext()
        self.notes = PollNotes()
        """What the background polls learnt per NIC."""
        self.journal = Journal()
        """What happened to each node since the app started, for the node's detail."""
        self.poller = Poller(lambda: self.service, self._poll_said)
        self.moving = False
        self.sites_wanted: set[str] = set()
        """Sites whose VLANs are read besides the home site and the user's jobs' (their tab was shown)."""
        self._commands_context: Context | None = None
        self._refresh_timer: Any = None
        self._polls = 0
        for theme in self.themes.values():
            self.register_theme(theme)
        wanted = self.settings.theme
        self.theme = wanted if wanted in self.available_themes else "kavlan-dark"
        self._bad_theme = "" if wanted in self.available_themes else wanted
        if self.settings.keys:
            self.set_keymap(dict(self.settings.keys))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # kavlan's own variables for themes that do not define them (Textual's built-in ones)
        return dict(self.themes["kavlan-dark"].variables) if hasattr(self, "themes") else {}

    @property
    def commands_context(self) -> Context:
        """The registry's context (the current job...), made when a command first needs it."""
        if self._commands_context is None:
            from .commands import Context

            self._commands_context = Context(self.service)
        return self._commands_context

    @property
    def drift(self) -> dict[NodeKey, int | None]:
        """The ports the last poll found not where the store says, by NIC: the VLAN the switch has."""
        return self.notes.drift

    @property
    def poll_errors(self) -> dict[str, str]:
        """What the polls cannot read now (a site's switches, a VLAN's leases...), and why."""
        return self.poller.errors

    @property
    def main(self) -> MainScreen | None:
        from .screens.main import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    async def _open_service(self) -> bool:
        try:
            self.service = self._owned = await connect(self.settings)
        except KavlanError as exc:
            self.open_error = exc
            self.exit(return_code=1)
            return False
        self.settings = self.service.settings
        self.clock = self._clock_given or self.service.clock
        return True

    async def on_mount(self) -> None:
        from .screens.main import MainScreen

        if self._must_open and not await self._open_service():
            return
        self.pump_events()
        first = self.load_board()
        # the first screen is drawn once, with the board, when the store answers fast (as it does); a slow or
        # stuck one gets the screen drawn without waiting any longer, the board following when it is read
        await wait_a_while(first, FIRST_READ_WAIT)
        if first.state is WorkerState.SUCCESS and isinstance(first.result, Board):
            self._adopt(first.result)  # the main screen is composed with it: one layout, one paint
        self.push_screen(MainScreen(self.context))
        if self._bad_theme:
            self.notify(
                f"unknown theme {self._bad_theme!r}: using kavlan-dark (themes: {', '.join(self.themes)})",
                severity="warning",
            )
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._poll_due)
            self.call_later(self.poll)

    async def on_unmount(self) -> None:
        if self._owned is not None:
            await self._owned.close()

    # --- reading ----------------------------------------------------------------------------------

    @work(exclusive=True, group="board", exit_on_error=False)
    async def load_board(self) -> Board:
        started = time.perf_counter()
        board = await read_board(self.service, self.sites_wanted)
        self.post_message(BoardLoaded(board, time.perf_counter() - started))
        return board

    def want_site(self, site: str) -> None:
        """A site's tab is shown: read its VLANs from now on."""
        if site not in self.sites_wanted:
            self.sites_wanted.add(site)
            self.load_board()

    def schedule_board(self, delay: float = 0.15) -> None:
        """Read the board again soon: events come in bursts (one per node, per switch)."""
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(delay, self.load_board)

    @work(group="events", exit_on_error=False)
    async def pump_events(self) -> None:
        queue = self.service.events.queue()
        try:
            while True:
                self.post_message(ServiceEvent(await queue.get()))
        finally:
            self.service.events.unqueue(queue)

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def poll(self) -> None:
        """Jobs (an expired one ends now), every switch's ports against the store (drift), DHCP leases,
        the reachability of the user's real nodes, then the board: other processes may have changed it."""
        started = time.perf_counter()
        await self.service.jobs(running=True)
        if not self.moving:
            drift, tags = await self.poller.drift()
            self.post_message(DriftChecked(drift, time.perf_counter() - started, tags))
        board = self.board
        self._polls += 1
        if board is not None:
            self.post_message(LeasesRead(await self.poller.leases(board)))
            if self._polls % REACH_EVERY == 1:  # one SSH session per node: not at every poll
                reach = await self.poller.reach(board)
                if reach:
                    self.post_message(ReachChecked(reach))
        board = await read_board(self.service, self.sites_wanted)
        self.post_message(BoardLoaded(board, time.perf_counter() - started))

    def _poll_due(self) -> None:
        """The interval's poll, unless one still runs (slow switches): it would be cancelled, never finished."""
        if not any(w.group == "poll" and w.is_running for w in self.workers):
            self.poll()

    def _poll_said(self, line: EventLine) -> None:
        """A part of the poll failed (a switch down: one sentence), or reads again."""
        self.log_line(line.text, line.level)
        if line.level == ERROR:
            self.notify(line.text.removeprefix("poll: "), title="poll", severity="warning", timeout=8)

    # --- messages ---------------------------------------------------------------------------------

    async def on_board_loaded(self, message: BoardLoaded) -> None:
        if message.board is self.board:
            return  # the first read, which the main screen was composed with
        self._adopt(message.board)
        if self.main is not None:
            await self.main.show_board(message.board, message.seconds)

    def _adopt(self, board: Board) -> None:
        """A new board: the selection follows its nodes (a node that left the view leaves the selection)."""
        self.board = board
        self.context.board = board
        sel = self.context.selection
        for key in list(sel):
            if key in board.nodes:
                sel[key] = board.nodes[key]
            else:
                del sel[key]

    def on_drift_checked(self, message: DriftChecked) -> None:
        now = self.clock()
        board = self.board
        for key, line in self.notes.new_drift(board, message.drift, message.tags):
            self.log_line(line.text, line.level)
            node = board.nodes.get(key) if board else None
            self.journal.drifted(now, node, key, line.text, back=key not in message.drift)
        for site in self.service.reachable_sites():
            if f"switches of {site}" not in self.poller.errors:
                self.notes.read_at[site] = now
        self._annotate()
        if self.main is not None:
            self.main.polled(message.seconds, len(self.notes.drift))

    def on_leases_read(self, message: LeasesRead) -> None:
        now = self.clock()
        for key, address in message.leases.items():
            if self.notes.leases.get(key) != address:
                self.journal.leased(now, key, address)
        self.notes.leases = message.leases
        self._annotate()

    def on_reach_checked(self, message: ReachChecked) -> None:
        self.reached(message.reach)
        self._annotate()

    def reached(self, reach: dict[NodeKey, bool]) -> None:
        """Nodes answered over SSH, or did not: kept with the time, and a change in the node's journal."""
        now = self.clock()
        for key, ok in reach.items():
            if self.notes.reach.get(key) != ok:
                self.journal.answered(now, key, ok)
            self.notes.reach[key] = ok
            if ok:
                self.notes.answered_at[key] = now

    def _annotate(self) -> None:
        self.context.notes = self.notes.annotations()
        if self.main is not None:
            self.main.redraw_lists()

    def on_service_event(self, message: ServiceEvent) -> None:
        event = message.event
        self.journal.event(event, self.board)
        if self.main is not None:
            self.main.log_event(event)
        for screen in self.screen_stack[1:]:
            if screen is not self.main:
                screen.post_message(ServiceEvent(event))
        if isinstance(event, REFRESH_EVENTS):
            self.schedule_board()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every app worker's failure ends here: one sentence for the user, the traceback in the log."""
        worker = event.worker
        if event.state is not WorkerState.ERROR or worker.error is None:
            return
        error = worker.error
        self.notify(sentence(error, TUI_HINTS), title=f"{worker.group} failed", severity="error", timeout=8)
        if not is_user_error(error):
            lines = "".join(traceback.format_exception(error)).strip().splitlines()
            for line in lines if self.tracebacks else lines[-1:]:
                self.log_line(f"{worker.group}: {line}", "error")

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.error, title=message.what, severity="error", timeout=8)
        self.log_line(f"{message.what}: {message.error}", "error")

    def journal_outcome(self, outcome: MoveOutcome) -> None:
        """A move's nodes that failed go in their journal with the reason (those moved come as events)."""
        report = outcome.staged.move if outcome.staged is not None else outcome.report
        results = report.results if report is not None else []
        failed = [(r.name, r.message) for r in results if r.status == "failure"]
        if outcome.staged is not None:
            failed += [(n.name, n.message) for n in outcome.staged.nodes if n.status == "failure"]
        now = self.clock()
        for name, why in dict(failed).items():
            node = self.journal.node_of(name, self.board)[0]
            self.journal.failed_move(now, node, outcome.target.key, why)

    def log_line(self, text: str, level: str = "info") -> None:
        if self.main is not None:
            self.main.log_line(text, level)

    # --- actions (workers) ------------------------------------------------------------------------

    @work(group="dhcp", exit_on_error=False)
    async def set_dhcp(self, vlan: VlanKey, on: bool) -> None:
        try:
            state = await self.service.dhcp(vlan[1], on, site=vlan[0])
        except KavlanError as exc:
            self.post_message(ActionFailed(f"DHCP of VLAN {vlan[1]}", sentence(exc, TUI_HINTS)))
            return
        self.notify(f"DHCP server of VLAN {vlan[1]} ({vlan[0]}): {state}")

    @work(group="jobs", exit_on_error=False)
    async def reserve(self, request: str, reply_to: Any = None) -> None:
        try:
            job = await self.service.submit(request)
        except KavlanError as exc:
            (reply_to or self).post_message(ActionFailed("reservation", sentence(exc, TUI_HINTS)))
            return
        vlans = ", ".join(str(v.vlan) for v in job.vlans) or "none"
        summary = f"job {job.id}: {len(job.nodes)} node(s), VLAN {vlans}"
        self.commands_context.job_id = job.id
        (reply_to or self).post_message(JobReserved(job.id, summary))  # bubbles from a screen to the app

    @work(group="jobs", exit_on_error=False)
    async def reserve_grid(self, line: str, walltime: str, reply_to: Any = None) -> None:
        """A grid reservation (the form's sites, or oargridsub's parts): one job per site, all or nothing."""
        from kavlan_core.errors import BadInput
        from kavlan_core.grids import parse_grid
        from kavlan_core.reservations import RequestError, parse_walltime

        try:
            try:
                parts = parse_grid([line], self.service.inventory)
                wall = parse_walltime(walltime) if walltime.strip() else None
            except RequestError as exc:
                raise BadInput(str(exc)) from None
            grid = await self.service.grid_submit(parts, walltime=wall)
        except KavlanError as exc:
            (reply_to or self).post_message(ActionFailed("grid reservation", sentence(exc, TUI_HINTS)))
            return
        vlans = ", ".join(str(v.vlan) for v in grid.vlans) or "none"
        nodes = sum(len(p.job.nodes) for p in grid.parts)
        jobs = ", ".join(f"{p.site} {p.job.id}" for p in grid.parts)
        summary = f"grid {grid.id}: jobs {jobs}; {nodes} node(s), VLAN {vlans}"
        home = next((p.job.id for p in grid.parts if p.job.vlans), grid.parts[0].job.id)
        self.commands_context.job_id = home
        self.commands_context.grid_id = grid.id
        (reply_to or self).post_message(JobReserved(home, summary))

    @work(group="jobs", exit_on_error=False)
    async def release(self, job_id: int) -> None:
        try:
            await self.service.delete_job(job_id)
        except KavlanError as exc:
            self.post_message(ActionFailed(f"release of job {job_id}", sentence(exc, TUI_HINTS)))
            return
        self.notify(f"job {job_id} released: its nodes are back in DEFAULT")

    def on_job_reserved(self, message: JobReserved) -> None:
        self.notify(message.summary, title="reserved")
        if self.main is not None:
            self.main.want_view("mine")
        self.load_board()

    @work(group="command", exit_on_error=False)
    async def run_command(self, line: str, reply_to: Any) -> None:
        from .commands import REGISTRY

        try:
            result = await REGISTRY.run(self.commands_context, line)
        except KavlanError as exc:
            reply_to.post_message(CommandFinished(line, [], [sentence(exc, TUI_HINTS)], False))
            return
        reply_to.post_message(CommandFinished(line, list(result.lines), list(result.errors), result.ok))
        self.schedule_board()

    async def ssh_node(self, node: NodeView) -> None:
        """An interactive session on the node (through its gateway), the TUI suspended meanwhile."""
        try:
            self.service.ssh_target(node.plain, node.vlan)  # refused before suspending: no I/O here
        except KavlanError as exc:
            self.notify(sentence(exc, TUI_HINTS), title=f"SSH to {node.short}", severity="error", timeout=8)
            return
        status: int | None = None
        error = ""
        with self.suspend():
            print(f"kavlan-tui: SSH to {node.name} (exit the session to come back)", flush=True)
            try:
                status = await self.service.ssh(node.plain)
            except KavlanError as exc:
                error = sentence(exc, TUI_HINTS)
        self.reached({node.key: not error})
        if error:
            self.notify(error, title=f"SSH to {node.short}", severity="error", timeout=8)
        else:
            self.notify(f"session on {node.short} ended (exit status {status})")
        self._annotate()

    # --- app actions ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.poll()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.focused, self.screen.active_bindings))

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        """Textual's SVG, drawn the same in every viewer: the monospace font named first, and spaces kept where a
        text starts or ends with them (viewers that drop them shifted words into each other: ``1:00:00left``)."""
        svg = super().export_screenshot(title=title, simplify=simplify)
        svg = svg.replace(SVG_FONT, SVG_FONT_ANY_VIEWER, 1)
        return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands that make sense here: not its keys panel (F1 is kavlan's help), nor
        Maximize; Theme offers kavlan's themes."""
        yield SystemCommand(
            "Theme", "Pick one of kavlan's themes (kept for the next start)", self.action_change_theme
        )
        yield SystemCommand("Help", "Help for what has the focus, and every key (F1)", self.action_help)
        yield SystemCommand(
            "Screenshot",
            "Save an SVG screenshot of the screen",
            lambda: self.set_timer(0.1, self.deliver_screenshot),
        )
        yield SystemCommand("Quit", "Leave kavlan-tui", self.action_quit)

    def action_change_theme(self) -> None:
        self.search_themes()

    def search_themes(self) -> None:
        """Kavlan's themes to pick from (Textual's own are not made for its colours)."""
        from textual.command import CommandPalette

        from .screens.palette import KavlanThemes

        self.push_screen(CommandPalette(providers=[KavlanThemes], placeholder="Search for themes…"))

    def set_theme(self, name: str) -> None:
        """The user chose a theme: shown at once, and saved in config.toml for the next start."""
        if name in self.available_themes:
            self.theme = name
            self.notify(f"theme: {name}")
            self.save_theme(name)

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False)
    def save_theme(self, name: str) -> None:
        try:
            path = config.save_setting("theme", name)
        except KavlanError as exc:
            self.post_message(ActionFailed("saving the theme", sentence(exc, TUI_HINTS)))
            return
        self.call_from_thread(self.log_line, f"theme {name} saved in {path}")
        override = os.environ.get("KAVLAN_THEME")
        if override and override != name:
            self.call_from_thread(
                self.notify, f"KAVLAN_THEME={override} is set: it wins at the next start", severity="warning"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kavlan-tui",
        description="KaVLAN's terminal UI: reserve nodes and VLANs, "
        "move nodes between VLANs (mouse or keyboard), watch switches and DHCP.",
    )
    parser.add_argument(
        "--theme", help="kavlan-dark, kavlan-light or kavlan-high-contrast (or any Textual theme)"
    )
    parser.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help=f"seconds between background polls of switches and leases (default {DEFAULT_POLL:g}; 0: never)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="full tracebacks of internal errors in the event log"
    )
    add_api_arguments(parser)
    parser.add_argument("--version", action="version", version=f"kavlan-tui {VERSION}")
    args = parser.parse_args(argv)

    def start() -> int:
        settings = config.load(theme=args.theme, **api_overrides(args))
        app = KavlanApp(settings=settings, poll_interval=args.poll, debug=args.debug)
        app.run()
        if app.open_error is not None:
            raise app.open_error  # one sentence, with this face's hint
        return 0

    # --debug shows internal errors' tracebacks in the event log; a user's error before the app starts is
    # still one sentence
    return run_guarded("kavlan-tui", start, hints=TUI_HINTS)


if __name__ == "__main__":
    sys.exit(main())
