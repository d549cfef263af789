"""The TUI's background reads (every switch's ports against the store, DHCP leases, the user's real nodes over
SSH) and what they learnt per NIC, as the node lists annotate it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kavlan_core.errors import KavlanError
from kavlan_core.interface import Service
from kavlan_core.model import DEFAULT

from .board import Annotations, Board, NodeKey
from .present import ERROR, OK, TUI_HINTS, WARNING, EventLine, drift_text, sentence

Say = Callable[[EventLine], None]
"""Where a poll tells what went wrong or right again (the event log, a notification)."""


class Poller:
    """Each part of a poll (a site's switches, a VLAN's leases, reachability) reads on its own: a part that
    fails is said once, with its sentence, until it reads again (a switch down must not fill the log)."""

    def __init__(self, service_of: Callable[[], Service], say: Say) -> None:
        self._service_of = service_of
        self.say = say
        self.errors: dict[str, str] = {}
        """What cannot be read now, and why."""

    @property
    def service(self) -> Service:
        """The app's service (opened when the app mounts, when it was not given)."""
        return self._service_of()

    async def drift(self) -> tuple[dict[NodeKey, int | None], dict[NodeKey, int | None]]:
        """Every reachable site's ports that are not where the store says: the VLAN the switch has (None: a
        tag that is no VLAN of the site, or an unreadable port), and the tag. A switch that cannot be read is said
        once, with its sentence, until it reads again; the others are checked all the same."""
        drift: dict[NodeKey, int | None] = {}
        tags: dict[NodeKey, int | None] = {}
        for site in self.service.reachable_sites():
            what = f"switches of {site}"
            try:
                found = await self.service.drift(site)
            except KavlanError as exc:  # the store, the API server
                self.failed(what, exc)
                continue
            self.read(what)
            for d in found.drifts:
                drift[(d.node, d.nic)] = d.actual
                tags[(d.node, d.nic)] = d.actual_tag
            down = {u.switch: u.reason for u in found.unreadable}
            for switch in self.service.inventory.sites[site].switches:
                if switch in down:
                    self._say_once(f"switch {switch}", down[switch], f"poll: {down[switch]}")
                else:
                    self.read(f"switch {switch}")
        return drift, tags

    async def leases(self, board: Board) -> dict[NodeKey, str]:
        """The address each NIC leased, in the VLANs whose (real) DHCP server is on."""
        by_mac = {n.mac.lower(): n.key for n in board.nodes.values()}
        leases: dict[NodeKey, str] = {}
        for (site, vid), vlan in board.vlans.items():
            if vid == DEFAULT or vlan.dhcp != "on" or self.service.dhcp_kind(site) == "simulated":
                continue
            what = f"leases of VLAN {vid}"
            try:
                for lease in await self.service.leases(vid, site):
                    key = by_mac.get(lease.mac.lower())
                    if key is not None:
                        leases[key] = lease.ip
            except KavlanError as exc:
                self.failed(what, exc)
            else:
                self.read(what)
        return leases

    async def reach(self, board: Board) -> dict[NodeKey, bool]:
        """Which of the user's real nodes answer over SSH (one session per node: not at every poll)."""
        mine = [n for n in board.nodes.values() if n.mine and not n.simulated]
        if not mine:
            return {}
        try:
            results = await self.service.run([n.plain for n in mine], "true", per_host_timeout=3.0)
        except KavlanError as exc:
            self.failed("reachability", exc)
            return {}
        return {n.key: r.ok for n, r in zip(mine, results, strict=False)}

    def failed(self, what: str, exc: KavlanError) -> None:
        text = sentence(exc, TUI_HINTS)
        self._say_once(what, text, f"poll: cannot read {what}: {text}")

    def _say_once(self, what: str, text: str, line: str) -> None:
        if self.errors.get(what) != text:
            self.errors[what] = text
            self.say(EventLine(ERROR, line))

    def read(self, what: str) -> None:
        if self.errors.pop(what, None) is not None:
            self.say(EventLine(OK, f"poll: {what} readable again"))


@dataclass
class PollNotes:
    """What the polls learnt, per NIC, kept between polls and folded into the node lists' annotations."""

    drift: dict[NodeKey, int | None] = field(default_factory=dict)
    """Where the switch's VLAN is not the store's: the switch's VLAN (None: no VLAN of the site, unreadable)."""
    tags: dict[NodeKey, int | None] = field(default_factory=dict)
    leases: dict[NodeKey, str] = field(default_factory=dict)
    reach: dict[NodeKey, bool] = field(default_factory=dict)
    answered_at: dict[NodeKey, float] = field(default_factory=dict)
    """When each node last answered over SSH."""
    read_at: dict[str, float] = field(default_factory=dict)
    """When the switches of each site were last read whole (a site with a switch down is not)."""

    def new_drift(
        self, board: Board | None, drift: dict[NodeKey, int | None], tags: dict[NodeKey, int | None]
    ) -> list[tuple[NodeKey, EventLine]]:
        """Take a poll's drift; a line for each port that drifted since the last poll, and each one back."""
        lines = []
        for key in drift.keys() - self.drift.keys():
            node = board.nodes.get(key) if board else None
            lines.append(
                (
                    key,
                    EventLine(
                        WARNING,
                        drift_text(
                            node.switch if node else "?",
                            node.port if node else "?",
                            f"{key[0]}/{key[1]}",
                            node.vlan if node else DEFAULT,
                            drift[key],
                            tags.get(key),
                        ),
                    ),
                )
            )
        for key in self.drift.keys() - drift.keys():
            lines.append((key, EventLine(OK, f"drift gone: {key[0]}/{key[1]} is where the store says")))
        self.drift, self.tags = dict(drift), dict(tags)
        return lines

    def annotations(self) -> dict[NodeKey, Annotations]:
        keys = self.drift.keys() | self.leases.keys() | self.reach.keys()
        return {
            k: Annotations(
                drift=k in self.drift,
                actual=self.drift.get(k),
                tag=self.tags.get(k),
                lease=self.leases.get(k, ""),
                reach=self.reach.get(k),
            )
            for k in keys
        }
