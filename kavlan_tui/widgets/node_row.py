"""How one node is drawn on one line of a VLAN's list: its columns, their widths and their styles."""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from kavlan_core.model import vlan_label

from ..board import NO_NOTE, Annotations, NodeView, short_port

CHECK_ON, CHECK_OFF = "☑", "☐"
DRIFT_MARK = "≠"


def fit(text: str, width: int) -> str:
    """``text`` padded or cut to ``width`` cells (with an ellipsis when cut)."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.ljust(width)


def foreground(style: Style) -> Style:
    """A style's colour and text attributes without its background: to lay over a cursor or selection."""
    return Style(
        color=style.color, bold=style.bold, italic=style.italic, underline=style.underline, dim=style.dim
    )


@dataclass(frozen=True, slots=True)
class RowStyles:
    """Rich styles resolved from a list's component classes (so from the theme's variables)."""

    base: Style
    cursor: Style
    selected: Style
    muted: Style
    drift: Style
    ok: Style
    bad: Style
    mine: Style


# (name, title, width); the host column takes what is left, between its minimum and maximum
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("vlan", "VLAN", 8),
    ("site", "site", 8),
    ("switch", "switch", 12),
    ("port", "port", 10),
    ("address", "lease/address", 16),
    ("reach", "reach", 7),
    ("job", "job", 7),
)
HOST_MIN, HOST_MAX = 20, 34
LEAD = 4  # check box, space, drift mark, space
# the columns given up first when the line is narrow
DROP_ORDER = ("site", "job", "reach", "switch", "port", "address", "vlan")
SORTED_BY = {"name": "host", "port": "switch", "state": "reach"}
"""The column whose title is marked for each sort order (arrange.SORTS)."""
SORT_MARK = " ▾"
UNAVAILABLE_SPAN = ("address", "reach", "job")
"""The columns a node marked unavailable gives to the reason (the last three: one cell, to the line's end)."""


class NodeRow:
    """The layout of node lines at one width; ``strip`` draws one node, ``titles`` the column headings. The
    VLAN column is shown when the board is grouped by cluster or switch (its parts are not VLANs then)."""

    def __init__(self, width: int, show_site: bool = False, show_vlan: bool = False) -> None:
        self.width = max(1, width)
        self.show_vlan = show_vlan
        columns = [c for c in COLUMNS if (show_site or c[0] != "site") and (show_vlan or c[0] != "vlan")]
        for name in DROP_ORDER:
            if LEAD + HOST_MIN + sum(w for _n, _t, w in columns) <= self.width:
                break
            columns = [c for c in columns if c[0] != name]
        self.columns = columns
        rest = self.width - LEAD - sum(w for _n, _t, w in columns)
        self.host = max(1, min(HOST_MAX, rest))

    def titles(self, sort: str = "") -> str:
        """The column headings; the column the board is sorted by is marked (switch and port: switch)."""
        marked = SORTED_BY.get(sort, "")
        if marked == "switch" and all(n != "switch" for n, _t, _w in self.columns):
            marked = "port"

        def title(name: str, text: str, width: int) -> str:
            return fit(text + SORT_MARK if name == marked else text, width - 1) + " "

        line = " " * LEAD + title("host", "in-VLAN name", self.host)
        line += "".join(title(n, t, w) for n, t, w in self.columns)
        return fit(line, self.width)

    def cells(
        self, node: NodeView, note: Annotations, *, qualify: bool = False, unavailable: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(column, text, width) of every column but the lead; ``qualify`` adds the site to the name (the
        nodes of a global VLAN come from every site). A node marked ``unavailable`` (the reason) has its lease,
        reach and job columns given to that reason, as one cell."""
        out = [("host", f"{node.short}.{node.site}" if qualify else node.short, self.host)]
        merged = [w for n, _t, w in self.columns if n in UNAVAILABLE_SPAN] if unavailable else []
        if merged:  # the last columns: the reason runs on to the end of the line
            merged.append(max(0, self.width - LEAD - self.host - sum(w for _n, _t, w in self.columns)))
        for name, _title, width in self.columns:
            if merged and name in UNAVAILABLE_SPAN:
                if name == next(n for n, _t, _w in self.columns if n in UNAVAILABLE_SPAN):
                    out.append(("unavailable", f"✗ unavailable: {unavailable}", sum(merged)))
                continue
            if name == "vlan":
                text = vlan_label(node.vlan)
            elif name == "site":
                text = node.site
            elif name == "switch":
                text = node.switch
            elif name == "port":
                text = short_port(node.port)
            elif name == "address":
                if note.drift:
                    if note.actual is not None:
                        text = "switch: " + vlan_label(note.actual)
                    else:
                        text = f"switch: tag {note.tag}" if note.tag is not None else "switch: unread"
                else:
                    text = note.lease or node.address
            elif name == "reach":
                if note.reach is True:
                    text = "● up"
                elif note.reach is False:
                    text = "✗ down"
                else:
                    text = "· sim" if node.simulated else "?"
            else:
                text = f"#{node.job}" if node.job is not None else "-"
            out.append((name, text, width))
        return out

    def strip(
        self,
        node: NodeView,
        styles: RowStyles,
        note: Annotations = NO_NOTE,
        *,
        selected: bool = False,
        cursor: bool = False,
        qualify: bool = False,
        unavailable: str | None = None,
    ) -> Strip:
        base = styles.base
        if cursor:
            base = base + styles.cursor
        elif selected:
            base = base + styles.selected
        segments = [
            Segment(CHECK_ON if selected else CHECK_OFF, base),
            Segment(" ", base),
            Segment(DRIFT_MARK if note.drift else " ", base + styles.drift if note.drift else base),
            Segment(" ", base),
        ]
        for name, text, width in self.cells(node, note, qualify=qualify, unavailable=unavailable):
            style = base
            if name == "unavailable":
                style = base + styles.bad
            elif name == "host" and node.mine:
                style = base + styles.mine
            elif name == "address":
                style = base + (styles.drift if note.drift else styles.ok if note.lease else styles.muted)
            elif name == "reach":
                style = base + (
                    styles.ok if note.reach else styles.bad if note.reach is False else styles.muted
                )
            elif name == "job" and node.job is None or name in ("site", "switch", "port") and not cursor:
                style = base + styles.muted
            segments.append(Segment(fit(text, width - 1) + " ", style))
        return Strip(segments).adjust_cell_length(self.width, base).crop(0, self.width)

    def placeholder(self, text: str, styles: RowStyles, *, cursor: bool = False) -> Strip:
        base = styles.base + styles.cursor if cursor else styles.base
        return Strip([Segment(fit("    " + text, self.width), base + styles.muted)])
