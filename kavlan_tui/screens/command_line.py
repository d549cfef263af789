"""A command line on the registry (the kavlan-shell commands) with its output; moves go through the move dialog."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RichLog, Static

from kavlan_core.errors import BadInput, KavlanError

from ..board import NodeView
from ..commands import REGISTRY, parse_vlan
from ..messages import CommandFinished, MoveRequested
from ..present import TUI_HINTS, sentence

if TYPE_CHECKING:
    from ..app import KavlanApp

MOVES = ("set", "set-safe")
"""Registry commands that move ports: in the TUI they open the move dialog (plan, safeguard, confirm)."""


class CommandScreen(ModalScreen[None]):
    """Enter runs the line; ``help`` lists the commands; Esc closes."""

    HELP = """\
### Command line

The commands of `kavlan-shell`, with the same syntax: `vlans`, `members 4`, `jobs --all`, `drift`,
`dhcp on 4`, `get suno-1`, `ssh-config`... `set VLAN NODE...` opens the move dialog. `help` lists them all.
"""

    BINDINGS = [Binding("escape", "close", "Close", id="command-close")]

    DEFAULT_CSS = """
    CommandScreen { align: center top; background: $background 60%; }
    CommandScreen > Vertical {
        width: 110; max-width: 96%; height: 80%; margin: 2 0 0 0;
        border: round $primary; background: $surface; padding: 0 1;
    }
    CommandScreen .usage { color: $text-muted; height: auto; margin: 0 0 1 0; }
    CommandScreen RichLog { height: 1fr; background: $surface; }
    """

    def __init__(self, line: str = "", run: bool = False) -> None:
        super().__init__()
        self.line = line
        self.run_now = run

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(
                self.line,
                placeholder="a command: vlans, members 4, jobs --all, dhcp on 4, set 4 suno-1 … (help)",
                id="command-input",
            )
            yield Static("", classes="usage")
            yield RichLog(wrap=False, markup=False, highlight=False, id="command-output")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._usage(self.line)
        if self.run_now and self.line.strip():
            self.run(self.line)

    def _usage(self, line: str) -> None:
        word = line.split()[0] if line.split() else ""
        cmd = REGISTRY.get(word)
        text = f"{cmd.usage}  —  {cmd.summary}" if cmd else "help lists the commands"
        self.query_one(".usage", Static).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._usage(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.run(event.value)
            event.input.value = ""

    def action_close(self) -> None:
        self.dismiss(None)

    def run(self, line: str) -> None:
        out = self.query_one(RichLog)
        out.write(Text("> " + line, style="bold"))
        try:
            words = shlex.split(line)
        except ValueError as exc:
            out.write(Text(f"cannot read that line: {exc}"))
            return
        if not words:
            return
        if words[0] == "help":
            for text in REGISTRY.help(words[1] if len(words) > 1 else None):
                out.write(Text(text))
            return
        cmd = REGISTRY.get(words[0])
        if cmd is not None and cmd.name in MOVES and "--dry-run" not in words:
            try:
                self._move(cmd.parse(words[1:]))
            except KavlanError as exc:
                out.write(Text(sentence(exc, TUI_HINTS)))
            return
        if cmd is not None and cmd.name == "reserve" and len(words) == 1:
            self.dismiss(None)
            if self.kapp.main is not None:
                self.kapp.main.action_reserve()
            return
        if cmd is not None and cmd.name == "ssh":
            try:
                node = self._views(cmd.parse(words[1:])["node"].split())[0]
            except KavlanError as exc:
                out.write(Text(sentence(exc, TUI_HINTS)))
                return
            self.dismiss(None)
            self.kapp.call_later(self.kapp.ssh_node, node)
            return
        self.kapp.run_command(line, reply_to=self)

    def _views(self, names: list[str]) -> list[NodeView]:
        board = self.kapp.board
        if board is None:
            raise BadInput("the board is not read yet: try again in a moment")
        out = []
        for ref, _name in self.kapp.service.resolve(names):
            view = board.nodes.get(ref.key)
            if view is None:
                raise BadInput(f"{ref.node.name} is not on the board yet: try again in a moment")
            out.append(view)
        return out

    def _move(self, args: dict[str, object]) -> None:
        vlan = parse_vlan(str(args["vlan"]))
        names = list(args.get("nodes") or [])  # type: ignore[call-overload]
        board = self.kapp.board
        job_id = self.kapp.commands_context.job_id
        if not names and board is not None:
            job = next(
                (j for j in board.jobs if j.id == job_id), board.jobs[0] if len(board.jobs) == 1 else None
            )
            names = list(job.nodes) if job else []
        if not names:
            raise BadInput("no node given, and no single job to take them from: set VLAN NODE...")
        views = self._views(names)
        assert board is not None
        self.kapp.service.check_vlan(vlan)
        target = board.target(views[0].site, vlan)
        self.dismiss(None)
        if self.kapp.main is not None:
            self.kapp.main.post_message(MoveRequested(views, target, via="command"))

    def on_command_finished(self, message: CommandFinished) -> None:
        message.stop()
        out = self.query_one(RichLog)
        for line in message.lines:
            out.write(Text(line))
        for line in message.errors:
            out.write(Text(line, style=self.kapp.current_theme.error or ""))
        if not message.lines and not message.errors:
            out.write(Text("(no output)" if message.ok else "failed"))
