"""The keys that work where the focus is, on one line: a light footer (one widget, not one per key)."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widget import Widget

ESSENTIAL = frozenset(
    {"help", "filter", "move-to-vlan", "select-node", "quit", "dialog-cancel", "report-close"}
)
"""Binding ids kept on the line however narrow it is."""


class KeyBar(Widget):
    """Follows the screen's bindings (the focus, the user's key map); a click on a key presses it."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        link-style: none;
        link-style-hover: reverse;
        link-background-hover: $panel;
    }
    """

    ALLOW_SELECT = False

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Any) -> None:
        self.refresh()

    def render(self) -> Content:
        """The keys in the order of their bindings (the focus first); where they do not fit, the last ones give
        way, but for the essential ones."""
        parts = self._parts()
        width = self.size.width
        while sum(c.cell_length for c, _keep in parts) > width:
            drop = next((i for i in range(len(parts) - 1, -1, -1) if not parts[i][1]), None)
            if drop is None:
                break
            del parts[drop]
        return Content.assemble(*(c for c, _keep in parts))

    def _parts(self) -> list[tuple[Content, bool]]:
        parts: list[tuple[Content, bool]] = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            style = "$footer-key-foreground b" if active.enabled else "$text-muted"
            part = Content.from_markup(
                f"[{style} @click=app.simulate_key('{key}')] $key [/]$what ",
                key=self.app.get_key_display(binding),
                what=binding.description,
            )
            parts.append((part, binding.id in ESSENTIAL))
        return parts
