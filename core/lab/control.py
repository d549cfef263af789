"""Switch control planes: what runs on a lab switch besides its bridges, and how kavlan reaches it."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any, Protocol

from . import qbridge_agent
from .topology import LabError, SwitchNs

SNMP_CREDENTIALS = "lab-snmp"
SNMP_RO, SNMP_RW = "kavlan-lab-ro", "kavlan-lab-rw"
BRIDGE_BASE = "1.3.6.1.2.1.17"
IF_X_BASE = "1.3.6.1.2.1.31.1.1.1"
"""ifXTable: ifName, and the 64-bit counters (the agent serves them at its own ifIndexes, read live)."""
IF_TABLE_BASE = "1.3.6.1.2.1.2.2.1"
"""ifTable: ifDescr, ifOperStatus, ifInErrors (snmpd's own would number the links by the kernel's ifindex)."""


class Runner(Protocol):
    """The part of the builder a control plane uses: run ip, start a recorded process, own a directory."""

    def ip(self, netns: str, *args: str) -> str: ...

    def spawn(
        self, name: str, cmd: list[str], netns: str, log: Path, env: dict[str, str] | None = None
    ) -> int: ...

    def workdir(self, *parts: str) -> Path: ...


class ControlPlane:
    """linux_bridge: kavlan drives the bridges itself through ``ip -n NETNS``; nothing to start."""

    driver = "linux_bridge"

    def inventory_entry(self, sw: SwitchNs, table: dict[str, Any]) -> dict[str, Any]:
        """The switch's table in the lab's generated inventory."""
        options = dict(table.get("options", {}))
        options["netns"] = sw.netns
        return {**table, "driver": self.driver, "options": options}

    def credentials(self) -> dict[str, dict[str, Any]]:
        """Tables for the lab's switch credentials file, by reference."""
        return {}

    def start(self, runner: Runner, sw: SwitchNs) -> None:
        """Start what the switch runs (after its bridges and ports exist)."""


class SnmpControlPlane(ControlPlane):
    """snmp_qbridge: net-snmp's snmpd in the switch namespace, on a management address of its DEFAULT bridge,
    serving the Q-BRIDGE-MIB through ``python -m kavlan_core.lab.qbridge_agent`` (pass_persist)."""

    driver = "snmp_qbridge"

    def inventory_entry(self, sw: SwitchNs, table: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in dict(table.get("options", {})).items() if k != "netns"}
        return {
            **table,
            "driver": self.driver,
            "address": f"{sw.mgmt_address.split('/')[0]}:161",
            "credentials": SNMP_CREDENTIALS,
            "options": options,
        }

    def credentials(self) -> dict[str, dict[str, Any]]:
        return {SNMP_CREDENTIALS: {"version": "2c", "community": SNMP_RO, "write_community": SNMP_RW}}

    def start(self, runner: Runner, sw: SwitchNs) -> None:
        work = runner.workdir("switches", sw.name)
        persist = work / "persist"
        persist.mkdir(parents=True, exist_ok=True)
        for path in (work, Path(sys.executable)):
            if any(ch.isspace() for ch in str(path)):
                raise LabError(f"snmpd's pass_persist cannot run a command from a path with blanks: {path}")
        state = work / "qbridge.json"
        with qbridge_agent.locked(state):
            if not state.exists():
                # the agent's switch as the lab builds it: every port an access port of DEFAULT, named as cabled
                initial = qbridge_agent.initial_state(len(sw.ports), default_vid=sw.default_tag)
                initial["names"] = {str(i): port for i, port in enumerate(sw.ports, start=1)}
                qbridge_agent.save_state(state, initial)
        mgmt = ipaddress.ip_interface(sw.mgmt_address)
        mgmt_ip, lan = mgmt.ip, mgmt.network  # answers the lab's DEFAULT VLAN only (the frontend, the router)
        default_bridge = sw.bridges[0]
        runner.ip(sw.netns, "addr", "add", sw.mgmt_address, "dev", default_bridge)
        agent = f"{sys.executable} -m kavlan_core.lab.qbridge_agent --state {state} --ports {len(sw.ports)}"
        moving = f"{agent} --bridge-prefix vlan --live"  # the agent that writes the VLAN table also moves the links
        conf = work / "snmpd.conf"
        conf.write_text(
            "\n".join(
                [
                    f"# kavlan lab: snmpd of switch {sw.name}",
                    f"agentaddress udp:{mgmt_ip}:161",
                    f"rocommunity {SNMP_RO} {lan}",
                    f"rwcommunity {SNMP_RW} {lan}",
                    f"pass_persist .{BRIDGE_BASE} {moving}",
                    f"pass_persist .{IF_X_BASE} {agent} --base-oid {IF_X_BASE} --live",
                    f"pass_persist .{IF_TABLE_BASE} {agent} --base-oid {IF_TABLE_BASE} --live",
                    "",
                ]
            )
        )
        env = {"SNMP_PERSISTENT_DIR": str(persist), "SNMPCONFPATH": str(persist), "MIBS": ""}
        runner.spawn(
            f"snmpd {sw.name}",
            ["snmpd", "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf)],
            sw.netns,
            work / "snmpd.log",
            env,
        )


PLANES: dict[str, type[ControlPlane]] = {"linux_bridge": ControlPlane, "snmp_qbridge": SnmpControlPlane}


def plane(driver: str) -> ControlPlane:
    cls = PLANES.get(driver)
    if cls is None:
        raise LabError(
            f"the lab cannot run a switch with driver {driver!r} (lab drivers: {', '.join(PLANES)})"
        )
    return cls()
