"""One node, whole: every NIC (MAC, switch, port; VLAN and tag as the store says and as the switch was last
read), its address or lease, whether and when it last answered, its job and owner, and what happened to it,
newest first; from there, move it, SSH to it, or copy its names."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from kavlan_core.model import vlan_label
from kavlan_core.reservations import format_walltime

from ..board import NO_NOTE, NodeView, short_port
from ..messages import PickTarget, ServiceEvent
from ..present import ERROR, OK, WARNING
from ..widgets.node_list import ListContext
from .fitting import FittedDialog

if TYPE_CHECKING:
    from ..app import KavlanApp

LEVEL_STYLE = {ERROR: "$error", WARNING: "$warning", OK: "$success"}


class NodeScreen(FittedDialog[None]):
    """Esc closes; m, s and c act on the NIC under the table's cursor (the one the node was opened on)."""

    HELP = """\
### One node

Each NIC of the node: its MAC, switch and port, the VLAN and tag the store records, and what the switch had
when the background poll last read it (≠: not where the store says). Then its address or DHCP lease, whether
it answered over SSH and when it last did, its job, and what happened to it since kavlan-tui started (moves,
drift, DHCP, leases, its job's end), newest first.

- **m**: move the NIC under the cursor to another VLAN; **s**: SSH to the node; **c**: copy its names
- **Esc**: back to the board
"""

    BINDINGS = [
        Binding("escape", "close", "Close", id="node-close"),
        Binding("m", "move", "Move…", id="node-move"),
        Binding("s", "ssh", "SSH", id="node-ssh"),
        Binding("c", "copy", "Copy names", id="node-copy"),
    ]

    BOX = "#node"
    LONG = (("#node-nics", 8), ("#node-events-pane", 10))
    SHARE = 0.96

    DEFAULT_CSS = """
    NodeScreen { align: center middle; background: $background 60%; }
    NodeScreen > #node {
        width: 110; max-width: 96%; height: auto; max-height: 96%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    NodeScreen #node-title { text-style: bold; }
    NodeScreen #node-summary { margin: 0 0 1 0; }
    NodeScreen OptionList { height: auto; max-height: 8; margin: 0 0 1 0; border: none; padding: 0; }
    NodeScreen OptionList:focus { border: none; }
    NodeScreen .heading { text-style: bold; }
    NodeScreen #node-events-pane { height: auto; max-height: 10; }
    NodeScreen #node-buttons { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    NodeScreen #node-buttons Button { margin: 0 0 0 1; }
    """

    def __init__(self, node: NodeView, context: ListContext) -> None:
        super().__init__()
        self.node = node
        self.context = context
        board = context.board
        nics = [v for v in board.nodes.values() if v.node == node.node] if board else [node]
        self.nics = sorted(nics, key=lambda v: v.nic)

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="node"):
            yield Static(self.title_text(), id="node-title")
            yield Static(self.summary(), id="node-summary")
            yield OptionList(*(Option(self.nic_prompt(nic), id=nic.nic) for nic in self.nics), id="node-nics")
            yield Static(Content.from_markup("Events [$text-muted](newest first)[/]"), classes="heading")
            with VerticalScroll(id="node-events-pane"):
                yield Static(self.events_text(), id="node-events")
            with Horizontal(id="node-buttons"):
                yield Button("Move… m", id="node-move", compact=True, variant="primary")
                yield Button("SSH s", id="node-ssh", compact=True)
                yield Button("Copy names c", id="node-copy", compact=True)
                yield Button("Close", id="node-close", compact=True)

    def on_mount(self) -> None:
        nics = self.query_one(OptionList)
        nics.highlighted = next((i for i, v in enumerate(self.nics) if v.key == self.node.key), 0)
        nics.focus()

    # --- what it shows --------------------------------------------------------------------------

    def title_text(self) -> Content:
        n = self.node
        return Content.from_markup(
            "$node [$text-muted]· $name · cluster $cluster of $site[/]",
            node=n.node,
            name=n.name,
            cluster=n.cluster,
            site=n.site,
        )

    def summary(self) -> Content:
        lines = [self.job_line(), self.reach_line()]
        board = self.context.board
        why = board.unavailable.get(self.node.node) if board else None
        if why:
            lines.append(Content.from_markup("[b $error]unavailable to new jobs:[/] $why", why=why))
        return Content("\n").join(lines)

    def job_line(self) -> Content:
        n = self.node
        if n.job is None:
            return Content.from_markup("[$text-muted]in no running job[/]")
        board = self.context.board
        job = next((j for j in board.jobs if j.id == n.job), None) if board else None
        owner = "[$success]yours[/]" if n.mine else "of $user"
        left = f", {format_walltime(max(0.0, job.deadline - self.kapp.clock()))} left" if job else ""
        return Content.from_markup(f"job #$job, {owner}$left", job=str(n.job), user=n.user or "?", left=left)

    def reach_line(self) -> Content:
        notes = self.kapp.notes
        key = self.node.key
        answered = notes.answered_at.get(key)
        last = (
            f"last answered {clock_text(answered)}" if answered else "never answered since kavlan-tui started"
        )
        reach = notes.reach.get(key)
        if self.node.simulated:
            return Content.from_markup("[$text-muted]· simulated: nobody answers at its address[/]")
        if reach is True:
            return Content.from_markup("[$success]● answers over SSH[/] [$text-muted]($last)[/]", last=last)
        if reach is False:
            return Content.from_markup(
                "[$error]✗ did not answer over SSH[/] [$text-muted]($last)[/]", last=last
            )
        return Content.from_markup("[$text-muted]? not checked yet (the poll checks your nodes)[/]")

    def nic_prompt(self, nic: NodeView) -> Content:
        """Two lines: ``eth0  MAC  on switch port · address (or lease)``, then the VLAN and tag as stored and as
        the switch was last read."""
        note = self.context.notes.get(nic.key, NO_NOTE)
        try:
            tag = f", tag {self.kapp.service.inventory.tag(nic.site, nic.vlan)}"
        except KeyError:
            tag = ""
        first = Content.from_markup(
            "[b]$nic[/]  $mac  [$text-muted]on[/] $switch $port [$text-muted]·[/] $ip",
            nic=nic.nic,
            mac=nic.mac,
            switch=nic.switch,
            port=short_port(nic.port),
            ip=note.lease or nic.address,
        )
        if note.lease:
            first = Content.assemble(first, Content.from_markup(" [$success](lease)[/]"))
        second = Content.assemble(
            Content.from_markup(
                "      [$text-muted]store:[/] VLAN $vlan$tag [$text-muted]· switch:[/] ",
                vlan=vlan_label(nic.vlan),
                tag=tag,
            ),
            self.switch_read(nic),
        )
        return Content("\n").join([first, second])

    def switch_read(self, nic: NodeView) -> Content:
        """What the switch had when last read: the store's VLAN, another (≠), or nothing read yet."""
        note = self.context.notes.get(nic.key, NO_NOTE)
        notes = self.kapp.notes
        if note.drift:
            where = vlan_label(note.actual) if note.actual is not None else "no VLAN"
            tag = f", tag {note.tag}" if note.tag is not None else ""
            return Content.from_markup("[$warning]≠ VLAN $where$tag[/]", where=where, tag=tag)
        error = self.kapp.poll_errors.get(f"switches of {nic.site}")
        if error:
            return Content.from_markup("[$error]unreadable[/]")
        read = notes.read_at.get(nic.site)
        if read is None:
            return Content.from_markup("[$text-muted]not read yet[/]")
        return Content.from_markup("the same [$text-muted](read $when)[/]", when=clock_text(read))

    def events_text(self) -> Content:
        entries = self.kapp.journal.about(self.node.node)
        if not entries:
            return Content.from_markup("[$text-muted]nothing since kavlan-tui started[/]")
        lines = [
            Content.from_markup(
                f"[$text-muted]$when[/]  [{LEVEL_STYLE.get(e.level, '$foreground')}]$text[/]",
                when=clock_text(e.at),
                text=e.text,
            )
            for e in entries
        ]
        return Content("\n").join(lines)

    def on_service_event(self, message: ServiceEvent) -> None:
        self.call_after_refresh(self._refresh_events)  # the app writes the journal first

    def _refresh_events(self) -> None:
        self.query_one("#node-events", Static).update(self.events_text())

    # --- what it does ---------------------------------------------------------------------------

    @property
    def current(self) -> NodeView:
        row = self.query_one(OptionList).highlighted
        return self.nics[row] if row is not None and 0 <= row < len(self.nics) else self.node

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = (event.button.id or "").removeprefix("node-")
        if action in ("move", "ssh", "copy", "close"):
            getattr(self, f"action_{action}")()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_move(self) -> None:
        nic = self.current
        main = self.kapp.main
        self.dismiss(None)
        if main is not None:
            main.post_message(PickTarget([nic]))

    def action_ssh(self) -> None:
        nic = self.current
        self.dismiss(None)
        self.kapp.call_later(self.kapp.ssh_node, nic)

    def action_copy(self) -> None:
        from .copy_nodes import CopyScreen

        self.app.push_screen(CopyScreen(self.nics))


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))
