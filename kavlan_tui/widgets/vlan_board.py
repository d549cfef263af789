"""A scrolling board of VLAN sections (the user's VLANs, or every VLAN of a site), updated in place."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Static

from ..board import Section, SectionKey
from .node_list import ListContext, NodeList
from .node_row import NodeRow
from .vlan_header import section_id


class ColumnTitles(Static):
    """The column headings of every node line below, kept at the top while the board scrolls; the column the
    board is sorted by is marked."""

    DEFAULT_CSS = """
    ColumnTitles {
        dock: top;
        height: 1;
        color: $text-muted;
        background: $surface;
        text-style: bold;
    }
    """

    def __init__(self, show_site: bool) -> None:
        super().__init__("")
        self.show_site = show_site
        self.show_vlan = False
        self.sort = "name"

    def configure(self, show_vlan: bool, sort: str) -> None:
        if (show_vlan, sort) != (self.show_vlan, self.sort):
            self.show_vlan, self.sort = show_vlan, sort
            self._draw(self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._draw(event.size.width)

    def _draw(self, width: int) -> None:
        if width:
            self.update(NodeRow(width, self.show_site, self.show_vlan).titles(self.sort))


class VlanBoard(VerticalScroll):
    """One view of the testbed: ``mine`` (the user's jobs) or a site's name. Sections are keyed by VLAN,
    so a refresh with the same VLANs updates lines in place instead of rebuilding widgets."""

    COMPONENT_CLASSES = {
        "node-list--cursor",
        "node-list--selected",
        "node-list--muted",
        "node-list--drift",
        "node-list--ok",
        "node-list--bad",
        "node-list--mine",
        "node-list--title",
    }
    """The look of the node lines of every VLAN on the board (NodeList.component_style)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=True, repaint=False)
    """Laid out again when the filter changes its height (its scrollbar may come or go), not drawn again: what it
    shows are its lists, drawn already (the whole board was drawn twice at each key of the filter, otherwise)."""

    DEFAULT_CSS = """
    VlanBoard {
        height: 1fr;
        scrollbar-gutter: stable;
        background: $surface;
    }
    VlanBoard > .node-list--title { background: $panel; color: $foreground; }
    VlanBoard > .node-list--cursor { background: $primary 35%; }
    VlanBoard > .node-list--selected { background: $accent 18%; }
    VlanBoard > .node-list--muted { color: $text-muted; }
    VlanBoard > .node-list--drift { color: $warning; text-style: bold; }
    VlanBoard > .node-list--ok { color: $success; }
    VlanBoard > .node-list--bad { color: $error; }
    VlanBoard > .node-list--mine { text-style: bold; }
    VlanBoard > .banner {
        width: 1fr;
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $boost;
        color: $foreground;
    }
    VlanBoard > .banner.-empty { display: none; }
    """

    def __init__(
        self,
        view: str,
        context: ListContext,
        *,
        show_site: bool = False,
        id: str | None = None,
        sections: list[Section] | None = None,
    ) -> None:
        super().__init__(id=id)
        self.view = view
        self.context = context
        self.show_site = show_site
        self.keys: list[SectionKey] = []
        self._later: list[Section] = []
        """Sections below the first screenful, mounted just after it is drawn (a faster first paint)."""
        self._initial = sections
        """Sections known when the board is made: composed with it."""
        self._banner: Content | None = None

    def compose(self) -> ComposeResult:
        yield ColumnTitles(self.show_site)
        yield Static("", classes="banner -empty")
        if self._initial is not None:
            sections, self._initial = self._initial, None
            self.keys = [s.key for s in sections]
            first = self._first_screenful(sections, self.app.size.height)
            self._later = sections[first:]
            yield from (NodeList(s, self.context, show_site=self.show_site) for s in sections[:first])

    def on_mount(self) -> None:
        if self._later:
            self.call_after_refresh(self._mount_later, self.keys)

    @staticmethod
    def _first_screenful(sections: list[Section], height: int) -> int:
        """How many sections fill a screen of that height (at least one)."""
        lines, first = 0, 0
        while first < len(sections) and (lines < height or first < 1):
            lines += len(sections[first].nodes) + 3
            first += 1
        return first

    def set_banner(self, content: Content | None) -> None:
        """The line above the parts; the same line again is not drawn again (each key of the filter sets it)."""
        said = self._banner
        if said is not None and content is not None and said.is_same(content) or said is content is None:
            return
        self._banner = content
        banner = self.query_one(".banner", Static)
        banner.set_class(not content, "-empty")
        banner.update(content or "")

    def configure(self, grouped: bool, sort: str) -> None:
        """How its parts are made (VLANs, or clusters and switches: a VLAN column then) and sorted."""
        self.query_one(ColumnTitles).configure(grouped, sort)

    async def show(self, sections: list[Section]) -> None:
        """Show these parts: in place when they are the same as shown (a filter hides or shows parts, and
        changes their lines), else made again."""
        keys = [s.key for s in sections]
        if keys == self.keys:
            later = {s.key for s in self._later}
            for section in sections:
                if section.key not in later:
                    self.section(section.key).set_section(section)
            self._later = [s for s in sections if s.key in later]
            return
        focused = self.screen.focused if self.is_attached else None
        keep = focused.section.key if isinstance(focused, NodeList) and focused.parent is self else None
        await self.query(NodeList).remove()
        self.keys = keys
        # what fits on the screen first, the rest once that is drawn: the board is usable sooner
        first = self._first_screenful(sections, self.screen.size.height)
        if keep in keys[first:]:
            first = keys.index(keep) + 1
        self._later = sections[first:]
        await self.mount_all([NodeList(s, self.context, show_site=self.show_site) for s in sections[:first]])
        if self._later:
            self.call_after_refresh(self._mount_later, keys)
        if keep in keys:
            self.section(keep).focus(scroll_visible=False)  # type: ignore[arg-type]

    async def _mount_later(self, keys: list[SectionKey]) -> None:
        later, self._later = self._later, []
        if later and keys == self.keys:
            await self.mount_all([NodeList(s, self.context, show_site=self.show_site) for s in later])

    def section(self, key: SectionKey) -> NodeList:
        """The node list of a VLAN (or cluster, or switch) shown on this board."""
        return self.query_one(f"#{section_id(key)}", NodeList)

    def has_section(self, key: SectionKey) -> bool:
        """Whether the VLAN is on this board (mounted: its lines can be looked at)."""
        return key in self.keys and key not in {s.key for s in self._later}

    def reveal(self, key: SectionKey) -> None:
        """Scroll a VLAN's section to the top and put the cursor in it."""
        if not self.has_section(key):
            if key in self.keys:
                self.call_after_refresh(self.reveal, key)
            return
        section = self.section(key)
        if not section.display:
            return  # the filter hides it
        self.scroll_to_widget(section, top=True, animate=False)
        section.focus(scroll_visible=False)

    def first_list(self) -> NodeList | None:
        """The first part shown (the filter may hide some)."""
        return next((lst for lst in self.query(NodeList) if lst.display), None)

    def lists(self) -> list[NodeList]:
        return [lst for lst in self.query(NodeList) if lst.display]

    @property
    def sections(self) -> list[Section]:
        """Every part of the board, mounted or still to be."""
        return [lst.section for lst in self.query(NodeList)] + self._later
