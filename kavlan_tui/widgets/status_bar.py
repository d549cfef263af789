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
        parts: list[Content | str] = [Content.from_markup("[b]$who[/]", who=self.who)]
        if self.selected:
            hidden = f" ({self.hidden} hidden by the filter)" if self.hidden else ""
            parts.append(
                Content.from_markup(
                    "   [$accent]$n selected$hidden[/] [$text-muted]· drag one onto a VLAN, or m: move to VLAN… · "
                    "c: copy · Esc: unselect[/]",
                    n=str(self.selected),
                    hidden=hidden,
                )
            )
        else:
            parts.append(
                Content.from_markup(
                    "   [$text-muted]/ filters · Space selects · drag a node onto a VLAN, or m · Enter: details · "
                    "F1 help[/]"
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
