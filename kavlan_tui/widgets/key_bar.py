"""The keys that work where the focus is, on one line: a light footer (one widget, not one per key)."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widget import Widget


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
        parts: list[Content] = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            style = "$footer-key-foreground b" if active.enabled else "$text-muted"
            parts.append(
                Content.from_markup(
                    f"[{style} @click=app.simulate_key('{key}')] $key [/]$what ",
                    key=self.app.get_key_display(binding),
                    what=binding.description,
                )
            )
        return Content.assemble(*parts)
