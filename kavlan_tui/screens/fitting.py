"""Dialogs that fit the terminal: their long parts (a plan, a table, a list) get what the screen leaves once the
rest is drawn, so that in a short terminal those parts shorten and scroll, and the buttons stay inside the box."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import events
from textual.screen import ModalScreen
from textual.widget import Widget

ResultType = TypeVar("ResultType")

FEWEST = 3
"""Lines a long part keeps however short the terminal (its content scrolls in them)."""


def shares(room: int, caps: list[int]) -> list[int]:
    """The lines each long part gets of ``room``, each at most its cap and at least ``FEWEST``; what a part does
    not need goes to the others (the smaller caps are served first)."""
    out = [0] * len(caps)
    left = room
    order = sorted(range(len(caps)), key=lambda i: caps[i])
    for served, i in enumerate(order):
        out[i] = max(FEWEST, min(caps[i], left // (len(caps) - served)))
        left -= out[i]
    return out


class FittedDialog(ModalScreen[ResultType]):
    """A modal dialog whose box (``BOX``, at most ``SHARE`` of the screen's height) gives its long parts
    (``LONG``: selector of a child of the box and most lines, border included) what its other parts leave."""

    BOX: ClassVar[str] = "#dialog"
    LONG: ClassVar[tuple[tuple[str, int], ...]] = ()
    SHARE: ClassVar[float] = 0.92

    def on_mount(self) -> None:
        self.call_after_refresh(self.fit)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.fit)

    def fit(self) -> None:
        """Set the long parts' max-height from what the screen's height leaves them now."""
        boxes = self.query(self.BOX)
        if not boxes:
            return
        box = boxes.first()
        long: list[tuple[Widget, int]] = [
            (w, cap) for selector, cap in self.LONG for w in box.query_children(selector)
        ]
        if not long:
            return
        mine = {id(w) for w, _cap in long}
        fixed = sum(
            w.outer_size.height + w.styles.margin.height
            for w in box.children
            if w.display and id(w) not in mine
        )
        margins = sum(w.styles.margin.height for w, _cap in long)
        room = int(self.size.height * self.SHARE) - box.styles.gutter.height - fixed - margins
        for (widget, _cap), lines in zip(long, shares(room, [cap for _w, cap in long]), strict=True):
            if widget.styles.max_height is None or widget.styles.max_height.cells != lines:
                widget.styles.max_height = lines
