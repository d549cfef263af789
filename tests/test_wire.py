"""The API's wire format: every object a face receives survives encode -> JSON -> decode unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from conftest import run
from kavlan_core.api import wire
from kavlan_core.errors import BadInput, KavlanError, NotAllowed, NotFound, SwitchUnavailable, Unavailable
from kavlan_core.events import DhcpChanged, MoveFinished, NodeMoved, SafeguardStep
from kavlan_core.model import DEFAULT, Job, JobState
from kavlan_core.reports import Member, MoveReport, Plan, VlanInfo


def through_json(obj: Any) -> Any:
    return json.loads(json.dumps(wire.encode(obj)))


def test_service_objects_round_trip(make_service: Any) -> None:
    svc = make_service()

    async def go() -> None:
        job = await svc.submit("{\"type='kavlan'\"}/vlan=1+/nodes=2")
        assert wire.decode(Job, through_json(job)) == job
        assert wire.decode(Job, through_json(job)).state is JobState.RUNNING
        vlans = await svc.vlans()
        assert [wire.decode(VlanInfo, through_json(v)) for v in vlans] == vlans
        vid = job.vlans[0].vlan
        plan = await svc.plan(list(job.nodes), vid)
        back = wire.decode(Plan, through_json(plan), svc.inventory)
        assert back.render() == plan.render()
        assert back.as_dict() == plan.as_dict()
        report = await svc.set_vlan(list(job.nodes), vid)
        again = wire.decode(MoveReport, through_json(report), svc.inventory)
        assert again.results == report.results
        assert again.switches == report.switches
        assert again.counts() == {"success": 2, "failure": 0, "unchanged": 0}
        members = await svc.members(vid)
        assert [wire.decode(Member, through_json(m)) for m in members] == members
        assert {m.node for m in members} == set(job.nodes)
        undo = await svc.set_vlan(list(job.nodes), DEFAULT)
        assert wire.decode(MoveReport, through_json(undo), svc.inventory).ok

    run(go())


def test_nic_references_need_the_inventory(make_service: Any) -> None:
    svc = make_service()
    plan = run(svc.plan([next(iter(svc.inventory.nodes))], 4, user="root"))
    with pytest.raises(TypeError, match="inventory"):
        wire.decode(Plan, through_json(plan))


@pytest.mark.parametrize(
    "event",
    [
        NodeMoved(node="suno-1", nic="eth0", old=0, new=4, at=12.5),
        MoveFinished(vlan=4, ok=2, failed=1, unchanged=0, seconds=0.25, at=1.0),
        DhcpChanged(site="sophia", vlan=4, state="on", at=2.0),
        SafeguardStep(stage="verify", nodes=2, detail="2/2 back", at=3.0),
    ],
)
def test_events_round_trip(event: Any) -> None:
    data = json.loads(json.dumps(wire.encode_event(event)))
    assert data["type"] == type(event).__name__
    assert wire.decode_event(data) == event


def test_unknown_event_types_are_ignored() -> None:
    assert wire.decode_event({"type": "FromTheFuture", "at": 1.0}) is None


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (BadInput("bad"), 400),
        (NotAllowed("Not enough privileges on Kavlan resources: x", [("n1", "not yours")]), 403),
        (NotFound("gone"), 404),
        (Unavailable("busy"), 409),
        (SwitchUnavailable("switch sw1: no answer", switch="sw1", ports=["3"]), 503),
        (KavlanError("odd"), 500),
    ],
)
def test_errors_come_back_as_the_same_exception(exc: KavlanError, status: int) -> None:
    assert wire.error_status(exc) == status
    body = json.loads(json.dumps(wire.error_body(exc)))
    assert body["code"] == status and body["message"] == str(exc)
    back = wire.error_from(status, body)
    assert type(back) is type(exc) and str(back) == str(exc)
    if isinstance(exc, NotAllowed):
        assert isinstance(back, NotAllowed) and back.refusals == exc.refusals
    if isinstance(exc, SwitchUnavailable):
        assert isinstance(back, SwitchUnavailable) and (back.switch, back.ports) == ("sw1", ["3"])


def test_an_error_without_a_body_still_says_what_happened() -> None:
    err = wire.error_from(503, "<html>proxy error</html>")
    assert isinstance(err, KavlanError)
    assert "503" in str(err)


def test_the_remote_client_loads_no_store_and_no_http_until_it_talks() -> None:
    """A face in remote mode never loads the engine's store; aiohttp comes when the client first talks."""
    code = "import sys, kavlan_core.api.client; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )
    assert not {m for m in loaded if m.split(".")[0] in ("sqlalchemy", "aiohttp", "yarl")}
    assert "kavlan_core.store" not in loaded and "kavlan_core.service" not in loaded


def _subclasses(cls: type[KavlanError]) -> set[type[KavlanError]]:
    return {cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))}


def test_no_error_class_of_the_core_answers_500() -> None:
    # every module the server may run (the lab's and the client's errors never reach it), so that every
    # KavlanError class they define is known here; a bare KavlanError is the server's internal fault (500)
    import importlib
    import pkgutil

    import kavlan_core
    from kavlan_core.api.server.errors import answer_of

    served = [
        m.name
        for m in pkgutil.walk_packages(kavlan_core.__path__, "kavlan_core.")
        if not m.name.startswith(("kavlan_core.lab", "kavlan_core.api.client"))
        and not m.name.endswith("__main__")
    ]
    for name in served:
        importlib.import_module(name)
    classes = {c for c in _subclasses(KavlanError) - {KavlanError} if c.__module__ in served}
    assert len(classes) > 10
    for cls in classes:
        assert answer_of(cls.__new__(cls)).status not in (500, 200), cls


def test_the_served_core_raises_no_bare_kavlan_error() -> None:
    # a bare KavlanError answers 500 (its sentence is not shown): what the server's own files or settings keep
    # it from doing is Misconfigured (503, the sentence shown)
    import ast
    from pathlib import Path

    core = Path(__file__).resolve().parent.parent / "core"
    bare = []
    for path in core.rglob("*.py"):
        if path.parts[-2] in ("client", "lab"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "KavlanError":
                    bare.append(f"{path.relative_to(core)}:{node.lineno}")
    assert not bare, bare


def test_the_documented_error_classes_are_those_a_client_raises_again() -> None:
    from kavlan_core.api import openapi

    doc = openapi.document(["sophia"], ["4"])
    documented = doc["components"]["schemas"]["Error"]["properties"]["exception"]["enum"]
    assert sorted(documented) == sorted(wire._BY_NAME)
