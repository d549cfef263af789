"""What happened to each node since the TUI started (moves, failed moves, drift, DHCP of its VLAN, leases,
reachability, its job's end), for the node's detail, newest first. Bounded, and kept in the face: the service's
events and the polls' findings are its sources."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from kavlan_core import events as ev
from kavlan_core import names
from kavlan_core.model import vlan_label

from .board import Board, NodeKey, NodeView, VlanKey
from .present import ERROR, INFO, OK, WARNING

KEPT = 5_000
"""Entries kept in all: a long session forgets its oldest."""


@dataclass(frozen=True, slots=True)
class Entry:
    at: float
    level: str
    text: str
    nodes: frozenset[str]
    """The nodes it concerns (plain names, ``suno-2``)."""


class Journal:
    """Entries in the order they came; ``about(node)`` gives a node's, newest first."""

    def __init__(self, kept: int = KEPT) -> None:
        self.entries: deque[Entry] = deque(maxlen=kept)
        self._plains: tuple[Board | None, dict[str, NodeView]] = (None, {})

    def add(self, at: float, level: str, text: str, nodes: Iterable[str]) -> None:
        self.entries.append(Entry(at, level, text, frozenset(nodes)))

    def about(self, node: str, limit: int = 100) -> list[Entry]:
        out = []
        for entry in reversed(self.entries):
            if node in entry.nodes:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    # --- sources --------------------------------------------------------------------------------

    def event(self, event: ev.Event, board: Board | None) -> None:
        """A service event that concerns nodes: one moved, DHCP of their VLAN switched, their job ended."""
        if isinstance(event, ev.NodeMoved):
            node, nic = self.node_of(event.node, board)
            where = f" ({nic})" if nic and nic != "eth0" else ""
            text = f"moved{where}: VLAN {vlan_label(event.old)} → {vlan_label(event.new)}"
            self.add(event.at, OK, text, [node])
        elif isinstance(event, ev.DhcpChanged) and board is not None:
            key = board.target(event.site, event.vlan)
            vlan = board.vlans.get(key)
            members = {n.node for n in vlan.nodes} if vlan is not None else set()
            level = ERROR if event.state == "failed" else INFO
            self.add(event.at, level, f"DHCP server of VLAN {vlan_label(event.vlan)}: {event.state}", members)
        elif isinstance(event, ev.JobEnded) and board is not None:
            members = {n.node for n in board.nodes.values() if n.job == event.job}
            self.add(event.at, INFO, f"job {event.job} of {event.user} ended ({event.reason})", members)

    def drifted(self, at: float, node: NodeView | None, key: NodeKey, text: str, back: bool) -> None:
        """A poll found a port not where the store says (or back where it says)."""
        self.add(at, OK if back else WARNING, text, [node.node if node else key[0]])

    def leased(self, at: float, key: NodeKey, address: str) -> None:
        self.add(at, INFO, f"DHCP lease: {address} ({key[1]})", [key[0]])

    def answered(self, at: float, key: NodeKey, ok: bool) -> None:
        text = "answers over SSH" if ok else "does not answer over SSH"
        self.add(at, OK if ok else ERROR, text, [key[0]])

    def failed_move(self, at: float, node: str, target: VlanKey, why: str) -> None:
        self.add(at, ERROR, f"move into VLAN {vlan_label(target[1])} failed: {why}", [node])

    def node_of(self, name: str, board: Board | None) -> tuple[str, str]:
        """The node and NIC of a name the service gave (a plain FQDN, ``-ethX`` for a secondary NIC)."""
        if board is not None:
            if self._plains[0] is not board:  # a move names hundreds of nodes: one index per board
                self._plains = (board, {v.plain: v for v in board.nodes.values()})
            view = self._plains[1].get(name)
            if view is not None:
                return view.node, view.nic
        try:
            parsed = names.parse(name)
        except names.BadHostname:
            return name, ""
        return parsed.node, parsed.nic or ""
