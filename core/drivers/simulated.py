"""A simulated switch: its ports live in the PortMemory the core hands in, with latency and fault injection for
tests and the demo."""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..model import Switch
from .base import (
    DriverContext,
    FdbEntry,
    FdbTable,
    PortChange,
    PortCounters,
    PortMemory,
    PortState,
    SwitchDriver,
    SwitchError,
    SwitchTimeout,
)

# Options (in the inventory's [site.switch.options]):
#   latency_ms      delay of every round trip (read or batch)
#   timeout         true: the switch never answers
#   timeout_ports   ports whose write never completes: the batch times out once it reaches them
#   refuse_ports    ports the switch refuses to change (an error answer)
#   drop_ports      ports whose writes the switch acknowledges and silently drops
#   refuse_tags     VLAN tags the switch refuses to put any port in
#   down_ports      ports whose link is down (they send nothing)
#   fdb_extra       entries the switch learned besides its nodes' own MACs, "PORT MAC TAG" each (a leak made on
#                   purpose: a MAC behind a node's port, or a node's MAC in another VLAN)


class LocalPorts:
    """A PortMemory of this process alone: for a driver built without the core (a test of the driver itself)."""

    def __init__(self) -> None:
        self._tags: dict[tuple[str, str], int] = {}

    def read(self, switch: str, ports: Sequence[str]) -> dict[str, int]:
        return {p: self._tags[(switch, p)] for p in ports if (switch, p) in self._tags}

    def write(self, switch: str, tags: Mapping[str, int]) -> None:
        self._tags.update({(switch, p): t for p, t in tags.items()})


SPEED_MBPS = 10_000
WRAP = 2**64


SWING = 0.6
"""How far a simulated node's traffic swings around its mean, over a ``PERIOD``: a live view has something to show."""
PERIOD = 20.0


def _mean_and_phase(switch: str, port: str) -> tuple[int, float]:
    digest = zlib.crc32(f"{switch}/{port}".encode())
    return 100_000 + digest % 4_900_000, (digest % 628) / 100


def sent_rate(switch: str, port: str, at: float) -> float:
    """The octets per second a simulated node sends on ``port`` at time ``at``: a mean of 0.1 to 5 MB/s swinging
    by ``SWING`` over ``PERIOD`` seconds, the same in every process (two processes see one traffic)."""
    mean, phase = _mean_and_phase(switch, port)
    return mean * (1 + SWING * math.sin(2 * math.pi * at / PERIOD + phase))


def sent_octets(switch: str, port: str, at: float) -> int:
    """What the node sent since the epoch: the integral of ``sent_rate``."""
    mean, phase = _mean_and_phase(switch, port)
    omega = 2 * math.pi / PERIOD
    return int(mean * (at + SWING / omega * (math.cos(phase) - math.cos(omega * at + phase))))


class SimulatedDriver(SwitchDriver):
    OPTIONS = {
        "latency_ms": "number",
        "timeout": "bool",
        "timeout_s": "number",
        "timeout_ports": "names",
        "refuse_ports": "names",
        "drop_ports": "names",
        "refuse_tags": "tags",
        "down_ports": "names",
        "fdb_extra": "names",
    }

    def __init__(
        self,
        switch: Switch,
        credentials: Mapping[str, Any] | None = None,
        context: DriverContext | None = None,
    ) -> None:
        super().__init__(switch, credentials, context)
        self.ports: PortMemory = self.context.ports if self.context.ports is not None else LocalPorts()

    def _opt(self, key: str, default: Any = None) -> Any:
        return self.switch.options.get(key, default)

    async def _round_trip(self) -> None:
        self.sent += 1
        if self._opt("timeout", False):
            await asyncio.sleep(float(self._opt("timeout_s", 0.05)))
            raise SwitchTimeout(self.switch.name, "no answer (timed out)")
        latency = float(self._opt("latency_ms", 0)) / 1000.0
        if latency > 0:
            await asyncio.sleep(latency)

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        await self._round_trip()
        tags = self.ports.read(self.switch.name, ports)
        return {p: PortState(tags.get(p, self.context.default_tag)) for p in ports}

    async def apply(self, changes: Sequence[PortChange]) -> None:
        await self._round_trip()
        refuse = set(self._opt("refuse_ports", []))
        refuse_tags = {int(t) for t in self._opt("refuse_tags", [])}
        drop = set(self._opt("drop_ports", []))
        stall = set(self._opt("timeout_ports", []))
        written: dict[str, int] = {}
        error: SwitchError | None = None
        # a real switch applies a batch in order: what precedes a failure stays applied
        for change in changes:
            if change.port in stall:
                error = SwitchTimeout(
                    self.switch.name, f"timed out while setting port {change.port}", ports=[change.port]
                )
                break
            if change.port in refuse or change.new_tag in refuse_tags:
                error = SwitchError(
                    self.switch.name,
                    f"refused to set port {change.port} to VLAN tag {change.new_tag}",
                    ports=[change.port],
                )
                break
            if change.port not in drop:
                written[change.port] = change.new_tag
        self.ports.write(self.switch.name, written)
        if error is not None:
            if isinstance(error, SwitchTimeout):
                await asyncio.sleep(float(self._opt("timeout_s", 0.05)))
            raise error

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        """Each cabled port's node has sent ``sent_octets`` (and received half of it) since the epoch, its 64-bit
        counters wrapping as a switch's do; a port of ``down_ports`` or with nothing cabled is down."""
        await self._round_trip()
        down = set(self._opt("down_ports", []))
        now = time.time()
        out = {}
        for port in ports:
            if port in down or port not in self.context.cabled:
                out[port] = PortCounters(up=False, speed_mbps=0, in_octets=0, out_octets=0, in_errors=0)
                continue
            sent = sent_octets(self.switch.name, port, now)
            # the node's traffic comes in at the switch's port; it receives half as much
            out[port] = PortCounters(
                up=True,
                speed_mbps=SPEED_MBPS,
                in_octets=sent % WRAP,
                out_octets=sent // 2 % WRAP,
                in_errors=0,
            )
        return out

    async def read_fdb(self) -> FdbTable:
        """The MAC of the node cabled to each port that is up, in the port's VLAN; and ``fdb_extra``."""
        await self._round_trip()
        down = set(self._opt("down_ports", []))
        ports = [p for p in self.context.cabled if p not in down]
        tags = self.ports.read(self.switch.name, ports)
        entries = [
            FdbEntry(self.context.cabled[p].lower(), tags.get(p, self.context.default_tag), p) for p in ports
        ]
        for line in self._opt("fdb_extra", []):
            parts = str(line).split()
            if len(parts) != 3 or not parts[2].isdigit():
                raise SwitchError(self.switch.name, f'option fdb_extra: "{line}" is not "PORT MAC TAG"')
            entries.append(FdbEntry(parts[1].lower(), int(parts[2]), parts[0]))
        return FdbTable(tuple(entries))
