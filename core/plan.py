"""A move as a plan: per switch, the port changes (old and new VLAN), and what a dry run prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from .drivers.base import PortChange
from .inventory import NicRef
from .model import vlan_label


@dataclass(slots=True)
class PortMove:
    ref: NicRef
    name: str
    """The in-testbed name of the NIC: ``suno-2.sophia.grid5000.fr`` or ``uvb-3-eth1...``."""
    old_vlan: int | None
    new_vlan: int
    change: PortChange


@dataclass(slots=True)
class SwitchPlan:
    switch: str
    driver: str
    moves: list[PortMove] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[PortChange]:
        return [m.change for m in self.moves]


@dataclass(slots=True)
class Plan:
    vlan: int
    switches: list[SwitchPlan] = field(default_factory=list)
    unchanged: list[tuple[NicRef, str]] = field(default_factory=list)
    """NICs already in the VLAN, with their names."""

    @property
    def port_count(self) -> int:
        return sum(len(s.moves) for s in self.switches)

    def render(self) -> list[str]:
        lines = [
            f"plan: move {self.port_count} port(s) on {len(self.switches)} switch(es) into VLAN {vlan_label(self.vlan)}"
        ]
        for sp in self.switches:
            lines.append(f"switch {sp.switch} ({sp.driver}): {len(sp.moves)} port(s)")
            for m in sp.moves:
                old = vlan_label(m.old_vlan) if m.old_vlan is not None else f"tag {m.change.old_tag}"
                lines.append(
                    f"  {m.change.port:<28} {m.name}: VLAN {old} (tag {m.change.old_tag}) -> "
                    f"VLAN {vlan_label(m.new_vlan)} (tag {m.change.new_tag})"
                )
            for cmd in sp.commands:
                lines.append(f"    | {cmd}")
        for _ref, name in self.unchanged:
            lines.append(f"unchanged: {name} is already in VLAN {vlan_label(self.vlan)}")
        return lines

    def as_dict(self) -> dict[str, object]:
        return {
            "vlan": vlan_label(self.vlan),
            "switches": [
                {
                    "switch": sp.switch,
                    "driver": sp.driver,
                    "ports": [
                        {
                            "port": m.change.port,
                            "node": m.name,
                            "old_vlan": vlan_label(m.old_vlan) if m.old_vlan is not None else None,
                            "new_vlan": vlan_label(m.new_vlan),
                            "old_tag": m.change.old_tag,
                            "new_tag": m.change.new_tag,
                        }
                        for m in sp.moves
                    ],
                    "commands": sp.commands,
                }
                for sp in self.switches
            ],
            "unchanged": [name for _ref, name in self.unchanged],
        }
