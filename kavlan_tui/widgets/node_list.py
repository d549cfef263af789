"""One VLAN on the board, header and nodes line by line: cursor, selection, drag source and drop target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Region, Size
from textual.reactive import Reactive, reactive
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget

from kavlan_core.model import GLOBAL_IDS, VlanKind

from ..board import NO_NOTE, Annotations, Board, NodeKey, NodeView, Section, VlanKey
from ..messages import (
    CopyRequested,
    DragEnded,
    DragStarted,
    FilterCleared,
    MoveRequested,
    NodeChosen,
    PickTarget,
    SelectionChanged,
    SshRequested,
)
from .auto_scroll import EdgeScroller
from .drag_ghost import OK, REFUSED, SAME, DragGhost, DropTarget, drop_target_at
from .node_row import NodeRow, RowStyles, foreground
from .vlan_header import header_content, section_id

DRAG_THRESHOLD = 2
"""Cells the pointer must travel with the button down before a press becomes a drag."""
HEADER = 1
"""Lines above the first node: the VLAN's header."""


@dataclass
class ListContext:
    """What every node list of a screen shares: the board, the selection (across VLANs) and the polls' notes."""

    board: Board | None = None
    selection: dict[NodeKey, NodeView] = field(default_factory=dict)
    notes: dict[NodeKey, Annotations] = field(default_factory=dict)
    shown: frozenset[NodeKey] | None = None
    """The NICs the filter leaves on the board (None: no filter)."""
    view_site: str = ""
    """The site of the view shown (the home site for the user's jobs): its VLANs need not name it."""

    def chosen_selection(self) -> list[NodeView]:
        """The selected nodes that the board shows: a filter applies to drags and moves too (the selected nodes
        it hides stay selected, but are left out)."""
        if self.shown is None:
            return list(self.selection.values())
        return [n for k, n in self.selection.items() if k in self.shown]

    @property
    def hidden_selected(self) -> int:
        """Selected nodes the filter hides."""
        return 0 if self.shown is None else sum(1 for k in self.selection if k not in self.shown)

    def verdict(self, nodes: Sequence[NodeView], key: VlanKey) -> tuple[str, str, str]:
        """(ok/same/refused, the target's title, why refused) of moving ``nodes`` into ``key``, as far as
        the board knows; the service checks again before anything changes."""
        board = self.board
        if board is None or key not in board.vlans:
            return REFUSED, f"VLAN {key[1]}", "unknown VLAN"
        vlan = board.vlans[key]
        if all(n.vlan == vlan.id and (n.site == vlan.site or vlan.id in GLOBAL_IDS) for n in nodes):
            return SAME, vlan.title, ""
        for n in nodes:
            if vlan.id not in GLOBAL_IDS and n.site != vlan.site:
                return (
                    REFUSED,
                    vlan.title,
                    f"{n.node} is a node of {n.site}: it can only join {n.site}'s VLANs or a global one",
                )
        if board.admin:
            return OK, vlan.title, ""
        if vlan.refusal:
            return REFUSED, vlan.title, vlan.refusal
        for n in nodes:
            if not n.mine:
                return REFUSED, vlan.title, f"{n.node} is not in a running job of {board.user}"
        return OK, vlan.title, ""


def _same(new: Section, old: Section) -> bool:
    """Whether a part of the board shows the same as before (the same VLAN read, the same nodes, counts, state)."""
    return (
        new.vlan is old.vlan
        and new.nodes == old.nodes  # the same NodeViews: compared by identity first
        and (new.listed, new.hidden, new.only_mine, new.group)
        == (old.listed, old.hidden, old.only_mine, old.group)
    )


@dataclass(slots=True)
class _Press:
    row: int
    at: Offset
    ctrl: bool
    shift: bool
    on_check: bool


class NodeList(Widget, can_focus=True):
    """A VLAN and its nodes, drawn line by line (one widget per VLAN, however many nodes: the board stays light).
    Click: cursor; click the box, Ctrl-click or Space: select; Shift-click: a range; drag one node or the
    selection onto another VLAN to move it; ``m``: move to a VLAN chosen from a list. Nodes dropped anywhere
    on it (header or lines) are asked to move into its VLAN."""

    HELP = """\
### Nodes of a VLAN

- **↑ ↓ PgUp PgDn Home End**: move the cursor (it flows from one VLAN to the next)
- **Space** or a click on the box: select or unselect a node; **a**: select the whole VLAN; **A**: every node
  shown (all that match the filter); **Esc**: unselect all (then: clear the filter)
- **m**: move the selection (or the node under the cursor) to a VLAN picked from a list
- **Enter**: the node whole: its NICs as the store and the switch have them, its address, its events
- **c**: copy the names of the selection (or of the node) as a nodefile, to the clipboard or a file
- **/**: filter the board (names, patterns such as `suno-[1-10]`, `sw2`, `vlan:4`, `user:alice`, `down`)
- **mouse**: drag a node, or a selected node to take the whole selection, onto another VLAN; hold the
  pointer near the top or bottom edge of the board (or of the VLAN list) to scroll it
- **s**: open an SSH session on the node (through the gateway of a local VLAN)
"""

    BINDINGS = [
        Binding("space", "toggle_select", "Select", id="select-node", tooltip="Select or unselect the node"),
        Binding(
            "m", "move", "Move to VLAN…", id="move-to-vlan", tooltip="Move the selected nodes to another VLAN"
        ),
        Binding("s", "ssh", "SSH", id="ssh-node", tooltip="Open an SSH session on the node"),
        Binding(
            "enter", "details", "Details", id="node-details", tooltip="The node whole: NICs, address, events"
        ),
        Binding(
            "c", "copy", "Copy", id="copy-names", tooltip="Copy the names as a nodefile (clipboard or file)"
        ),
        Binding("a", "select_all", "Select VLAN", id="select-all", show=False),
        Binding("escape", "clear", "Unselect", id="clear-selection", show=False),
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "cursor(-10)", show=False),
        Binding("pagedown", "cursor(10)", show=False),
        Binding("home", "cursor(-1000000)", show=False),
        Binding("end", "cursor(1000000)", show=False),
    ]

    DEFAULT_CSS = """
    NodeList {
        height: auto;
        width: 1fr;
        margin: 0 0 1 0;
        background: $surface;
        color: $foreground;
    }
    NodeList.-drop-ok { background: $drop-ok; }
    NodeList.-drop-refused { background: $drop-refused; }
    NodeList.-drop-same { background: $boost; }
    """

    ALLOW_SELECT = False

    cursor: reactive[int] = reactive(0, always_update=True)
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)
    """Widget's own lays the screen out again when it changes, after the layout that changed it: a list does not
    scroll (the board does), its new size was laid out and drawn already (a second frame at each key of the
    filter otherwise, every list whose height it changed drawn again)."""

    def __init__(self, section: Section, context: ListContext, *, show_site: bool = False) -> None:
        super().__init__(id=section_id(section.key))
        self.display = not section.hidden
        self.section = section
        self.context = context
        self.show_site = show_site
        self._styles: RowStyles | None = None
        self._row_layout: NodeRow | None = None
        self._press: _Press | None = None
        self._dragging: tuple[NodeView, ...] = ()
        self._hover: DropTarget | None = None
        self._title: tuple[object, int, Strip] | None = None
        self._scroller = EdgeScroller(self, self._dragged_over, skip=DragGhost)

    @property
    def edge_scrolling(self) -> bool:
        """Whether a drag from this list holds the pointer in a pane's edge, scrolling it."""
        return self._scroller.scrolling

    # --- data ---------------------------------------------------------------------------------

    @property
    def rows(self) -> tuple[NodeView, ...]:
        return self.section.nodes

    @property
    def vlan(self) -> VlanKey | None:
        """The VLAN this part of the board shows (None: a cluster or a switch, when grouped so)."""
        return self.section.vlan.key if self.section.vlan is not None else None

    @property
    def cursor_node(self) -> NodeView | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_section(self, section: Section) -> None:
        """New data for the same VLAN: the cursor stays on its node when it is still here."""
        if _same(section, self.section):  # a key of the filter that left this part as it was: nothing to draw
            self.section = section
            return
        keep = self.cursor_node
        grew = len(section.nodes) != len(self.rows) or section.collapsed != self.section.collapsed
        self.section = section
        self.display = not section.hidden
        self._title = None
        cursor = self.cursor
        if keep is not None:
            cursor = next((i for i, n in enumerate(section.nodes) if n is keep), -1)
            if cursor < 0:  # the board was read again: the same node is another view of it
                cursor = next((i for i, n in enumerate(section.nodes) if n.key == keep.key), self.cursor)
        # the whole list is drawn again below: the cursor's watcher would only draw its lines twice more
        self.set_reactive(NodeList.cursor, min(cursor, max(0, len(section.nodes) - 1)))
        if self.has_focus:
            self.call_after_refresh(self.scroll_to_cursor)
        self.refresh(layout=grew)

    def chosen(self) -> list[NodeView]:
        """What an action applies to: the selection (what the filter shows of it) if any, else the node under
        the cursor."""
        selected = self.context.chosen_selection()
        if selected:
            return selected
        node = self.cursor_node
        return [node] if node is not None else []

    # --- drawing ------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        self._styles = None
        self._title = None
        super().notify_style_update()

    def on_resize(self, event: events.Resize) -> None:
        self._row_layout = None

    def component_style(self, name: str) -> Style:
        """A style of the lines (``node-list--cursor``...): the board's, which has them for all its lists (a set
        of component styles per list made the start-up slow: each is matched against every CSS rule)."""
        node = self.parent
        while isinstance(node, Widget):
            if name in node.COMPONENT_CLASSES:
                return node.get_component_rich_style(name)
            node = node.parent
        return self.rich_style

    def row_styles(self) -> RowStyles:
        if self._styles is None:
            get = self.component_style
            self._styles = RowStyles(
                base=self.rich_style,
                # backgrounds with an alpha are blended with the list's own: not partial
                cursor=get("node-list--cursor"),
                selected=get("node-list--selected"),
                # colours such as $text-muted are resolved against the list's background, then laid over any
                muted=foreground(get("node-list--muted")),
                drift=foreground(get("node-list--drift")),
                ok=foreground(get("node-list--ok")),
                bad=foreground(get("node-list--bad")),
                mine=foreground(get("node-list--mine")),
            )
        return self._styles

    def row_layout(self) -> NodeRow:
        """The columns of a node line at the list's width (not Textual's ``layout``: that places children)."""
        grouped = self.section.vlan is None
        layout = self._row_layout
        if layout is None or layout.width != self.size.width or layout.show_vlan != grouped:
            layout = self._row_layout = NodeRow(self.size.width, self.show_site, show_vlan=grouped)
        return layout

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return HEADER + (0 if self.section.collapsed else max(1, len(self.rows)))

    def title_strip(self) -> Strip:
        """The header line, drawn from its Content (theme variables resolved), kept until something changes."""
        width = self.size.width
        board = self.context.board
        if self._title is None or self._title[1] != width:
            content = header_content(self.section, board.user if board else "", width, self.context.view_site)
            base = self.component_style("node-list--title")
            under = VisualStyle.from_rich_style(base)
            parts = content.render(under, end="", parse_style=self._get_style)
            strip = Strip([Segment(text, (under + style).rich_style) for text, style in parts])
            if strip.cell_length > width:
                strip = Strip.join([strip.crop(0, width - 1), Strip([Segment("…", base)])])
            self._title = (self.section, width, strip.adjust_cell_length(width, base))
        return self._title[2]

    def render_line(self, y: int) -> Strip:
        if y < HEADER:
            return self.title_strip()
        y -= HEADER
        styles, row = self.row_styles(), self.row_layout()
        focused = self.has_focus
        if not self.rows:
            if y > 0:
                return Strip.blank(self.size.width, styles.base)
            vlan = self.section.vlan
            text = "no node here" + (
                " — drop nodes on this VLAN to move them in"
                if vlan is not None and vlan.refusal is None
                else ""
            )
            if self.section.only_mine:
                text = "none of your nodes is here"
            return row.placeholder(text, styles, cursor=focused)
        if y >= len(self.rows):
            return Strip.blank(self.size.width, styles.base)
        node = self.rows[y]
        note = self.context.notes.get(node.key, NO_NOTE)
        return row.strip(
            node,
            styles,
            note,
            selected=node.key in self.context.selection,
            cursor=focused and y == self.cursor,
            qualify=self.section.vlan is not None and self.section.vlan.kind is VlanKind.GLOBAL,
            unavailable=board.unavailable.get(node.node) if (board := self.context.board) else None,
        )

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_lines(old)
        self.refresh_lines(new)
        if self.has_focus:
            self.call_after_refresh(self.scroll_to_cursor)

    def refresh_lines(self, row: int, count: int = 1) -> None:
        self.refresh(Region(0, HEADER + row, self.size.width, count))

    def scroll_to_cursor(self) -> None:
        """Bring the cursor's line into view in the board that scrolls this list (in that board's virtual space),
        with the VLAN's header when the cursor is on its first node."""
        if not self.size.height:
            return  # not laid out, or on a board not shown: a scroll now would be from a wrong place
        y = HEADER + self.cursor
        node: Widget = self
        while isinstance(node.parent, Widget) and not node.parent.is_scrollable:
            y += node.virtual_region.y
            node = node.parent
        container = node.parent
        if not isinstance(container, Widget):
            return
        y += node.virtual_region.y
        top = y - HEADER if self.cursor == 0 else y
        container.scroll_to_region(Region(0, top, 1, y - top + 1), animate=False, immediate=True)

    def on_focus(self) -> None:
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor)

    def on_blur(self) -> None:
        self.refresh()

    # --- keyboard -----------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        target = self.cursor + delta
        if target < 0 and self.cursor == 0 and abs(delta) == 1:
            self._hand_over(-1)
            return
        if target >= len(self.rows) and self.cursor >= len(self.rows) - 1 and abs(delta) == 1:
            self._hand_over(1)
            return
        self.cursor = max(0, min(len(self.rows) - 1, target))

    def _hand_over(self, direction: int) -> None:
        """Arrow keys flow from the last node of a VLAN to the first of the next one."""
        lists = list(self.screen.query(NodeList))
        if self not in lists:
            return
        i = lists.index(self) + direction
        if 0 <= i < len(lists):
            nxt = lists[i]
            nxt.cursor = 0 if direction > 0 else max(0, len(nxt.rows) - 1)
            nxt.focus()

    def action_toggle_select(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.toggle(node)
            if self.cursor < len(self.rows) - 1:
                self.cursor += 1

    def toggle(self, node: NodeView) -> None:
        sel = self.context.selection
        if node.key in sel:
            del sel[node.key]
        else:
            sel[node.key] = node
        self._selection_changed()

    def action_select_all(self) -> None:
        sel = self.context.selection
        if self.rows and all(n.key in sel for n in self.rows):
            for n in self.rows:
                sel.pop(n.key, None)
        else:
            sel.update({n.key: n for n in self.rows})
        self._selection_changed()

    def action_clear(self) -> None:
        if self._dragging:
            self._end_drag(None)
            return
        if self.context.selection:
            self.context.selection.clear()
            self._selection_changed()
        elif self.context.shown is not None:
            self.post_message(FilterCleared())

    def _selection_changed(self) -> None:
        for lst in self.screen.query(NodeList):
            lst.refresh()
        self.post_message(SelectionChanged(len(self.context.selection)))

    def action_move(self) -> None:
        nodes = self.chosen()
        if nodes:
            self.post_message(PickTarget(nodes))
        else:
            self.notify("No node here to move: select nodes first (Space)", severity="warning")

    def action_ssh(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.post_message(SshRequested(node))

    def action_details(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.post_message(NodeChosen(node))

    def action_copy(self) -> None:
        nodes = self.chosen()
        if nodes:
            self.post_message(CopyRequested(nodes))

    # --- mouse: click, select, drag -----------------------------------------------------------

    def _row_at(self, y: int) -> int | None:
        row = y - HEADER
        return row if 0 <= row < len(self.rows) else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        row = self._row_at(event.y)
        if row is None:
            if event.y < HEADER:
                self.focus()  # a click on the header's DHCP mark runs its action (Textual's @click)
            return
        event.stop()
        self._press = _Press(row, event.screen_offset, event.ctrl, event.shift, event.x < 2)
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        press = self._press
        if press is None:
            return
        event.stop()
        if not self._dragging:
            moved = max(abs(event.screen_x - press.at.x), abs(event.screen_y - press.at.y))
            if moved < DRAG_THRESHOLD:
                return
            node = self.rows[press.row]
            shown = self.context.chosen_selection()
            self._dragging = tuple(shown) if node.key in self.context.selection else (node,)
            self.query_ghost().begin(self._dragging)
            self.post_message(DragStarted(self._dragging))
        self._drag_to(event.screen_x, event.screen_y)
        self._scroller.follow(event.screen_x, event.screen_y)  # held near a pane's edge, it scrolls

    def on_mouse_up(self, event: events.MouseUp) -> None:
        press, self._press = self._press, None
        self.release_mouse()
        if press is None:
            return
        event.stop()
        if self._dragging:
            found = drop_target_at(self.screen, event.screen_x, event.screen_y)
            self._end_drag(found[1] if found else None)
            return
        self._click(press)

    def _click(self, press: _Press) -> None:
        self.focus()
        node = self.rows[press.row] if press.row < len(self.rows) else None
        if node is None:
            return
        if press.shift:
            lo, hi = sorted((self.cursor, press.row))
            self.context.selection.update({n.key: n for n in self.rows[lo : hi + 1]})
            self._selection_changed()
        elif press.ctrl or press.on_check:
            self.toggle(node)
        self.cursor = press.row

    def query_ghost(self) -> DragGhost:
        return self.screen.query_one(DragGhost)

    def _drag_to(self, x: int, y: int) -> None:
        found = drop_target_at(self.screen, x, y)
        target = found[0] if found else None
        if self._hover is not None and self._hover is not target:
            self._hover.show_drop(None, "")
        self._hover = target
        ghost = self.query_ghost()
        if found is None:
            ghost.follow(x, y)
            return
        state, title, why = self.context.verdict(self._dragging, found[1])
        found[0].show_drop(found[1], state)
        ghost.follow(x, y, title, state, why)

    def _dragged_over(self, x: int, y: int) -> None:
        """The pane under the pointer scrolled: another VLAN may be under it now."""
        if self._dragging:
            self._drag_to(x, y)

    def _end_drag(self, target: VlanKey | None) -> None:
        self._scroller.stop()
        nodes, self._dragging = self._dragging, ()
        if self._hover is not None:
            self._hover.show_drop(None, "")
            self._hover = None
        self.query_ghost().end()
        self.release_mouse()
        self._press = None
        self.post_message(DragEnded(nodes, target))
        if target is not None and nodes:
            state, _title, _why = self.context.verdict(nodes, target)
            if state != SAME:
                # refused ones too: the dialog asks the service, which says why before anything changes
                self.post_message(MoveRequested(nodes, target, via="drag"))

    @property
    def dragging(self) -> bool:
        return bool(self._dragging)

    # --- drop target --------------------------------------------------------------------------

    def drop_vlan_at(self, screen_x: int, screen_y: int) -> VlanKey | None:
        return self.vlan  # a cluster's or a switch's part is no VLAN: nothing to drop on

    def show_drop(self, vlan: VlanKey | None, state: str) -> None:
        self.set_class(vlan is not None and state == OK, "-drop-ok")
        self.set_class(vlan is not None and state == REFUSED, "-drop-refused")
        self.set_class(vlan is not None and state == SAME, "-drop-same")


__all__ = ["OK", "REFUSED", "SAME", "ListContext", "NodeList"]
