"""The monitoring commands of the registry (``ports``, ``fdb``, ``check-isolation``): the REPL runs them as they
are, ``kavlan ports|fdb|check-isolation`` through :mod:`kavlan_tui.monitor_cli`; and how their reports read."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kavlan_core.errors import BadInput
from kavlan_core.model import vlan_label
from kavlan_core.monitoring import FdbReport, IsolationReport, PortLoad, PortsReport
from kavlan_core.reports import UnreadableSwitch

from .commands import (
    NODE,
    SITE,
    TEXT,
    VLAN,
    Command,
    Context,
    Param,
    Result,
    nodes_or_job,
    parse_job,
    parse_vlan,
)

UNITS = ((1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"))


def rate_text(octets: float | None) -> str:
    """``1.2 MB/s``; ``-`` when unknown (the first read of a port, a counter the switch does not have)."""
    if octets is None:
        return "-"
    for size, unit in UNITS:
        if octets >= size:
            return f"{octets / size:.1f} {unit}"
    return f"{octets:.0f} B/s"


def speed_text(mbps: int | None) -> str:
    if mbps is None or mbps == 0:
        return "-"
    return f"{mbps // 1000} Gb/s" if mbps >= 1000 and mbps % 1000 == 0 else f"{mbps} Mb/s"


def link_text(up: bool | None) -> str:
    return "?" if up is None else "up" if up else "DOWN"


def load_line(load: PortLoad) -> str:
    where = f"{load.node}/{load.nic} {load.switch} {load.port}"
    if load.reason:
        return f"{where}: cannot be read: {load.reason}"
    errors = "-" if load.in_errors is None else str(load.in_errors)
    return (
        f"{where}: {link_text(load.up)} {speed_text(load.speed_mbps)}, in {rate_text(load.in_rate)}, "
        f"out {rate_text(load.out_rate)}, errors {errors}"
    )


def unreadable_lines(unreadable: list[UnreadableSwitch], what: str) -> list[str]:
    return [f"{u.reason} (its {what} were not read)" for u in unreadable]


def ports_result(report: PortsReport) -> Result:
    data = {
        "ports": [asdict(x) for x in report.loads],
        "unreadable": [asdict(u) for u in report.unreadable],
        "seconds": report.seconds,
    }
    refused = [x for x in report.loads if x.reason]
    return Result(
        [load_line(x) for x in report.loads],
        data=data,
        ok=not report.unreadable and not refused,
        errors=unreadable_lines(report.unreadable, "ports"),
    )


def fdb_result(report: FdbReport) -> Result:
    lines = [
        f"{r.mac} VLAN {vlan_label(r.vlan) if r.vlan is not None else f'tag {r.tag}'} {r.switch} "
        f"{r.port or '-'} {f'{r.node}/{r.nic}' if r.node else 'unknown'}"
        for r in report.rows
    ]
    data = {"fdb": [asdict(r) for r in report.rows], "unreadable": [asdict(u) for u in report.unreadable]}
    return Result(
        lines or ["no MAC address learned"],
        data=data,
        ok=not report.unreadable,
        errors=unreadable_lines(report.unreadable, "learned addresses"),
    )


def isolation_result(report: IsolationReport) -> Result:
    """A leak per line; the verdict last: clean, leak, or not vouched for (a switch not read)."""
    lines = [f"LEAK ({leak.kind}): {leak.detail}" for leak in report.leaks]
    seen = f"{report.macs} MAC address(es) seen"
    if report.no_vlan:
        seen += f", {report.no_vlan} in no VLAN the switch can tell (not checked)"
    if report.stale:
        seen += f", {report.stale} stale on uplinks in the VLAN their NIC just left (not leaks)"
    if report.leaks:
        lines.append(f"{report.scope}: {len(report.leaks)} leak(s) ({seen})")
    elif report.unreadable:
        lines.append(
            f"{report.scope}: no leak on the switches read, but {len(report.unreadable)} could not be"
        )
    else:
        lines.append(f"{report.scope}: clean ({seen})")
    data = asdict(report) | {"clean": report.clean}
    return Result(
        lines, data=data, ok=report.clean, errors=unreadable_lines(report.unreadable, "learned addresses")
    )


async def _ports(ctx: Context, a: dict[str, Any]) -> Result:
    names = await nodes_or_job(ctx, list(a.get("nodes") or []))
    return ports_result(await ctx.service.port_loads(names))


async def _fdb(ctx: Context, a: dict[str, Any]) -> Result:
    vlan = parse_vlan(a["vlan"]) if a.get("vlan") else None
    return fdb_result(await ctx.service.fdb(vlan, a.get("site")))


async def _check_isolation(ctx: Context, a: dict[str, Any]) -> Result:
    """``check-isolation [VLAN | job N | site S]``: a VLAN, a job's VLANs, or a site; with nothing, the current
    job's VLANs, else this site."""
    target, value = a.get("target"), a.get("value")
    if target in ("job", "site") and value is None:
        raise BadInput(
            f"check-isolation {target}: missing the {target} (usage: check-isolation [VLAN | job N | site S])"
        )
    if target not in ("job", "site") and value is not None:
        raise BadInput(
            f"check-isolation: unexpected {value!r} (usage: check-isolation [VLAN | job N | site S])"
        )
    if target == "job":
        report = await ctx.service.check_isolation(job=parse_job(str(value)))
    elif target == "site":
        report = await ctx.service.check_isolation(site=value)
    elif target is not None:
        report = await ctx.service.check_isolation(vlan=parse_vlan(target))
    else:
        report = await ctx.service.check_isolation(job=ctx.job_id)
    return isolation_result(report)


def commands() -> tuple[Command, ...]:
    """The commands, for the registry (built when it asks: the registry's module imports this one)."""
    return (
        Command(
            "ports",
            "Link, speed, traffic and errors of nodes' switch ports (default: the current job's nodes)",
            (Param("nodes", NODE, "node names or patterns", required=False, many=True),),
            _ports,
            cli="ports",
        ),
        Command(
            "fdb",
            "MAC addresses the switches learned: VLAN, switch, port, node (or unknown)",
            (
                Param("vlan", VLAN, "only this VLAN", required=False),
                Param("site", SITE, "site (default: this one)", required=False),
            ),
            _fdb,
            cli="fdb",
        ),
        Command(
            "check-isolation",
            "Check that no MAC is learned where the VLANs say it must not be (a VLAN, the current job, or the site)",
            (
                Param(
                    "target",
                    VLAN,
                    "a VLAN id, or job, or site (default: the current job, else this site)",
                    required=False,
                ),
                Param("value", TEXT, "after job: its id; after site: its name", required=False),
            ),
            _check_isolation,
            cli="check-isolation",
        ),
    )
