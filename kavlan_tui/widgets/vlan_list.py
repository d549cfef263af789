"""The side list of a site's VLANs, one line each (kind, DHCP, holder, nodes); every line is a drop target."""

from __future__ import annotations

import operator

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from kavlan_core.model import DEFAULT

from ..board import VlanKey, VlanView
from ..messages import VlanChosen
from .drag_ghost import OK, REFUSED
from .node_list import ListContext
from .node_row import fit, foreground

DHCP_GLYPH = {"on": "●", "off": "○", "failed": "✗"}


class VlanList(Widget, can_focus=True):
    """Enter or a click shows the VLAN on the board; nodes dragged onto a line move into that VLAN."""

    HELP = """\
### VLANs of the site

One line per VLAN the site's nodes can be in: its kind (local, routed, global), its DHCP server
(● on, ○ off, ✗ failed), the job holding it, and how many nodes are in it.

- **↑ ↓** and **Enter** (or a click): show that VLAN on the board
- **d**: switch the VLAN's DHCP server on or off (the holder of the VLAN only)
- drop dragged nodes on a line to move them into that VLAN
"""

    BINDINGS = [
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("enter", "choose", "Show VLAN", show=False),
    ]

    COMPONENT_CLASSES = {
        "vlan-list--cursor",
        "vlan-list--muted",
        "vlan-list--default",
        "vlan-list--local",
        "vlan-list--routed",
        "vlan-list--global",
        "vlan-list--on",
        "vlan-list--failed",
        "vlan-list--mine",
        "vlan-list--drop-ok",
        "vlan-list--drop-refused",
    }

    DEFAULT_CSS = """
    VlanList { height: auto; width: 1fr; background: $surface; }
    VlanList > .vlan-list--cursor { background: $primary 30%; }
    VlanList > .vlan-list--muted { color: $text-muted; }
    VlanList > .vlan-list--default { color: $kind-default; }
    VlanList > .vlan-list--local { color: $kind-local; }
    VlanList > .vlan-list--routed { color: $kind-routed; }
    VlanList > .vlan-list--global { color: $kind-global; }
    VlanList > .vlan-list--on { color: $success; }
    VlanList > .vlan-list--failed { color: $error; text-style: bold; }
    VlanList > .vlan-list--mine { color: $success; text-style: bold; }
    VlanList > .vlan-list--drop-ok { background: $drop-ok; }
    VlanList > .vlan-list--drop-refused { background: $drop-refused; }
    """

    ALLOW_SELECT = False

    cursor: reactive[int] = reactive(0)

    def __init__(self, context: ListContext, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.site = ""
        self.rows: list[VlanView] = []
        self._drop: tuple[int, str] | None = None

    def show_site(self, site: str) -> None:
        """The VLANs of ``site`` as the board has them; drawn again only when they changed (the view is shown
        again at each key of the filter, the side's list stays as it is)."""
        board = self.context.board
        rows = [board.vlans[k] for k in board.site_vlans.get(site, []) if k in board.vlans] if board else []
        same = site == self.site and len(rows) == len(self.rows) and all(map(operator.is_, rows, self.rows))
        self.site = site
        self.rows = rows
        self.cursor = min(self.cursor, max(0, len(self.rows) - 1))
        if not same:
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.rows))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y >= len(self.rows):
            return Strip.blank(width, base)
        v = self.rows[y]

        def style(name: str) -> Style:
            return foreground(self.get_component_rich_style(name))

        # backgrounds with an alpha are blended with the list's own: not partial
        if self._drop is not None and self._drop[0] == y:
            base = self.get_component_rich_style(
                "vlan-list--drop-ok" if self._drop[1] == OK else "vlan-list--drop-refused"
            )
        elif self.has_focus and y == self.cursor:
            base = self.get_component_rich_style("vlan-list--cursor")
        board = self.context.board
        label = "DEFAULT" if v.id == DEFAULT else f"{v.id:>4}"
        if v.job is None:
            holder, holder_style = ("site" if v.id == DEFAULT else "free"), "vlan-list--muted"
        elif board is not None and v.user == board.user:
            holder, holder_style = f"#{v.job} you", "vlan-list--mine"
        else:
            holder, holder_style = f"#{v.job} {v.user or ''}", "vlan-list--muted"
        dhcp = "" if v.id == DEFAULT else DHCP_GLYPH.get(v.dhcp, "?")
        dhcp_style = {"on": "vlan-list--on", "failed": "vlan-list--failed"}.get(v.dhcp, "vlan-list--muted")
        count = str(len(v.nodes)) if v.nodes else "·"
        rest = max(1, width - 7 - 1 - 7 - 2 - 5)
        segments = [
            Segment(fit(label, 7) + " ", base + style(f"vlan-list--{v.kind_word}")),
            Segment(fit(v.kind_word, 7), base + style(f"vlan-list--{v.kind_word}")),
            Segment(fit(dhcp, 2), base + style(dhcp_style)),
            Segment(fit(holder, rest), base + style(holder_style)),
            Segment(count.rjust(4) + " ", base + style("vlan-list--muted")),
        ]
        return Strip(segments).adjust_cell_length(width, base)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh(Region(0, old, self.size.width, 1), Region(0, new, self.size.width, 1))
        if self.has_focus and self.parent is not None and isinstance(self.parent, Widget):
            self.parent.scroll_to_region(Region(0, self.virtual_region.y + new, 1, 1), animate=False)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_choose(self) -> None:
        if 0 <= self.cursor < len(self.rows):
            self.post_message(VlanChosen(self.rows[self.cursor].key))

    @property
    def current(self) -> VlanView | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def on_click(self, event: events.Click) -> None:
        if 0 <= event.y < len(self.rows):
            self.cursor = event.y
            self.post_message(VlanChosen(self.rows[event.y].key))

    # --- drop target ------------------------------------------------------------------------

    def drop_vlan_at(self, screen_x: int, screen_y: int) -> VlanKey | None:
        y = screen_y - self.region.y
        return self.rows[y].key if 0 <= y < len(self.rows) else None

    def show_drop(self, vlan: VlanKey | None, state: str) -> None:
        row = next((i for i, v in enumerate(self.rows) if v.key == vlan), None)
        self._drop = (row, state) if row is not None and state in (OK, REFUSED) else None
        self.refresh()
