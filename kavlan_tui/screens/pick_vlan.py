"""The keyboard's "move to VLAN...": the VLANs the chosen nodes can go to, each with whether the user may."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..board import Board, NodeView, VlanKey
from ..widgets.drag_ghost import OK, SAME, describe
from ..widgets.node_list import ListContext
from .fitting import FittedDialog


class VlanPicker(FittedDialog[VlanKey | None]):
    """A refused VLAN can still be picked: the dialog then shows the service's reason, and nothing changes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker-cancel")]

    BOX = "#picker"
    LONG = (("#targets", 24),)
    SHARE = 0.9

    DEFAULT_CSS = """
    VlanPicker { align: center middle; background: $background 60%; }
    VlanPicker > #picker {
        width: 90; max-width: 96%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    VlanPicker .title { text-style: bold; margin: 0 0 1 0; }
    VlanPicker OptionList { height: auto; max-height: 24; border: none; padding: 0; }
    VlanPicker OptionList:focus { border: none; }
    VlanPicker .why { color: $text-muted; height: auto; margin: 1 0 0 0; }
    VlanPicker .hint { color: $text-muted; }
    """

    def __init__(self, nodes: Sequence[NodeView], board: Board, context: ListContext) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.board = board
        self.context = context
        self.keys: list[VlanKey] = []
        self.reasons: list[str] = []

    def compose(self) -> ComposeResult:
        options = []
        first_ok = None
        for vlan in self.board.targets_for(self.nodes):
            state, _title, why = self.context.verdict(self.nodes, vlan.key)
            holder = (
                f"#{vlan.job} {'you' if vlan.user == self.board.user else vlan.user}" if vlan.job else "free"
            )
            if state == OK:
                mark, note, why = "[$success]✓[/]", "", "yours: you may move the nodes there"
                first_ok = len(self.keys) if first_ok is None else first_ok
            elif state == SAME:
                mark, note = "[$text-muted]·[/]", "already there"
                why = "the nodes are already in this VLAN"
            else:
                mark, note = "[$error]✗[/]", "not yours" if "not held" in why else "refused"
            self.reasons.append(f"{vlan.title}: {why}")
            prompt = Content.from_markup(
                f"{mark} [b]$label[/] [$kind-{vlan.kind_word}]$kind[/] $site [$text-muted]$holder · $n nodes $note[/]",
                label=vlan.label.rjust(7),
                kind=vlan.kind_word.ljust(7),
                site=vlan.site.ljust(8),
                holder=holder.ljust(12),
                n=str(len(vlan.nodes)),
                note=f"· {note}" if note else "",
            )
            options.append(Option(prompt, id=f"{vlan.site}:{vlan.id}", disabled=state == SAME))
            self.keys.append(vlan.key)
        self._first_ok = first_ok
        with Vertical(id="picker"):
            n = len(self.nodes)
            yield Static(
                f"Move {n} node{'s' if n != 1 else ''} ({describe(self.nodes)}) into…", classes="title"
            )
            yield OptionList(*options, id="targets")
            yield Static("", classes="why")
            yield Static(
                "↑↓ choose · Enter: see the plan (nothing changes before you confirm) · Esc: cancel",
                classes="hint",
            )

    def on_mount(self) -> None:
        targets = self.query_one(OptionList)
        if self._first_ok is not None:
            targets.highlighted = self._first_ok
        targets.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one(".why", Static).update(self.reasons[event.option_index])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        site, _, vid = (event.option.id or "").partition(":")
        self.dismiss((site, int(vid)))

    def action_cancel(self) -> None:
        self.dismiss(None)
