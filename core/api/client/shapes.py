"""Reading the original's answers into the service's objects, and making one answer of several sites' parts
(a move split per site: the refusals in the order the nodes were named, the reports merged)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ...authz import PRIVILEGES
from ...errors import KavlanError, NotAllowed
from ...model import DEFAULT, vlan_label
from ...plan import Plan
from ...reports import MoveReport, NodeResult, Outcome, VlanInfo
from .. import wire


def vlan_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    return DEFAULT if text.upper() == "DEFAULT" else int(text)


def vlan_info(site: str, item: Mapping[str, Any]) -> VlanInfo:
    data = dict(item)
    data.setdefault("id", vlan_id(item.get("uid")))
    data.setdefault("dhcp", item.get("dhcpd", "off"))
    data.setdefault("site", site)
    return wire.decode(VlanInfo, data)  # type: ignore[no-any-return]


def node_vlans(answer: Any) -> dict[str, int]:
    """``POST /vlans/nodes`` as a map: ``{fqdn: vlan}``, ``{fqdn: {vlan}}`` or ``{items: [{uid, vlan}]}``."""
    if isinstance(answer, Mapping) and isinstance(answer.get("items"), list):
        answer = answer["items"]
    out: dict[str, int] = {}
    if isinstance(answer, list):
        for item in answer:
            if isinstance(item, Mapping) and item.get("uid") is not None and item.get("vlan") is not None:
                out[str(item["uid"])] = vlan_id(item["vlan"])
        return out
    if isinstance(answer, Mapping):
        for name, value in answer.items():
            vlan = value.get("vlan") if isinstance(value, Mapping) else value
            if vlan is not None:
                out[str(name)] = vlan_id(vlan)
    return out


def per_node_report(vlan: int, answer: Any) -> MoveReport:
    """A server that gave the original's per-node map only (``{fqdn: {status, message}}``)."""
    report = MoveReport(vlan=vlan)
    for name, result in (answer or {}).items():
        word, message = str(result.get("status")), str(result.get("message") or "")
        status = Outcome(word) if word in Outcome.__members__.values() else Outcome.FAILURE
        report.results.append(NodeResult(name, status, message))
    return report


def raise_refusals(answers: Sequence[Any], order: Sequence[str]) -> None:
    """Raise what the parts of a move raised: refusals of several sites as one, in the order the nodes were
    named, with the sentence the embedded service gives; else the first error."""
    errors = [a for a in answers if isinstance(a, BaseException)]
    if not errors:
        return
    refused = [e for e in errors if isinstance(e, NotAllowed) and e.refusals]
    if len(errors) > 1 and len(refused) == len(errors):
        rank = {name: i for i, name in enumerate(order)}
        refusals = sorted((r for e in refused for r in e.refusals), key=lambda r: rank.get(r[0], len(rank)))
        detail = "; ".join(f"{n}: {w}" for n, w in refusals[:5])
        more = f" (and {len(refusals) - 5} more)" if len(refusals) > 5 else ""
        raise NotAllowed(f"{PRIVILEGES}: {detail}{more}", refusals)
    raise errors[0]


def merge(vlan: int, reports: Sequence[MoveReport], started: float, *, dry_run: bool = False) -> MoveReport:
    merged = MoveReport(vlan=vlan, dry_run=dry_run)
    if dry_run:
        merged.plan = Plan(vlan=vlan)
    for r in reports:
        merged.results += r.results
        merged.switches += r.switches
        if merged.plan is not None and r.plan is not None:
            merged.plan.switches += r.plan.switches
            merged.plan.unchanged += r.plan.unchanged
    merged.seconds = time.perf_counter() - started
    return merged


def dry_run_report(vlan: int, plan: Plan) -> MoveReport:
    """A dry run's report: the plan, and the nodes already there as unchanged."""
    report = MoveReport(vlan=vlan, plan=plan, dry_run=True)
    for ref, name in plan.unchanged:
        already = f"already in VLAN {vlan_label(vlan)}"
        report.results.append(
            NodeResult(name, Outcome.UNCHANGED, already, ref.nic.switch, ref.nic.port, vlan, vlan)
        )
    return report


def failed_parts(vlan: int, by_site: Mapping[str, list[str]], answers: Sequence[Any]) -> list[MoveReport]:
    """A site's server failed after the checks while another moved its nodes: every node is reported."""
    failed = []
    for (site, names), answer in zip(by_site.items(), answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, KavlanError):
                raise answer
            part = MoveReport(vlan=vlan)
            part.results = [NodeResult(n, Outcome.FAILURE, f"{site}'s server: {answer}") for n in names]
            failed.append(part)
    return failed
