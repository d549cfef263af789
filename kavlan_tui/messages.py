"""The TUI's typed messages: what workers and widgets tell each other (the view model they carry is board.py's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.message import Message

from kavlan_core.events import Event

from .board import Board, NodeKey, NodeView, VlanKey

if TYPE_CHECKING:
    from kavlan_core.reports import MoveReport, Plan, StagedReport


class BoardLoaded(Message):
    """A worker read the whole board from the service."""

    def __init__(self, board: Board, seconds: float) -> None:
        super().__init__()
        self.board = board
        self.seconds = seconds


class DriftChecked(Message):
    """The switches were read: each port whose real VLAN differs from the recorded one (None: a tag that is no
    VLAN of the site, or an unreadable port), and the tag the switch has."""

    def __init__(
        self, drift: dict[NodeKey, int | None], seconds: float, tags: dict[NodeKey, int | None] | None = None
    ) -> None:
        super().__init__()
        self.drift = drift
        self.seconds = seconds
        self.tags = tags or {}


class LeasesRead(Message):
    """DHCP leases of the VLANs whose server is on, by NIC."""

    def __init__(self, leases: dict[NodeKey, str]) -> None:
        super().__init__()
        self.leases = leases


class ReachChecked(Message):
    """Which of the user's (real) nodes answered over SSH: True, False."""

    def __init__(self, reach: dict[NodeKey, bool]) -> None:
        super().__init__()
        self.reach = reach


class ServiceEvent(Message, bubble=False):
    """An event of the service (a node moved, a switch finished, DHCP changed, a job ended...). It does not
    bubble: the app hands a copy to each screen that wants it."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class DragStarted(Message):
    """Nodes are being dragged with the mouse."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        super().__init__()
        self.nodes = tuple(nodes)


class DragEnded(Message):
    """A drag ended: on a VLAN (``target``), or nowhere (None)."""

    def __init__(self, nodes: Sequence[NodeView], target: VlanKey | None) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.target = target


class MoveRequested(Message):
    """Move these nodes into that VLAN: a drop, or "move to VLAN..." from the keyboard or the palette."""

    def __init__(self, nodes: Sequence[NodeView], target: VlanKey, via: str = "keyboard") -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.target = target
        self.via = via


class PickTarget(Message):
    """Ask where to move these nodes (the keyboard's "move to VLAN...")."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        super().__init__()
        self.nodes = tuple(nodes)


class SelectionChanged(Message):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class SshRequested(Message):
    def __init__(self, node: NodeView) -> None:
        super().__init__()
        self.node = node


class VlanChosen(Message):
    """A VLAN was picked in the side list: show it on the board."""

    def __init__(self, vlan: VlanKey) -> None:
        super().__init__()
        self.vlan = vlan


class JobChosen(Message):
    def __init__(self, job: int) -> None:
        super().__init__()
        self.job = job


class PlanReady(Message):
    """The dry run of a move: its plan, or why it is refused (nothing changed either way)."""

    def __init__(self, plan: Plan | None, error: str = "", refused: bool = False, no_dhcp: str = "") -> None:
        super().__init__()
        self.plan = plan
        self.error = error
        self.refused = refused
        self.no_dhcp = no_dhcp
        """Why the move would strand the nodes (no DHCP server in the VLAN): it waits for the user to say they need
        none; "" when DHCP answers there."""


class MoveDone(Message):
    """A move ended: the plain move's report, or the staged move's."""

    def __init__(
        self, report: MoveReport | None = None, staged: StagedReport | None = None, error: str = ""
    ) -> None:
        super().__init__()
        self.report = report
        self.staged = staged
        self.error = error


class ActionFailed(Message):
    """A worker's action failed with an error the user can understand (one sentence)."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class JobReserved(Message):
    def __init__(self, job: int, summary: str) -> None:
        super().__init__()
        self.job = job
        self.summary = summary


class CommandFinished(Message):
    """A registry command ran (from the palette): its output lines and error lines."""

    def __init__(self, line: str, lines: list[str], errors: list[str], ok: bool) -> None:
        super().__init__()
        self.line = line
        self.lines = lines
        self.errors = errors
        self.ok = ok


class RolledBack(Message, bubble=False):
    """A rollback from the report ended (``error`` empty when every port is back where it was)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class NodeChosen(Message):
    """Enter on a node: show it whole (its NICs, where the switch has them, its events)."""

    def __init__(self, node: NodeView) -> None:
        super().__init__()
        self.node = node


class CopyRequested(Message):
    """Copy these nodes' names out, as a nodefile (clipboard or file)."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        super().__init__()
        self.nodes = tuple(nodes)


class FilterCleared(Message):
    """Esc with nothing else to undo: the filter goes, the board shows every node again."""
