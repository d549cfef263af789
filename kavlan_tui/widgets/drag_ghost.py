"""The ghost that follows the mouse while nodes are dragged, and how a drop point finds its VLAN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from textual.content import Content
from textual.errors import NoWidget
from textual.geometry import Offset
from textual.screen import Screen
from textual.widgets import Static

from ..board import NodeView, VlanKey

OK, REFUSED, SAME = "ok", "refused", "same"


@runtime_checkable
class DropTarget(Protocol):
    """A widget nodes can be dropped on: it says which VLAN a screen point designates and shows the verdict."""

    def drop_vlan_at(self, screen_x: int, screen_y: int) -> VlanKey | None: ...

    def show_drop(self, vlan: VlanKey | None, state: str) -> None: ...


def drop_target_at(screen: Screen[object], x: int, y: int) -> tuple[DropTarget, VlanKey] | None:
    """The drop target under a screen point, and its VLAN there: the widget under it or its nearest ancestor."""
    try:
        widget, _region = screen.get_widget_at(x, y)
    except NoWidget:
        return None
    if isinstance(widget, DragGhost):
        # the ghost may still be drawn where the pointer arrives: look under it
        under = [w for w, _r in screen.get_widgets_at(x, y) if not isinstance(w, DragGhost)]
        if not under:
            return None
        widget = under[0]
    node = widget
    while node is not None and node is not screen:
        if isinstance(node, DropTarget):
            key = node.drop_vlan_at(x, y)
            if key is not None:
                return node, key
            return None
        node = node.parent  # type: ignore[assignment]
    return None


def describe(nodes: Sequence[NodeView], limit: int = 3) -> str:
    """``suno-1, suno-2 and 3 more``: names of dragged or moved nodes."""
    names = [n.short for n in nodes[:limit]]
    more = len(nodes) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")


class DragGhost(Static):
    """Floats on the overlay layer next to the pointer: what is dragged and what a drop here would do."""

    DEFAULT_CSS = """
    DragGhost {
        layer: overlay;
        position: absolute;
        display: none;
        width: auto;
        max-width: 56;
        height: auto;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        border: round $primary;
    }
    DragGhost.-ok { border: round $success; }
    DragGhost.-refused { border: round $error; }
    DragGhost.-same { border: round $secondary; }
    """

    ALLOW_SELECT = False

    def __init__(self) -> None:
        super().__init__("", id="drag-ghost")
        self.nodes: tuple[NodeView, ...] = ()

    def begin(self, nodes: Sequence[NodeView]) -> None:
        self.nodes = tuple(nodes)

    def follow(self, x: int, y: int, target: str = "", state: str = "", why: str = "") -> None:
        """Show the ghost beside the pointer at (x, y), never under it: the drop looks for what is under it."""
        count = len(self.nodes)
        what = f"{count} node{'s' if count != 1 else ''}: {describe(self.nodes)}"
        if state == OK:
            verdict = Content.from_markup("[$success]✓[/] drop to move into [b]$target[/]", target=target)
        elif state == SAME:
            verdict = Content.from_markup("[$text-muted]already in $target[/]", target=target)
        elif state == REFUSED:
            verdict = Content.from_markup(
                "[$error]✗ refused:[/] $why", why=why or f"not allowed into {target}"
            )
        else:
            verdict = Content.from_markup("[$text-muted]drop on a VLAN · Esc cancels[/]")
        self.update(Content.assemble(Content.from_markup("[b]⇢[/] "), what, "\n", verdict))
        for cls in (OK, REFUSED, SAME):
            self.set_class(state == cls, f"-{cls}")
        width = min(56, max(len(what), len(verdict.plain)) + 6)
        screen = self.screen.size
        gx = x + 2 if x + 2 + width <= screen.width else max(0, x - width - 1)
        gy = y + 1 if y + 5 <= screen.height else max(0, y - 5)
        self.styles.offset = Offset(gx, gy)
        self.display = True

    def end(self) -> None:
        self.nodes = ()
        self.display = False
