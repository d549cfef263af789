"""Copy nodes' names out as a nodefile: plain names (for ``kavlan -f``) or in-VLAN names (for ``taktuk -f``,
SSH inside the VLAN), one a line, to the terminal's clipboard (OSC 52) or to a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from kavlan_core.patterns import natural_key

from ..board import NodeView

PREVIEW = 5
"""Lines of the nodefile shown before copying."""
DEFAULT_FILE = "kavlan-nodes"
"""Where the file goes unless the user says: a relative path is in the directory kavlan-tui was started from."""


def nodefile(nodes: Sequence[NodeView], in_vlan: bool) -> str:
    """The names, one a line, each once, in natural order: plain (``suno-2.sophia.grid5000.fr``, what the
    service takes) or as the node is called in its VLAN (``suno-2-kavlan-4.sophia.grid5000.fr``)."""
    names = {n.name if in_vlan else n.plain for n in nodes}
    return "".join(f"{name}\n" for name in sorted(names, key=natural_key))


class CopyScreen(ModalScreen[str | None]):
    """Returns the text copied or written (None: cancelled)."""

    HELP = """\
### Copy as a nodefile

The names of the nodes, one a line: **plain names** are what `kavlan -f`, `kavlan-shell` and OAR take;
**in-VLAN names** (`suno-2-kavlan-4...`) are how the nodes answer inside their VLAN (`taktuk -f`, `ssh`).

- **Copy to the clipboard**: through your terminal (OSC 52); some terminals ask first, tmux needs
  `set -g set-clipboard on`
- **Write the file**: to the path given (a file there is replaced)
"""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="copy-cancel")]

    DEFAULT_CSS = """
    CopyScreen { align: center middle; background: $background 60%; }
    CopyScreen > #copy {
        width: 84; max-width: 96%; height: auto; max-height: 96%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    CopyScreen #copy-title { text-style: bold; margin: 0 0 1 0; }
    CopyScreen RadioSet { width: 1fr; background: $surface; }
    CopyScreen #copy-preview { color: $text-muted; margin: 1 0; padding: 0 1; background: $boost; }
    CopyScreen #copy-file { height: 1; margin: 0 0 1 0; }
    CopyScreen #copy-file Static { width: auto; padding: 0 1 0 0; }
    CopyScreen #copy-file Input { width: 1fr; }
    CopyScreen #copy-error { color: $error; height: auto; }
    CopyScreen #copy-buttons { height: auto; align-horizontal: right; }
    CopyScreen #copy-buttons Button { margin: 0 0 0 1; }
    """

    def __init__(self, nodes: Sequence[NodeView], directory: Path | None = None) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.directory = directory or Path.cwd()

    def compose(self) -> ComposeResult:
        count = len({n.plain for n in self.nodes})
        with Vertical(id="copy"):
            yield Static(
                Content.from_markup(
                    "Copy the names of $n node$s as a nodefile", n=str(count), s="" if count == 1 else "s"
                ),
                id="copy-title",
            )
            with RadioSet(
                id="copy-kind", compact=True
            ):  # no border, focused or not: nothing moves on a click
                yield RadioButton("plain names, for kavlan -f and OAR", value=True, id="copy-plain")
                yield RadioButton("in-VLAN names, for taktuk -f and SSH inside the VLAN", id="copy-in-vlan")
            yield Static(self.preview(), id="copy-preview")
            with Horizontal(id="copy-file"):
                yield Static("file:")
                yield Input(DEFAULT_FILE, compact=True, id="copy-path")
            yield Static("", id="copy-error")
            with Horizontal(id="copy-buttons"):
                yield Button("Copy to the clipboard", id="copy-clipboard", compact=True, variant="primary")
                yield Button("Write the file", id="copy-write", compact=True)
                yield Button("Cancel", id="copy-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#copy-clipboard", Button).focus()

    @property
    def in_vlan(self) -> bool:
        return self.query_one("#copy-in-vlan", RadioButton).value if self.is_mounted else False

    @property
    def text(self) -> str:
        return nodefile(self.nodes, self.in_vlan)

    def preview(self) -> str:
        lines = self.text.splitlines()
        shown = lines[:PREVIEW]
        if len(lines) > PREVIEW:
            shown.append(f"… and {len(lines) - PREVIEW} more")
        return "\n".join(shown)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.query_one("#copy-preview", Static).update(self.preview())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy-clipboard":
            self.to_clipboard()
        elif event.button.id == "copy-write":
            self.to_file()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.to_file()

    def to_clipboard(self) -> None:
        text = self.text
        self.app.copy_to_clipboard(text)
        count = len(text.splitlines())
        self.app.notify(f"{count} name{'s' if count != 1 else ''} copied to the clipboard (OSC 52)")
        self.dismiss(text)

    def to_file(self) -> None:
        raw = self.query_one("#copy-path", Input).value.strip()
        if not raw:
            self._error("Give the file to write: a path")
            return
        path = self.directory / Path(raw).expanduser()
        text = self.text
        try:
            replaced = path.exists()
            path.write_text(text)
        except OSError as exc:
            self._error(f"Cannot write {path}: {exc.strerror or exc}")
            return
        count = len(text.splitlines())
        verb = "replaced" if replaced else "written"
        self.app.notify(f"{path} {verb}: {count} name{'s' if count != 1 else ''} (kavlan -f {path})")
        self.dismiss(text)

    def _error(self, sentence: str) -> None:
        self.query_one("#copy-error", Static).update(sentence)

    def action_cancel(self) -> None:
        self.dismiss(None)
