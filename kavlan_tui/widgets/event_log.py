"""The event log pane: what happened (moves, switches, DHCP, jobs, drift), when, and how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kavlan_core import events as ev

from ..present import INFO, LOG_EVENTS, Narrator
from .node_row import foreground


class EventLog(ScrollView, can_focus=True):
    """Lines are kept as (time, level, text) and drawn when shown, in the current theme's colours."""

    COMPONENT_CLASSES = {"event-log--time", "event-log--ok", "event-log--warning", "event-log--error"}

    DEFAULT_CSS = """
    EventLog {
        height: 8;
        border: round $panel;
        border-title-color: $foreground;
        background: $surface;
        color: $foreground;
        scrollbar-size-horizontal: 1;
    }
    EventLog:focus { border: round $primary; }
    EventLog > .event-log--time { color: $text-muted; }
    EventLog > .event-log--ok { color: $success; }
    EventLog > .event-log--warning { color: $warning; }
    EventLog > .event-log--error { color: $error; }
    """

    HELP = """\
### Event log

What happened, with timings: jobs started and ended, moves and their switches, DHCP servers switched,
drift found and gone, polls that failed. The newest line is at the bottom; while the log has the
focus it stays where you scrolled.
"""

    MAX_LINES = 2000

    def __init__(self, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.entries: list[tuple[str, str, str]] = []
        self._narrator = Narrator(LOG_EVENTS)
        self._width = 0
        self.border_title = "Events"

    def add_event(self, event: ev.Event) -> None:
        line = self._narrator.line(event)
        if line is not None:
            self.note(line.text, line.level)

    def note(self, text: str, level: str = INFO) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.clock()))
        self.entries.append((stamp, level, text))
        del self.entries[: -self.MAX_LINES]
        self._width = max(self._width, len(text) + 10)
        self.virtual_size = Size(self._width, len(self.entries))
        if not self.has_focus:  # it follows the newest line, unless the user is in it, reading
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not 0 <= index < len(self.entries):
            return Strip.blank(width, base)
        stamp, level, text = self.entries[index]
        get = self.get_component_rich_style
        segments = [Segment(stamp + "  ", base + foreground(get("event-log--time")))]
        segments.append(
            Segment(text, base + foreground(get(f"event-log--{level}")) if level != INFO else base)
        )
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)

    def lines_text(self) -> list[str]:
        return [text for _stamp, _level, text in self.entries]
