"""F1: help for the widget that has the focus, the keys active there, the mouse, and how to rebind keys."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Markdown, Static

MOUSE = """\
### Mouse

- **drag** a node onto another VLAN (its section on the board, or its line in the VLAN list) to move it;
  drag a **selected** node to move the whole selection. While dragging, the target says ✓ (you may) or ✗ and why.
- **click** a node's box (or Ctrl-click it) to select it; **Shift-click** selects a range
- **click** a VLAN's `DHCP` mark to switch its DHCP server on or off
- **click** a tab to change view, a job to show its VLANs, a VLAN of the list to show it
"""

GENERAL = """\
### kavlan-tui

Reserve nodes and VLANs (**r**), move nodes between VLANs with the mouse or the keyboard, switch DHCP,
open SSH sessions. The board follows the service's events and reads the switches in the background:
a port whose VLAN on the switch differs from the expected one is marked **≠** (drift).
"""


WHERE = {
    "KavlanApp": "everywhere",
    "MainScreen": "main screen",
    "NodeList": "nodes",
    "VlanList": "VLAN list",
    "JobsPanel": "jobs",
}


def key_table(bindings: dict[str, Any], display: Any = None) -> str:
    """The active bindings that have an id (the user's keys, after their key map), as a Markdown list;
    ``display`` shows a binding's key as the footer does (``]`` for ``right_square_bracket``)."""
    rows = []
    seen = set()
    for key, active in bindings.items():
        b: Binding = active.binding
        if b.system or not b.id or b.id in seen:
            continue
        seen.add(b.id)
        where = WHERE.get(type(active.node).__name__, type(active.node).__name__)
        shown = display(b) if display is not None else key
        rows.append(f"- `{shown}` **{b.description or b.action}** — {where}, binding id `{b.id}`")
    return "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help-close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > Vertical {
        width: 100; max-width: 96%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen Markdown { height: 1fr; background: $surface; }
    HelpScreen .hint { color: $text-muted; dock: bottom; height: 1; }
    """

    def __init__(self, focused: Widget | None, bindings: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.focused_widget = focused
        self.bindings = dict(bindings or {})

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Markdown(self.text(), id="help-text")
            yield Static("Esc, F1 or q: close", classes="hint")

    def text(self) -> str:
        parts = []
        node: Any = self.focused_widget
        while node is not None:
            doc = type(node).__dict__.get("HELP")
            if isinstance(doc, str) and doc.strip():
                parts.append(doc)
                break
            node = node.parent
        if not parts:
            parts.append(GENERAL)
        parts.append("### Keys here\n\n" + key_table(self.bindings, self.app.get_key_display))
        parts.append(MOUSE)
        if parts[0] is not GENERAL:
            parts.append(GENERAL)
        parts.append(
            "### Your own keys\n\nEvery key above with a binding id can be changed in the configuration file "
            "(`~/.config/kavlan-tui/config.toml`, or the file `KAVLAN_CONFIG` names):\n\n"
            '```toml\n[keys]\nmove-to-vlan = "M"\nssh-node = "ctrl+s"\ntoggle-dhcp = "D"\n```\n\n'
            'Themes: `kavlan-dark`, `kavlan-light`, `kavlan-high-contrast` (`theme = "kavlan-light"` in the '
            "configuration, or **Ctrl+T**, or the command palette)."
        )
        return "\n\n".join(parts)

    def action_close(self) -> None:
        self.dismiss(None)
