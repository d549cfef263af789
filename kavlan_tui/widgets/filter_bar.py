"""The filter line over the board: ``/`` opens it, each key narrows the board, it says how many nodes match of
how many; Enter goes back to the board with the filter kept, Esc clears it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Input, Static

PLACEHOLDER = "name, suno-[1-10], suno-1*, sw2, vlan:4, job:1000, user:alice, down, drift"


class FilterInput(Input):
    """The filter's text: each change is applied in the key's own turn, before this line is drawn, so that the line
    and the board it narrows come in one frame (a message up to the screen arrived after the line's own frame, and
    the board came in another, a frame's period later)."""

    def __init__(self, apply: Callable[[str], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._apply = apply

    async def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        await self._apply(event.value)


class FilterCount(Static):
    """How many nodes match, or why the text cannot be read yet."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)
    """Widget's own lays the screen out again once a layout changed it: this line does not scroll, its new width
    was laid out and drawn already (a second frame whenever a key changes the count's width, otherwise)."""


class FilterBar(Horizontal):
    """Applies its text at each key (``apply``: the screen's), posts ``Done`` on Enter, ``Cleared`` on Esc; shows
    the count it is given."""

    HELP = """\
### Filter

Type to narrow the board; every word must match (a node's name, cluster, site, switch, port, address, MAC or
job holder):

- `suno-1` (a part of a name), `suno-1*`, `suno-[1-10]`, `suno-[1,3,5-7]`: names and patterns
- `sw2`, `port:gi1/0/1*`, `10.64.64`, `00:16:3e`: switch, port, address, MAC
- `vlan:4`, `vlan:default`, `job:1000`, `user:alice`, `cluster:suno`, `site:lille`: one field
- `down`, `up`, `drift`, `mine`, `selected`: states; `!down`: the opposite

- **Enter**: back to the board, the filter kept (**A** there selects every node shown, **m** moves them)
- **Esc**: clear the filter, every node is shown again
"""

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        display: none;
        background: $boost;
    }
    FilterBar.-open { display: block; }
    FilterBar > .prompt { width: 2; color: $accent; text-style: bold; padding: 0 0 0 1; }
    FilterBar > Input { width: 1fr; background: $boost; }
    FilterBar > Input:focus { background: $boost; }
    FilterBar > #filter-count { width: auto; max-width: 60%; padding: 0 1; color: $text-muted; }
    FilterBar > #filter-count.-bad { color: $warning; }
    """

    BINDINGS = [
        Binding("escape", "clear", "Clear filter", id="filter-clear"),
        Binding("down", "done", "Board", id="filter-done", show=False),
    ]

    class Done(Message):
        """Enter (or ↓): back to the board, the filter kept."""

    class Cleared(Message):
        """Esc: the filter goes."""

    def __init__(self, apply: Callable[[str], Awaitable[None]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._apply = apply
        self._said: tuple[Content, bool] | None = None
        """What the count's line says (and whether it is a complaint): the same again is not drawn again."""

    def compose(self) -> ComposeResult:
        yield Static("/", classes="prompt")
        yield FilterInput(self._apply, placeholder=PLACEHOLDER, compact=True, id="filter-input")
        yield FilterCount("", id="filter-count")

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def text(self) -> str:
        return self.input.value

    def open(self) -> None:
        self.add_class("-open")
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.input.value = ""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Done())

    def action_done(self) -> None:
        self.post_message(self.Done())

    def action_clear(self) -> None:
        self.post_message(self.Cleared())

    def show_count(self, matched: int, total: int) -> None:
        self._say(
            Content.from_markup(
                "[b $accent]$n[/] of $all $what",
                n=str(matched),
                all=str(total),
                what="node matches" if total == 1 else "nodes match",
            ),
            bad=False,
        )

    def show_error(self, sentence: str) -> None:
        """A pattern that cannot be read yet (``suno-[1-``): said, the board keeps the last filter that could."""
        self._say(Content.from_markup(sentence), bad=True)  # as Static.update reads a str

    def _say(self, content: Content, *, bad: bool) -> None:
        """The count's line changes only where it says something else, and the line is laid out again only when
        its width changes (a layout is a reflow of the whole screen: most keys change a digit, not the width)."""
        count = self.query_one("#filter-count", Static)
        said = self._said
        if said is not None and said[1] == bad and said[0].is_same(content):
            return
        self._said = (content, bad)
        count.set_class(bad, "-bad")
        count.update(content, layout=said is None or said[0].cell_length != content.cell_length)
