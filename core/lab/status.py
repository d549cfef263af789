"""What a lab runs now: its namespaces, each recorded daemon alive or dead, each node's port VLAN and addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import vlan_label
from . import system
from .state import alive, lab_namespaces, processes_in

if TYPE_CHECKING:
    from .builder import Lab


def status(lab: Lab) -> dict[str, Any]:
    """A plain dict (JSON-ready): phase, namespaces, processes, nodes."""
    state = lab.state
    out: dict[str, Any] = {
        "state_dir": str(lab.dir),
        "prefix": lab.prefix,
        "phase": state.phase if state else "down",
    }
    if state is None:
        out["namespaces"] = [{"name": ns, "exists": True} for ns in lab_namespaces(lab.prefix)]
        return out
    topo = lab.topology
    present = set(lab_namespaces(lab.prefix))
    out["namespaces"] = [
        {"name": ns, "exists": ns in present} for ns in dict.fromkeys([*state.namespaces, *present])
    ]
    out["processes"] = [{"name": p.name, "pid": p.pid, "alive": alive(p)} for p in state.processes]
    recorded = {p.pid for p in state.processes}
    # started in the lab by others: kavlan -e's dnsmasq, ssh sessions, at jobs
    out["others"] = [
        {"name": p.name, "pid": p.pid, "netns": p.netns}
        for p in processes_in(sorted(present))
        if p.pid not in recorded
    ]
    tag_vlan = {part.name: {tag: vid for vid, tag in part.tags.items()} for part in topo.parts.values()}
    masters: dict[str, dict[str, str]] = {}
    for sw in topo.switches:
        if sw.netns in present:
            masters[sw.name] = {
                link["ifname"]: str(link.get("master", ""))
                for link in system.ip_json(sw.netns, "link", "show")
            }
    nodes = []
    for host in topo.nodes:
        nic = topo.inventory.nodes[host.name].primary_nic
        bridge = masters.get(nic.switch, {}).get(nic.port, "")
        tag = int(bridge[4:]) if bridge.startswith("vlan") and bridge[4:].isdigit() else None
        vid = tag_vlan[host.site].get(tag) if tag is not None else None
        nodes.append(
            {
                "name": host.name,
                "site": host.site,
                "port": f"{nic.switch}/{nic.port}",
                "vlan": vlan_label(vid) if vid is not None else (bridge or "?"),
                "addresses": lab.addresses(host) if host.netns in present else [],
                "hostname": _hostname(lab, host.name),
            }
        )
    out["nodes"] = nodes
    out["sites"] = [
        {"name": part.name, "frontend": part.frontend, "kavlan_config": str(lab.site_config(part.name))}
        for part in topo.parts.values()
    ]
    out["kavlan_config"] = str(lab.kavlan_config)
    out["ssh_config"] = str(lab.ssh_config)
    return out


def _hostname(lab: Lab, host: str) -> str:
    try:
        return system.run(lab.argv(["hostname"], host), timeout=5).strip()
    except Exception:
        return ""


def format_status(data: dict[str, Any]) -> str:
    lines = [f"lab in {data['state_dir']} (prefix {data['prefix']}): {data['phase']}"]
    spaces = data.get("namespaces", [])
    if spaces:
        missing = [n["name"] for n in spaces if not n["exists"]]
        lines.append(
            f"namespaces: {len(spaces) - len(missing)} present"
            + (f", missing: {', '.join(missing)}" if missing else "")
        )
    procs = data.get("processes", [])
    if procs:
        dead = [p for p in procs if not p["alive"]]
        lines.append(f"processes: {len(procs) - len(dead)} alive, {len(dead)} dead")
        lines += [f"  {p['name']:<24} pid {p['pid']:<8} {'alive' if p['alive'] else 'DEAD'}" for p in procs]
    others = data.get("others", [])
    if others:
        lines.append(
            "other processes in the lab: "
            + ", ".join(f"{p['name']} ({p['pid']}, {p['netns']})" for p in others)
        )
    if data.get("nodes"):
        lines.append("nodes:")
        lines += [
            f"  {n['name']:<10} {n['port']:<12} VLAN {n['vlan']:<8} {' '.join(n['addresses']) or '-':<18} {n['hostname']}"
            for n in data["nodes"]
        ]
    if len(data.get("sites", [])) > 1:
        lines.append(
            "sites: "
            + ", ".join(f"{s['name']} (frontend {s['frontend']})" for s in data["sites"])
            + "; another site's frontend: kavlan-lab exec --site SITE -- CMD"
        )
    if data.get("kavlan_config"):
        lines.append(
            f"kavlan config: {data['kavlan_config']} (use kavlan-lab exec -- CMD, or kavlan-lab shell)"
        )
    return "\n".join(lines)
