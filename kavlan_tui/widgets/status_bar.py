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
    }
    """

    who: reactive[str] = reactive("")
    selected: reactive[int] = reactive(0)
    poll: reactive[str] = reactive("")
    drift: reactive[int] = reactive(0)

    def render(self) -> Content:
        parts: list[Content | str] = [Content.from_markup("[b]$who[/]", who=self.who)]
        if self.selected:
            parts.append(
                Content.from_markup(
                    "   [$accent]$n selected[/] [$text-muted]· drag one onto a VLAN, or m: move to VLAN… · Esc: unselect[/]",
                    n=str(self.selected),
                )
            )
        else:
            parts.append(
                Content.from_markup(
                    "   [$text-muted]Space selects · drag a node onto a VLAN, or m · F1 help · Ctrl+P commands[/]"
                )
            )
        if self.drift:
            parts.append(
                Content.from_markup(
                    "   [$warning]≠ $n port$s drifted[/]", n=str(self.drift), s="" if self.drift == 1 else "s"
                )
            )
        if self.poll:
            parts.append(Content.from_markup("   [$text-muted]$poll[/]", poll=self.poll))
        return Content.assemble(*parts)
