"""The main screen's part that arranges the board: the filter line (``/``), sort (``o``), group (``g``), and
selecting every node shown (``A``); the screen's views call ``arranged`` to show a view as the user wants it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual import on
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

from kavlan_core.patterns import BadPattern, parse_query

from ..arrange import GROUPS, SORTS, Arranged, Arrangement, Arranger
from ..board import Board, NodeView, Section
from ..messages import FilterCleared
from ..widgets.filter_bar import FilterBar
from ..widgets.node_list import ListContext, NodeList
from ..widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ..widgets.vlan_board import VlanBoard

MINE = "mine"


def view_sections(board: Board, view: str) -> list[Section]:
    """A view's VLANs with their nodes, as the board reads them: the user's (``mine``), or a site's."""
    return board.my_sections() if view == MINE else board.site_sections(view)


def drawn_with_the_key(screen: Screen[None]) -> None:
    """Hand the screen now what the widgets a key changed want drawn or laid out (Textual's own step, each widget's
    ``_check_refresh``, which each runs when next idle): the screen takes them with the key's line, in one frame.
    Left to the widgets, the screen drew the filter line first, and what it changed one frame period later."""
    for widget in screen.walk_children(Widget):
        if widget._repaint_required or widget._layout_required:
            widget._check_refresh()


class ArrangingScreen(Screen[None]):
    """Keeps the user's arrangement (filter, sort, group) for every view; a change redraws the view shown and
    marks the others to be redrawn when shown."""

    context: ListContext
    view: str
    dirty: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.arrangement = Arrangement()
        self.arranged: Arranged | None = None
        """The view shown, as last arranged."""
        self.arranger = Arranger()
        self._sections: dict[str, tuple[Board, list[Section]]] = {}
        """Each view's sections as last read from the board: the same list while the board is the same (the
        arranger keeps what it made for them)."""

    # --- what the views call --------------------------------------------------------------------

    def view_sections(self, board: Board, view: str) -> list[Section]:
        made = self._sections.get(view)
        if made is None or made[0] is not board:
            made = self._sections[view] = (board, view_sections(board, view))
        return made[1]

    def arranged_view(self, board: Board, view: str) -> Arranged:
        """A view's sections as the user wants them; the context learns what the filter shows."""
        arranged = self.arranger.arrange(
            self.view_sections(board, view),
            self.arrangement,
            self.context.notes,
            self.context.selection,
            user=board.user,
        )
        self.context.shown = arranged.shown
        self.context.view_site = board.home if view in ("", MINE) else view
        return arranged

    def shown_arranged(self, arranged: Arranged) -> None:
        """A view was drawn: the counts of the filter line and the status bar follow."""
        self.arranged = arranged
        if self.arrangement.filtering:
            self.query_one(FilterBar).show_count(arranged.matched, arranged.total)
        self.query_one(StatusBar).hidden = self.context.hidden_selected

    def no_match(self) -> Content:
        return Content.from_markup(
            "[b]No node matches[/] [$accent]$text[/]. [$text-muted]Esc clears the filter; F1 in the filter line "
            "lists what it takes.[/]",
            text=self.arrangement.query.text.strip(),
        )

    async def render_view(self) -> None:
        raise NotImplementedError

    @property
    def current_board(self) -> VlanBoard:
        raise NotImplementedError

    # --- changing the arrangement ---------------------------------------------------------------

    async def rearrange(self, arrangement: Arrangement) -> None:
        if arrangement == self.arrangement:
            return
        focused = self.focused
        at = focused.cursor_node if isinstance(focused, NodeList) else None
        self.arrangement = arrangement
        board = self.context.board
        if board is not None:
            self.dirty |= {MINE, *board.sites}
        await self.render_view()
        if isinstance(focused, NodeList):
            self._refocus_on(focused, at)

    def _refocus_on(self, was: NodeList, node: NodeView | None) -> None:
        """The focus was on the board: it stays on the node it was on when that is still shown (sorting,
        grouping), else it goes to the first list shown (the filter hid it)."""
        lists = self.current_board.lists()
        for lst in lists:
            rows = lst.rows
            index = next((i for i, n in enumerate(rows) if node is not None and n.key == node.key), None)
            if index is not None:
                lst.cursor = index
                if self.focused is not lst:
                    lst.focus()
                return
        if was in lists:
            return
        if lists:
            lists[0].focus(scroll_visible=False)

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()
        self.call_after_refresh(self._prepare_filter)

    def _prepare_filter(self) -> None:
        """The filter line is drawn open: what a filter looks at is made now for the view shown, while the user
        types (the first key made it for every node: some 50 ms on a thousand)."""
        board = self.context.board
        if board is not None and self.view:
            sections = self.view_sections(board, self.view)
            self.arranger.prepare(sections, self.context.notes, self.context.selection, board.user)

    async def filter_typed(self, text: str) -> None:
        """The filter line's text changed (its FilterBar calls this in the key's own turn)."""
        try:
            query = parse_query(text)
        except BadPattern as exc:  # being typed (suno-[1-): said, the last filter that could be read stays
            self.query_one(FilterBar).show_error(str(exc))
        else:
            await self.rearrange(replace(self.arrangement, query=query))
        drawn_with_the_key(self)

    @on(FilterBar.Done)
    def _filter_done(self) -> None:
        bar = self.query_one(FilterBar)
        if not bar.text.strip():
            bar.close()
        first = self.current_board.first_list()
        if first is not None:
            first.focus()

    @on(FilterBar.Cleared)
    async def _filter_cleared(self) -> None:
        await self.clear_filter()

    async def on_filter_cleared(self, message: FilterCleared) -> None:
        await self.clear_filter()

    async def clear_filter(self) -> None:
        """Every node shown again; the cursor stays on the node it was on."""
        focused = self.focused
        self.query_one(FilterBar).close()
        await self.rearrange(replace(self.arrangement, query=parse_query("")))
        # the focus is set now, not after this turn (Widget.focus): the board, the line closed and the focus
        # in one frame
        if not isinstance(focused, NodeList) or not focused.display:
            first = self.current_board.first_list()
            if first is not None:
                self.set_focus(first)
        elif self.focused is not focused:
            self.set_focus(focused)
        drawn_with_the_key(self)

    async def action_sort(self) -> None:
        order = list(SORTS)
        await self.set_sort(order[(order.index(self.arrangement.sort) + 1) % len(order)])

    async def set_sort(self, sort: str) -> None:
        await self.rearrange(replace(self.arrangement, sort=sort))
        self.notify(f"sorted by {SORTS[sort]}", timeout=2)

    async def action_group(self) -> None:
        order = list(GROUPS)
        await self.set_group(order[(order.index(self.arrangement.group) + 1) % len(order)])

    async def set_group(self, group: str) -> None:
        await self.rearrange(replace(self.arrangement, group=group))
        self.notify(f"grouped by {GROUPS[group]}", timeout=2)

    def action_select_shown(self) -> None:
        """Select every node the board shows (what matches the filter), or unselect them if all are."""
        nodes = [n for s in self.current_board.sections if not s.hidden for n in s.nodes]
        selection = self.context.selection
        if nodes and all(n.key in selection for n in nodes):
            for n in nodes:
                selection.pop(n.key, None)
        else:
            selection.update({n.key: n for n in nodes})
        for lst in self.query(NodeList):
            lst.refresh()
        status = self.query_one(StatusBar)
        status.selected = len(selection)
        status.hidden = self.context.hidden_selected
