"""Scrolling during a drag: the pointer held near the edge of a scrolling pane scrolls it, so a drop can reach
a VLAN that is off screen."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.errors import NoWidget
from textual.geometry import Offset, Region, Spacing
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

EDGE = 2
"""Rows from a pane's top or bottom edge (twice as many columns from its sides) where a held pointer scrolls it."""
TICK = 0.05
"""Seconds between two steps while the pointer is held there."""
HOLD = 0.3
"""Seconds the pointer must rest in an edge before the pane scrolls: a drop on a VLAN shown at the very edge
must not scroll it away."""


def scrolling_pane_at(
    screen: Screen[object], x: int, y: int, skip: type[Widget] | None = None
) -> Widget | None:
    """The nearest pane that can scroll, from the widget under a screen point up (``skip``: a floating widget
    such as the drag ghost, looked under)."""
    try:
        hits = [w for w, _r in screen.get_widgets_at(x, y) if skip is None or not isinstance(w, skip)]
    except NoWidget:
        return None
    node: Widget | None = hits[0] if hits else None
    while node is not None and node is not screen:
        if node.is_scrollable and (node.max_scroll_y > 0 or node.max_scroll_x > 0):
            return node
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return None


def viewport(pane: Widget) -> Region:
    """The screen region where a pane's scrolling content shows: its content region less what is docked to its
    sides (the board's column titles)."""
    docked = {"top": 0, "right": 0, "bottom": 0, "left": 0}
    for child in pane.children:
        if isinstance(child, Widget) and child.display and child.styles.dock in docked:
            size = child.outer_size
            docked[child.styles.dock] += size.height if child.styles.dock in ("top", "bottom") else size.width
    return pane.scrollable_content_region.shrink(
        Spacing(docked["top"], docked["right"], docked["bottom"], docked["left"])
    )


def edge_step(pane: Widget, x: int, y: int) -> Offset:
    """Cells to scroll ``pane`` by in one step with the pointer at (x, y): faster nearer the edge (fastest over
    what is docked there), nothing away from the edges or where it cannot scroll further."""
    outer, inner = pane.region, viewport(pane)
    if not outer.contains(x, y):
        return Offset(0, 0)
    dx = dy = 0
    if pane.max_scroll_y > 0:
        from_top, from_bottom = max(0, y - inner.y), max(0, inner.bottom - 1 - y)
        if from_top < EDGE and pane.scroll_y > 0:
            dy = -(EDGE - from_top)
        elif from_bottom < EDGE and pane.scroll_y < pane.max_scroll_y:
            dy = EDGE - from_bottom
    if pane.max_scroll_x > 0:
        from_left, from_right = max(0, x - inner.x), max(0, inner.right - 1 - x)
        if from_left < 2 * EDGE and pane.scroll_x > 0:
            dx = -(2 * EDGE - from_left)
        elif from_right < 2 * EDGE and pane.scroll_x < pane.max_scroll_x:
            dx = 2 * EDGE - from_right
    return Offset(dx, dy)


class EdgeScroller:
    """Follows the pointer of a drag; while it rests in the edge of a pane that can scroll, scrolls that pane
    every ``TICK`` (after ``HOLD``) and calls ``moved`` once the pane is drawn at its new place (what is under the pointer
    changed: the drop target must be found again)."""

    def __init__(
        self, owner: Widget, moved: Callable[[int, int], None], skip: type[Widget] | None = None
    ) -> None:
        self.owner = owner
        self.moved = moved
        self.skip = skip
        self.point: tuple[int, int] | None = None
        self._timer: Timer | None = None
        self._since = 0.0

    @property
    def scrolling(self) -> bool:
        return self._timer is not None

    def follow(self, x: int, y: int) -> None:
        """The pointer is at (x, y): start scrolling if it is in an edge, stop if it left it."""
        self.point = (x, y)
        if self._step() is None:
            self.stop()
        elif self._timer is None:
            self._since = time.monotonic()
            self._timer = self.owner.set_interval(TICK, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _step(self) -> tuple[Widget, Offset] | None:
        if self.point is None or not self.owner.is_attached:
            return None
        pane = scrolling_pane_at(self.owner.screen, *self.point, skip=self.skip)
        if pane is None:
            return None
        step = edge_step(pane, *self.point)
        return None if step.is_origin else (pane, step)

    def _tick(self) -> None:
        found = self._step()
        if found is None:
            self.stop()
            return
        if time.monotonic() - self._since < HOLD:
            return
        pane, step = found
        pane.scroll_relative(step.x or None, step.y or None, animate=False, immediate=True)
        point = self.point
        if point is not None:
            self.owner.call_after_refresh(self.moved, *point)
