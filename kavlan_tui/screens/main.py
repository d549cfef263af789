"""The main screen: jobs and the site's VLANs on the side, the board of VLAN sections, the event log; narrow, the
side collapses (j or l opens it); short, the event log does (e shows it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Header, Tab, Tabs

from kavlan_core import events as ev
from kavlan_core.inventory import DEMO
from kavlan_core.model import DEFAULT

from ..board import Board, VlanKey
from ..messages import (
    CopyRequested,
    JobChosen,
    MoveRequested,
    NodeChosen,
    PickTarget,
    SelectionChanged,
    SshRequested,
    VlanChosen,
)
from ..widgets.drag_ghost import DragGhost
from ..widgets.event_log import EventLog
from ..widgets.filter_bar import FilterBar
from ..widgets.jobs_panel import JobsPanel
from ..widgets.key_bar import KeyBar
from ..widgets.node_list import ListContext, NodeList
from ..widgets.status_bar import StatusBar
from ..widgets.vlan_board import VlanBoard
from ..widgets.vlan_list import VlanList
from .arranging import MINE, ArrangingScreen

if TYPE_CHECKING:
    from ..app import KavlanApp

NARROW = 100
"""Columns below which the side (jobs, VLAN list) collapses: the board keeps the node names."""
SHORT = 30
"""Lines below which the event log collapses."""
FOCUS_FRAMES = ("#jobs", "#vlans-pane", "#main")
"""The panes whose border says the focus is in them."""


def first_view(board: Board) -> str:
    """The view shown first: your jobs when you have one, else every VLAN of your site."""
    return MINE if board.jobs else board.home


class MainScreen(ArrangingScreen):
    """Tabs choose the view: ``Your jobs`` (your VLANs and where your nodes are) or one site (every VLAN)."""

    HELP = """\
### kavlan-tui

Your jobs are on the left, with the VLANs of the site below them. The board in the middle shows
VLANs and the nodes in each: the tab **Your jobs** shows the VLANs your jobs hold and where your
nodes are; a site's tab shows every VLAN of that site (the global VLANs with nodes of every site).

**/** filters the board as you type, **o** sorts it (name, switch and port, state), **g** groups it (by VLAN,
cluster or switch). In a narrow terminal the side collapses (**j** or **l** opens it); in a short one the event
log does (**e** shows or hides it).
"""

    AUTO_FOCUS = None  # the board takes the focus once it is read
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """Screen's own draws the whole screen again at each move of the focus: the widgets it leaves and enters draw
    themselves again (their look at the focus, and the panes' borders, see set_focus)."""
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT, "-tall")]

    BINDINGS = [
        Binding("r", "reserve", "Reserve", id="reserve", tooltip="Reserve nodes and VLANs"),
        Binding(
            "x", "release", "Release", id="release-job", show=False, tooltip="Release the highlighted job"
        ),
        Binding(
            "d",
            "toggle_dhcp_here",
            "DHCP on/off",
            id="toggle-dhcp",
            tooltip="Switch the DHCP server of the VLAN under the cursor",
        ),
        Binding(
            "slash", "filter", "Filter", id="filter", tooltip="Narrow the board as you type: names, patterns"
        ),
        Binding(
            "t",
            "monitor",
            "Monitor",
            id="monitor",
            show=False,
            tooltip="Live monitoring of the VLAN under the cursor: links, traffic, isolation",
        ),
        Binding("o", "sort", "Sort", id="sort", tooltip="Sort by name, by switch and port, or by state"),
        Binding("g", "group", "Group", id="group", tooltip="Group by VLAN, by cluster or by switch"),
        Binding(
            "A",
            "select_shown",
            "Select all shown",
            id="select-shown",
            show=False,
            tooltip="Select every node shown (what matches the filter), or unselect them",
        ),
        Binding(
            "e", "toggle_log", "Event log", id="toggle-log", show=False, tooltip="Show or hide the event log"
        ),
        Binding("right_square_bracket", "view(1)", "Next tab", id="next-view", show=False),
        Binding("left_square_bracket", "view(-1)", "Previous tab", id="previous-view", show=False),
        Binding("j", "focus_jobs", "Jobs", id="focus-jobs", show=False),
        Binding("l", "focus_vlans", "VLAN list", id="focus-vlans", show=False),
        Binding("b", "focus_board", "Board", id="focus-board", show=False),
    ]

    def __init__(self, context: ListContext) -> None:
        super().__init__()
        self.context = context
        self.view = ""
        self.dirty: set[str] = set()
        self._first = True

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        service = self.kapp.service
        sites = service.reachable_sites()
        board = (
            self.context.board
        )  # read before this screen was made (the store answered at once): shown at once
        first = first_view(board) if board is not None else None
        yield Header(icon="⇄")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield JobsPanel(self.kapp.clock, id="jobs")
                with VerticalScroll(id="vlans-pane"):
                    yield VlanList(self.context, id="vlan-list")
            with Vertical(id="main"):
                yield Tabs(
                    Tab("Your jobs", id=f"view-{MINE}"),
                    *(Tab(s, id=f"view-{s}") for s in sites),
                    active=f"view-{first}" if first else None,
                    id="view-tabs",
                )
                yield FilterBar(self.filter_typed, id="filter")
                # a board per view, made when first shown
                with ContentSwitcher(id="views", initial=f"board-{first}" if first else None):
                    if board is not None and first is not None:
                        yield VlanBoard(
                            first,
                            self.context,
                            show_site=first == MINE,
                            id=f"board-{first}",
                            sections=self.arranged_view(board, first).sections,
                        )
        yield EventLog(self.kapp.clock, id="log")
        yield StatusBar(id="status")
        yield KeyBar()
        yield DragGhost()

    async def on_mount(self) -> None:
        service = self.kapp.service
        inv = service.inventory
        testbed = "demo testbed" if service.settings.inventory == DEMO else f"testbed {Path(inv.source).name}"
        self.sub_title = f"{service.user}@{service.site} · {testbed} · {len(inv.nodes)} nodes"
        self.query_one(StatusBar).who = f"{service.user}@{service.site}"
        self.query_one("#vlans-pane").border_title = f"VLANs of {service.site}"
        self.query_one(EventLog).note(
            f"{testbed}: {len(inv.sites)} sites, {len(inv.nodes)} nodes, {len(inv.switches)} switches; "
            f"you are {service.user} on {service.site}"
        )
        if self.context.board is not None:
            await self.show_board(self.context.board, 0.0)

    # --- called by the app ----------------------------------------------------------------------

    async def show_board(self, board: Board, seconds: float) -> None:
        self.query_one(JobsPanel).show_jobs(board.jobs, board.home, board.others, admin=board.admin)
        self.dirty = {MINE, *board.sites}
        if self._first:
            self._first = False
            await self._switch(first_view(board))
            first = self.current_board.first_list()
            if (
                first is not None
            ):  # now, before the first paint: focus restyles the board, drawn twice otherwise
                self.set_focus(first, scroll_visible=False)
        else:
            await self.render_view()

    async def _switch(self, view: str) -> None:
        """Show a view: its tab, its board (read again if the board changed since), its site's VLAN list."""
        self.view = view
        tabs = self.query_one(Tabs)
        if tabs.active != f"view-{view}":
            tabs.active = f"view-{view}"
        switcher = self.query_one(ContentSwitcher)
        if not switcher.query_children(f"#board-{view}"):
            await switcher.add_content(
                VlanBoard(view, self.context, show_site=view == MINE, id=f"board-{view}")
            )
        switcher.current = f"board-{view}"
        if view in self.dirty:
            await self.render_view()
        else:
            self._show_vlan_list()
        self.call_after_refresh(self._refocus)

    def _refocus(self) -> None:
        """The focus was in the board that is now hidden: put it in the one shown."""
        focused = self.focused
        if focused is None or (isinstance(focused, NodeList) and focused.parent is not self.current_board):
            self.action_focus_board()

    def site_of_view(self) -> str:
        board = self.context.board
        home = board.home if board else self.kapp.service.site
        return home if self.view in ("", MINE) else self.view

    @property
    def current_board(self) -> VlanBoard:
        return self.query_one(f"#board-{self.view or MINE}", VlanBoard)

    async def render_view(self) -> None:
        board = self.context.board
        if board is None or not self.view:
            return
        widget = self.current_board
        if self.view != MINE and self.view not in board.site_vlans:
            widget.set_banner(
                Content.from_markup("[$text-muted]Reading the VLANs of $site…[/]", site=self.view)
            )
            self.kapp.want_site(self.view)
            self._show_vlan_list()
            return
        self.dirty.discard(self.view)
        arranged = self.arranged_view(board, self.view)
        banner: Content | None
        if self.view == MINE:
            if not board.jobs:
                banner = Content.from_markup(
                    "[b]You have no running job[/], so no node is yours to move yet. Press [b $accent]r[/] to reserve "
                    "nodes and a VLAN (a form, or the kavlan-oarsub syntax). The site tabs show every VLAN, read-only."
                )
            else:
                banner = Content.from_markup(
                    "[$text-muted]Your VLANs, then where your nodes are. Drag nodes onto a VLAN, or select them "
                    "(Space) and press [b]m[/].[/]"
                )
        else:
            banner = (
                None
                if board.jobs or board.admin
                else Content.from_markup(
                    "[b]Read-only:[/] you have no job. Press [b $accent]r[/] to reserve nodes and a VLAN, then drag your "
                    "nodes onto it."
                )
            )
        if self.arrangement.filtering and not arranged.matched:
            banner = self.no_match()
        widget.set_banner(banner)
        widget.configure(self.arrangement.group != "vlan", self.arrangement.sort)
        await widget.show(arranged.sections)
        self.shown_arranged(arranged)
        self._show_vlan_list()

    def _show_vlan_list(self) -> None:
        site = self.site_of_view()
        self.query_one(VlanList).show_site(site)
        pane, title = self.query_one("#vlans-pane"), f"VLANs of {site}"
        if pane.border_title != title:  # a title set draws the pane again, even the same
            pane.border_title = title

    def redraw_lists(self) -> None:
        for lst in self.query(NodeList):
            lst.refresh()

    def polled(self, seconds: float, drift: int) -> None:
        status = self.query_one(StatusBar)
        status.poll = f"switches read {time.strftime('%H:%M:%S', time.localtime(self.kapp.clock()))}"
        status.drift = drift

    def log_event(self, event: ev.Event) -> None:
        self.query_one(EventLog).add_event(event)

    def log_line(self, text: str, level: str = "info") -> None:
        self.query_one(EventLog).note(text, level)

    def want_view(self, view: str) -> None:
        self.query_one(Tabs).active = f"view-{view}"

    # --- views ----------------------------------------------------------------------------------

    @on(Tabs.TabActivated, "#view-tabs")
    async def _view_changed(self, event: Tabs.TabActivated) -> None:
        if self._first or event.tab.id != event.tabs.active:
            return  # the tabs' first activation (the first board chooses the view), or one since overridden
        view = (event.tab.id or "view-mine").removeprefix("view-")
        if view != self.view or view in self.dirty:
            await self._switch(view)

    def action_view(self, delta: int) -> None:
        self.query_one(Tabs).action_next_tab() if delta > 0 else self.query_one(Tabs).action_previous_tab()

    def action_focus_jobs(self) -> None:
        self._open_side("#job-options")

    def action_focus_vlans(self) -> None:
        self._open_side("#vlan-list")

    def _open_side(self, selector: str) -> None:
        """Focus a widget of the side, showing the side first where it is collapsed (narrow terminals)."""
        self.add_class("-side-open")
        self.call_after_refresh(self.query_one(selector).focus)

    def set_focus(
        self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False
    ) -> None:
        super().set_focus(widget, scroll_visible, from_app_focus)
        self._frame_focus()

    def _frame_focus(self) -> None:
        """The panes the focus is in have their border lit: the class ``-focus-within``, restyling the pane alone
        when the focus enters or leaves it (CSS's :focus-within restyles every widget in the pane at each move
        of the focus, even within it: 35-70 ms for the board's)."""
        inside = set(self.focused.ancestors_with_self) if self.focused is not None else set()
        for selector in FOCUS_FRAMES:
            try:
                frame = self.query_one(selector)
            except NoMatches:  # not composed yet
                continue
            if frame.has_class("-focus-within") != (frame in inside):
                frame.set_class(frame in inside, "-focus-within", update=False)
                self.app.stylesheet.update_nodes([frame], animate=True)  # no rule styles what is inside by it

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # narrow, the side shows while the focus is in it, and collapses once it leaves
        sidebar = self.query_one("#sidebar")
        inside = any(node is sidebar for node in event.widget.ancestors_with_self)
        if inside and not self.has_class("-narrow"):
            return  # wide, the side always shows: a class of the screen restyles all of it (80 ms at start-up)
        self.set_class(inside, "-side-open")

    def action_toggle_log(self) -> None:
        shown = self.query_one(EventLog).display
        self.set_class(not shown, "-log-shown")
        self.set_class(shown, "-log-hidden")

    def action_focus_board(self) -> None:
        if not self.query(f"#board-{self.view or MINE}"):
            return
        first = self.current_board.first_list()
        if first is not None:
            first.focus(scroll_visible=False)

    async def on_vlan_chosen(self, message: VlanChosen) -> None:
        board_widget = self.current_board
        if not board_widget.has_section(message.vlan):
            await self._switch(self.site_of_view())
            board_widget = self.current_board
        board_widget.reveal(message.vlan)

    async def on_job_chosen(self, message: JobChosen) -> None:
        board = self.context.board
        job = next((j for j in board.jobs if j.id == message.job), None) if board else None
        self.kapp.commands_context.job_id = message.job
        if self.view != MINE:
            await self._switch(MINE)
        if job is not None and job.vlans:
            self.current_board.reveal(job.vlans[0])

    # --- selection, moves, SSH, DHCP --------------------------------------------------------------

    def on_selection_changed(self, message: SelectionChanged) -> None:
        status = self.query_one(StatusBar)
        status.selected = message.count
        status.hidden = self.context.hidden_selected

    def on_pick_target(self, message: PickTarget) -> None:
        from .pick_vlan import VlanPicker

        board = self.context.board
        if board is None:
            return

        def chosen(key: VlanKey | None) -> None:
            if key is not None:
                self.post_message(MoveRequested(message.nodes, key, via="keyboard"))

        self.app.push_screen(VlanPicker(message.nodes, board, self.context), chosen)

    def on_move_requested(self, message: MoveRequested) -> None:
        from .move import MoveDialog
        from .report import ReportScreen

        board = self.context.board
        if board is None or message.target not in board.vlans:
            return

        def done(outcome: Any) -> None:
            if outcome is not None:
                self.kapp.journal_outcome(outcome)
                self.context.selection.clear()
                self.query_one(StatusBar).selected = 0
                self.redraw_lists()
                self.app.push_screen(ReportScreen(outcome))

        self.app.push_screen(MoveDialog(message.nodes, board.vlans[message.target], self.context), done)

    async def on_ssh_requested(self, message: SshRequested) -> None:
        await self.kapp.ssh_node(message.node)

    def on_node_chosen(self, message: NodeChosen) -> None:
        from .node_detail import NodeScreen

        self.app.push_screen(NodeScreen(message.node, self.context))

    def on_copy_requested(self, message: CopyRequested) -> None:
        from .copy_nodes import CopyScreen

        self.app.push_screen(CopyScreen(message.nodes))

    def action_toggle_dhcp(self, site: str, vlan: int) -> None:
        board = self.context.board
        view = board.vlans.get((site, vlan)) if board else None
        if view is None:
            return
        if vlan == DEFAULT:
            self.notify(
                "The DEFAULT VLAN's DHCP server belongs to the site: it cannot be switched",
                severity="warning",
            )
            return
        self.kapp.set_dhcp((site, vlan), view.dhcp != "on")

    def action_monitor(self) -> None:
        """The monitoring view of the VLAN under the cursor (else of the user's first job's VLAN)."""
        from .monitor import MonitorScreen

        key = self._vlan_here()
        board = self.context.board
        if key is None or board is None:
            self.notify(
                "Put the cursor on a VLAN first (its nodes, or its line in the VLAN list)", severity="warning"
            )
            return
        site, vlan = key
        nodes = [n for n in board.nodes.values() if (n.site, n.vlan) == (site, vlan)]
        self.app.push_screen(MonitorScreen(site, vlan, sorted(nodes, key=lambda n: n.key)))

    def _vlan_here(self) -> VlanKey | None:
        focused = self.focused
        if isinstance(focused, NodeList):
            return focused.vlan
        if isinstance(focused, VlanList) and focused.current is not None:
            return focused.current.key
        board = self.context.board
        held = [k for j in board.jobs for k in j.vlans] if board else []
        return held[0] if held else None

    def action_toggle_dhcp_here(self) -> None:
        focused = self.focused
        key: VlanKey | None = None
        if isinstance(focused, NodeList):
            key = focused.vlan
        elif isinstance(focused, VlanList) and focused.current is not None:
            key = focused.current.key
        else:
            board = self.context.board
            held = [k for j in board.jobs for k in j.vlans] if board else []
            key = held[0] if held else None
        if key is None:
            self.notify(
                "Put the cursor on a VLAN first (its nodes, or its line in the VLAN list)", severity="warning"
            )
            return
        self.action_toggle_dhcp(*key)

    # --- jobs -----------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "reserve":
            self.action_reserve()
        elif event.button.id == "release":
            self.action_release()

    def action_reserve(self) -> None:
        from .reserve import ReserveScreen

        self.app.push_screen(ReserveScreen())

    def action_release(self) -> None:
        from .confirm import ConfirmScreen

        panel = self.query_one(JobsPanel)
        job_id = panel.highlighted_job
        job = next((j for j in panel.jobs if j.id == job_id), None)
        if job is None:
            self.notify("No job to release", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.kapp.release(job.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Release job {job.id}?",
                f"Its {len(job.nodes)} node(s) go back to DEFAULT and the DHCP servers of its VLANs stop.",
                "Release",
            ),
            confirmed,
        )
