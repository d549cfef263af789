"""One line above the footer: who and where, the selection and what to do with it, the last poll."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    who: reactive[str] = reactive("")
    selected: reactive[int] = reactive(0)
    hidden: reactive[int] = reactive(0)
    """Selected nodes the filter hides: they stay selected, but drags and moves leave them out."""
    poll: reactive[str] = reactive("")
    drift: reactive[int] = reactive(0)

    def render(self) -> Content:
        """Who, the selection, the drift and the last poll; between them as many hints as the width holds (whole
        ones: the last go first)."""
        head: list[Content] = [Content.from_markup("[b]$who[/]", who=self.who)]
        if self.selected:
            hidden = f" ({self.hidden} hidden by the filter)" if self.hidden else ""
            head.append(
                Content.from_markup("   [$accent]$n selected$hidden[/]", n=str(self.selected), hidden=hidden)
            )
            hints = ["drag one onto a VLAN, or m: move to VLAN…", "c: copy", "Esc: unselect"]
        else:
            hints = [
                "/ filters",
                "Space selects",
                "drag a node onto a VLAN, or m",
                "Enter: details",
                "F1 help",
            ]
        tail: list[Content] = []
        if self.drift:
            tail.append(
                Content.from_markup(
                    "   [$warning]≠ $n port$s drifted[/]", n=str(self.drift), s="" if self.drift == 1 else "s"
                )
            )
        if self.poll:
            tail.append(Content.from_markup("   [$text-muted]$poll[/]", poll=self.poll))
        width = self.content_size.width or 1000
        while True:
            said = Content.from_markup("[$text-muted]$hints[/]", hints=" · ".join(hints))
            middle = [Content(" · " if self.selected else "   "), said] if hints else []
            line = Content.assemble(*head, *middle, *tail)
            if line.cell_length <= width or not hints:
                return line
            hints.pop()
