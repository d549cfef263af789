"""``kavlan-tui``: the Textual app on the service (embedded, or remote through the API): its workers, themes, key map and entry point."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from kavlan_core import __version__ as VERSION
from kavlan_core import config
from kavlan_core import events as ev
from kavlan_core.authz import Rights
from kavlan_core.config import ConfigError, Settings
from kavlan_core.drivers.base import SwitchError
from kavlan_core.errors import KavlanError
from kavlan_core.interface import Service, connect
from kavlan_core.inventory import InventoryError, NicRef
from kavlan_core.model import DEFAULT, GLOBAL_IDS
from kavlan_core.store import StoreError

from .messages import (
    ActionFailed,
    Board,
    BoardLoaded,
    CommandFinished,
    DriftChecked,
    JobReserved,
    JobView,
    LeasesRead,
    NodeKey,
    NodeView,
    ReachChecked,
    ServiceEvent,
    VlanKey,
    VlanView,
)
from .options import add_api_arguments, api_overrides
from .widgets.node_list import ListContext
from .widgets.node_row import Annotations

if TYPE_CHECKING:
    from .commands import Context

USER_ERRORS = (KavlanError, ConfigError, InventoryError, StoreError, SwitchError)
"""Errors a user can cause or meet: one sentence, no traceback."""

FIRST_READ_WAIT = 0.5
"""Seconds the first screen waits for the first read of the board, to be drawn once, complete."""

DEFAULT_POLL = 10.0
"""Seconds between background polls of switches, DHCP leases and jobs (0: never)."""

REACH_EVERY = 3
"""Polls between two checks that the user's real nodes answer over SSH."""

REFRESH_EVENTS = (ev.MoveFinished, ev.DhcpChanged, ev.JobSubmitted, ev.JobEnded)
"""Events after which the board is read again (debounced)."""


def themes_dir() -> Path:
    """``themes/``: the package ``kavlan_tui.themes`` once installed (beside this file), or beside ``kavlan_tui``
    in a checkout; looked for on disk first (importlib.resources is slower to import than that)."""
    here = Path(__file__).resolve().parent
    for path in (here / "themes", here.parent / "themes"):
        if (path / "themes.toml").is_file():
            return path
    from importlib.resources import files

    return Path(str(files("kavlan_tui.themes")))


def load_themes(directory: Path | None = None) -> list[Theme]:
    """The themes described in ``themes.toml``: one table per theme, its ``variables`` a sub-table."""
    doc = tomllib.loads(((directory or themes_dir()) / "themes.toml").read_text())
    out = []
    for name, table in doc.items():
        fields = {k: v for k, v in table.items() if k != "variables"}
        out.append(Theme(name=name, variables=dict(table.get("variables", {})), **fields))
    return out


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


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


async def read_board(service: Service, sites: Collection[str] = ()) -> Board:
    """Where every NIC is, and the VLANs of the home site, of the user's jobs' sites and of ``sites`` (the
    others are read when their tab is shown); the user's rights decide what they may do. Where the NICs are
    comes from one ``vlan_of`` of them all: one read of the store, not one per VLAN."""
    inv = service.inventory
    running = await service.jobs(running=True)
    user = service.user
    rights = Rights.of(user, running, service.settings.admins)
    busy = {node: job.id for job in running for node in job.nodes}
    reachable = service.reachable_sites()  # remote, only the sites a configured server serves
    refs = [NicRef(node, nic) for node in inv.nodes.values() if node.site in reachable for nic in node.nics]
    plains = [inv.hostname(ref, DEFAULT) for ref in refs]
    placed = await service.vlan_of(plains)
    simulated = {name: sw.driver == "simulated" for name, sw in inv.switches.items()}
    by_vlan: dict[VlanKey, list[NodeView]] = {}
    for ref, plain, (_name, vid) in zip(refs, plains, placed, strict=True):
        node, nic = ref.node, ref.nic
        owner = inv.global_owner.get(vid, node.site) if vid in GLOBAL_IDS else node.site
        by_vlan.setdefault((owner, vid), []).append(
            NodeView(
                node=node.name,
                nic=nic.name,
                site=node.site,
                cluster=node.cluster,
                name=inv.hostname(ref, vid),
                plain=plain,
                switch=nic.switch,
                port=nic.port,
                address=str(inv.address(node, vid)),
                mac=nic.mac,
                vlan=vid,
                job=busy.get(node.name),
                mine=node.name in rights.nodes,
                simulated=simulated[nic.switch],
            )
        )
    vlans: dict[VlanKey, VlanView] = {}
    site_vlans: dict[str, list[VlanKey]] = {}
    wanted = {service.site, *sites}
    for job in running:
        if job.user == user:
            wanted |= {v.site for v in job.vlans} | {inv.nodes[n].site for n in job.nodes if n in inv.nodes}
    for site in (s for s in reachable if s in wanted):
        keys = site_vlans.setdefault(site, [])
        for info in await service.vlans(site):
            key = (info.owner, info.id)
            keys.append(key)
            if key not in vlans:
                vlans[key] = VlanView(
                    site=info.owner,
                    id=info.id,
                    kind=info.kind,
                    subnet=info.subnet,
                    tag=info.tag,
                    job=info.job,
                    user=info.user,
                    dhcp=info.dhcp,
                    nodes=by_vlan.get(key, []),
                    refusal=rights.may_use_vlan(info.owner, info.id),
                    dhcp_refusal=rights.may_manage_vlan(info.owner, info.id),
                )
    mine = [j for j in running if j.user == user]
    jobs = [
        JobView(
            j.id, j.user, j.name, j.nodes, tuple((v.site, v.vlan) for v in j.vlans), j.deadline, j.walltime
        )
        for j in mine
    ]
    return Board(
        user=user,
        home=service.site,
        admin=rights.admin,
        sites=reachable,
        site_vlans=site_vlans,
        vlans=vlans,
        jobs=jobs,
        others=len(running) - len(mine),
        simulated=all(simulated.values()),
        nodes={n.key: n for views in by_vlan.values() for n in views},
    )


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
        self.open_error: Exception | None = None
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
        self.drift: dict[NodeKey, int | None] = {}
        self.drift_tags: dict[NodeKey, int | None] = {}
        self.leases: dict[NodeKey, str] = {}
        self.reach: dict[NodeKey, bool] = {}
        self.moving = False
        self.sites_wanted: set[str] = set()
        """Sites whose VLANs are read besides the home site and the user's jobs' (their tab was shown)."""
        self._commands_context: Context | None = None
        self._refresh_timer: Any = None
        self._poll_errors: dict[str, str] = {}
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
    def main(self) -> Any:
        from .screens.main import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    async def _open_service(self) -> bool:
        try:
            self.service = self._owned = await connect(self.settings)
        except USER_ERRORS as exc:
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
            drift: dict[NodeKey, int | None] = {}
            tags: dict[NodeKey, int | None] = {}
            for site in self.service.reachable_sites():
                try:
                    for d in await self.service.drift(site):
                        drift[(d.node, d.nic)] = d.actual
                        tags[(d.node, d.nic)] = d.actual_tag
                    self._poll_ok(f"switches of {site}")
                except USER_ERRORS as exc:
                    self._poll_failed(f"switches of {site}", exc)
            self.post_message(DriftChecked(drift, time.perf_counter() - started, tags))
        board = self.board
        self._polls += 1
        if board is not None:
            await self._poll_leases(board)
            if self._polls % REACH_EVERY == 1:  # one SSH session per node: not at every poll
                await self._poll_reach(board)
        board = await read_board(self.service, self.sites_wanted)
        self.post_message(BoardLoaded(board, time.perf_counter() - started))

    def _poll_due(self) -> None:
        """The interval's poll, unless one still runs (slow switches): it would be cancelled, never finished."""
        if not any(w.group == "poll" and w.is_running for w in self.workers):
            self.poll()

    async def _poll_leases(self, board: Board) -> None:
        by_mac = {n.mac.lower(): n.key for n in board.nodes.values()}
        leases: dict[NodeKey, str] = {}
        for (site, vid), vlan in board.vlans.items():
            if vid == DEFAULT or vlan.dhcp != "on" or self.service.dhcp_kind(site) == "simulated":
                continue
            try:
                for lease in await self.service.leases(vid, site):
                    key = by_mac.get(lease.mac.lower())
                    if key is not None:
                        leases[key] = lease.ip
                self._poll_ok(f"leases of VLAN {vid}")
            except USER_ERRORS as exc:
                self._poll_failed(f"leases of VLAN {vid}", exc)
        self.post_message(LeasesRead(leases))

    async def _poll_reach(self, board: Board) -> None:
        mine = [n for n in board.nodes.values() if n.mine and not n.simulated]
        if not mine:
            return
        try:
            results = await self.service.run([n.plain for n in mine], "true", per_host_timeout=3.0)
        except USER_ERRORS as exc:
            self._poll_failed("reachability", exc)
            return
        self.post_message(ReachChecked({n.key: r.ok for n, r in zip(mine, results, strict=False)}))

    def _poll_failed(self, what: str, exc: BaseException) -> None:
        text = describe_error(exc)
        if self._poll_errors.get(what) != text:
            self._poll_errors[what] = text
            self.log_line(f"poll: cannot read {what}: {text}", "error")

    def _poll_ok(self, what: str) -> None:
        if self._poll_errors.pop(what, None) is not None:
            self.log_line(f"poll: {what} readable again", "ok")

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
        old, new = self.drift, message.drift
        for key in new.keys() - old.keys():
            node = self.board.nodes.get(key) if self.board else None
            where = f"{node.switch} {node.port}" if node else "?"
            tag = message.tags.get(key)
            actual = (
                ("DEFAULT" if new[key] == DEFAULT else f"VLAN {new[key]}")
                if new[key] is not None
                else f"tag {tag}, which is no VLAN of the site"
                if tag is not None
                else "an unreadable port"
            )
            expected = node.vlan if node else None
            exp = "DEFAULT" if expected == DEFAULT else f"VLAN {expected}"
            self.log_line(
                f"drift: {where} ({key[0]}/{key[1]}) should be in {exp}, the switch has {actual}", "warning"
            )
        for key in old.keys() - new.keys():
            self.log_line(f"drift gone: {key[0]}/{key[1]} is where the store says", "ok")
        self.drift = dict(new)
        self.drift_tags = dict(message.tags)
        self._annotate()
        if self.main is not None:
            self.main.polled(message.seconds, len(self.drift))

    def on_leases_read(self, message: LeasesRead) -> None:
        self.leases = message.leases
        self._annotate()

    def on_reach_checked(self, message: ReachChecked) -> None:
        self.reach.update(message.reach)
        self._annotate()

    def _annotate(self) -> None:
        keys = self.drift.keys() | self.leases.keys() | self.reach.keys()
        self.context.notes = {
            k: Annotations(
                drift=k in self.drift,
                actual=self.drift.get(k),
                tag=self.drift_tags.get(k),
                lease=self.leases.get(k, ""),
                reach=self.reach.get(k),
            )
            for k in keys
        }
        if self.main is not None:
            self.main.redraw_lists()

    def on_service_event(self, message: ServiceEvent) -> None:
        event = message.event
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
        self.notify(describe_error(error), title=f"{worker.group} failed", severity="error", timeout=8)
        if not isinstance(error, USER_ERRORS):
            lines = "".join(traceback.format_exception(error)).strip().splitlines()
            for line in lines if self.tracebacks else lines[-1:]:
                self.log_line(f"{worker.group}: {line}", "error")

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.error, title=message.what, severity="error", timeout=8)
        self.log_line(f"{message.what}: {message.error}", "error")

    def log_line(self, text: str, level: str = "info") -> None:
        if self.main is not None:
            self.main.log_line(text, level)

    # --- actions (workers) ------------------------------------------------------------------------

    @work(group="dhcp", exit_on_error=False)
    async def set_dhcp(self, vlan: VlanKey, on: bool) -> None:
        try:
            state = await self.service.dhcp(vlan[1], on, site=vlan[0])
        except USER_ERRORS as exc:
            self.post_message(ActionFailed(f"DHCP of VLAN {vlan[1]}", describe_error(exc)))
            return
        self.notify(f"DHCP server of VLAN {vlan[1]} ({vlan[0]}): {state}")

    @work(group="jobs", exit_on_error=False)
    async def reserve(self, request: str, reply_to: Any = None) -> None:
        try:
            job = await self.service.submit(request)
        except USER_ERRORS as exc:
            (reply_to or self).post_message(ActionFailed("reservation", describe_error(exc)))
            return
        vlans = ", ".join(str(v.vlan) for v in job.vlans) or "none"
        summary = f"job {job.id}: {len(job.nodes)} node(s), VLAN {vlans}"
        self.commands_context.job_id = job.id
        (reply_to or self).post_message(JobReserved(job.id, summary))  # bubbles from a screen to the app

    @work(group="jobs", exit_on_error=False)
    async def release(self, job_id: int) -> None:
        try:
            await self.service.delete_job(job_id)
        except USER_ERRORS as exc:
            self.post_message(ActionFailed(f"release of job {job_id}", describe_error(exc)))
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
        except USER_ERRORS as exc:
            reply_to.post_message(CommandFinished(line, [], [describe_error(exc)], False))
            return
        reply_to.post_message(CommandFinished(line, list(result.lines), list(result.errors), result.ok))
        self.schedule_board()

    async def ssh_node(self, node: NodeView) -> None:
        """An interactive session on the node (through its gateway), the TUI suspended meanwhile."""
        try:
            self.service.ssh_target(node.plain, node.vlan)  # refused before suspending: no I/O here
        except USER_ERRORS as exc:
            self.notify(describe_error(exc), title=f"SSH to {node.short}", severity="error", timeout=8)
            return
        status: int | None = None
        error = ""
        with self.suspend():
            print(f"kavlan-tui: SSH to {node.name} (exit the session to come back)", flush=True)
            try:
                status = await self.service.ssh(node.plain)
            except USER_ERRORS as exc:
                error = describe_error(exc)
        if error:
            self.reach[node.key] = False
            self.notify(error, title=f"SSH to {node.short}", severity="error", timeout=8)
        else:
            self.reach[node.key] = True
            self.notify(f"session on {node.short} ended (exit status {status})")
        self._annotate()

    # --- app actions ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.poll()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.focused, self.screen.active_bindings))

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
        except ConfigError as exc:
            self.post_message(ActionFailed("saving the theme", str(exc)))
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
    try:
        settings = config.load(theme=args.theme, **api_overrides(args))
        app = KavlanApp(settings=settings, poll_interval=args.poll, debug=args.debug)
    except USER_ERRORS as exc:
        print(f"kavlan-tui: {exc}", file=sys.stderr)
        return 1
    app.run()
    if app.open_error is not None:
        print(f"kavlan-tui: {app.open_error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
