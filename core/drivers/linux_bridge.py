"""A switch made of Linux bridges inside a network namespace, one bridge per VLAN; a port is a link moved between them."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Sequence

from .base import (
    FdbEntry,
    FdbTable,
    PortChange,
    PortCounters,
    PortState,
    SwitchDriver,
    SwitchError,
    SwitchTimeout,
)

# This kernel has no bridge vlan_filtering and no 802.1Q sub-interfaces (see LAB.md), so VLAN N is bridge
# "<prefix><tag>" and moving a port to VLAN N is "ip link set PORT master <prefix><tag>". Isolation is real:
# links on different bridges cannot reach each other.
#
# Options: netns (the namespace holding ports and bridges; empty = this one), bridge_prefix (default "vlan"),
# timeout_s (per ip command, default 10).

_SAFE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")


class LinuxBridgeDriver(SwitchDriver):
    OPTIONS = {"netns": "text", "bridge_prefix": "text", "timeout_s": "number"}

    @property
    def _netns(self) -> str:
        return str(self.switch.options.get("netns", ""))

    @property
    def _prefix(self) -> str:
        return str(self.switch.options.get("bridge_prefix", "vlan"))

    def bridge(self, tag: int) -> str:
        name = f"{self._prefix}{tag}"
        if not _SAFE.fullmatch(name):
            raise SwitchError(self.switch.name, f"bridge name {name!r} is not a valid link name")
        return name

    def _check_port(self, port: str) -> str:
        if not _SAFE.fullmatch(port):
            raise SwitchError(self.switch.name, f"port {port!r} is not a valid link name", ports=[port])
        return port

    async def _ip(self, *args: str, stdin: str | None = None, tool: str = "ip") -> str:
        self.sent += 1
        cmd = [tool]
        if self._netns:
            cmd += ["-n", self._netns]
        cmd += list(args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise SwitchError(self.switch.name, f"the {tool} command (iproute2) is not installed") from None
        timeout = float(self.switch.options.get("timeout_s", 10))
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), timeout
            )
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SwitchTimeout(
                self.switch.name, f"{tool} {' '.join(args[:3])} took longer than {timeout:g} s"
            ) from None
        if proc.returncode != 0:
            reason = err.decode(errors="replace").strip().splitlines()
            raise SwitchError(
                self.switch.name, reason[-1] if reason else f"{tool} exited with status {proc.returncode}"
            )
        return out.decode()

    async def _links(self) -> dict[str, dict[str, object]]:
        return {link["ifname"]: link for link in json.loads(await self._ip("-j", "link", "show") or "[]")}

    def _tags(self, names: Iterable[str]) -> dict[str, int]:
        """bridge name -> the VLAN tag it stands for."""
        tag_of = {}
        for name in names:
            if name.startswith(self._prefix) and name[len(self._prefix) :].isdigit():
                tag_of[name] = int(name[len(self._prefix) :])
        return tag_of

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        links = await self._links()
        tag_of = self._tags(links)
        out = {}
        for port in ports:
            link = links.get(port)
            if link is None:
                raise SwitchError(self.switch.name, f"no port named {port}", ports=[port])
            master = link.get("master")
            out[port] = PortState(tag_of.get(str(master)) if master else None)
        return out

    async def ensure_vlan(self, tag: int, name: str) -> None:
        bridge = self.bridge(tag)
        links = await self._links()
        if bridge not in links:
            await self._ip("-batch", "-", stdin=f"link add {bridge} type bridge\nlink set {bridge} up\n")

    def describe(self, changes: Sequence[PortChange]) -> list[str]:
        prefix = f"ip -n {self._netns} " if self._netns else "ip "
        return [
            f"{prefix}link set {self._check_port(c.port)} master {self.bridge(c.new_tag)}" for c in changes
        ]

    async def apply(self, changes: Sequence[PortChange]) -> None:
        lines = [f"link set {self._check_port(c.port)} master {self.bridge(c.new_tag)}" for c in changes]
        # one ip process for the whole batch: the bridge moves happen in order, stopping at the first error
        await self._ip("-batch", "-", stdin="\n".join(lines) + "\n")

    async def read_counters(self, ports: Sequence[str]) -> dict[str, PortCounters]:
        """One ``ip -s -j link show``: each port's operstate and 64-bit byte and error counters. The counters are
        the switch side's: what a node sends comes in on its port (rx). A veth has no speed: None."""
        links = {
            link["ifname"]: link for link in json.loads(await self._ip("-s", "-j", "link", "show") or "[]")
        }
        out = {}
        for port in ports:
            link = links.get(port)
            if link is None:
                out[port] = PortCounters(refused="does not exist on the switch (no such link)")
                continue
            stats = link.get("stats64") or {}
            rx, tx = stats.get("rx") or {}, stats.get("tx") or {}
            out[port] = PortCounters(
                up=link.get("operstate") == "UP",
                in_octets=rx.get("bytes"),
                out_octets=tx.get("bytes"),
                in_errors=rx.get("errors"),
            )
        return out

    async def read_fdb(self) -> FdbTable:
        """``bridge -j fdb show``: the MACs each VLAN's bridge learned, and behind which port (its own addresses,
        ``permanent``, are the switch's, not a host's)."""
        tag_of = self._tags(link for link in await self._links())
        entries = []
        for row in json.loads(await self._ip("-j", "fdb", "show", tool="bridge") or "[]"):
            master = row.get("master")
            if master not in tag_of or row.get("state") == "permanent" or "self" in row.get("flags", []):
                continue
            entries.append(FdbEntry(str(row["mac"]).lower(), tag_of[master], str(row.get("ifname", ""))))
        return FdbTable(tuple(entries))
