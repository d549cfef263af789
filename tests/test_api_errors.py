"""Errors on the wire: each error answers with its status, class and one sentence; a switch failure carries its
switch and ports (503) and the client raises it again; a broken store or an unknown fault never tells its own
words (503 / 500, the detail in the server's log); drift and repair through a switch that does not answer."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from api_fixture import SITE, api_certs, start_server  # noqa: F401

from conftest import small_inventory
from kavlan_core import config
from kavlan_core.api import auth, wire
from kavlan_core.api.client import RemoteService
from kavlan_core.api.server.app import init_app
from kavlan_core.api.server.errors import INTERNAL, STORE_DOWN, ApiError, answer_of
from kavlan_core.api.server.options import Options
from kavlan_core.dhcp.dnsmasq import DnsmasqError
from kavlan_core.drivers.base import SwitchError, SwitchTimeout
from kavlan_core.errors import (
    BadInput,
    KavlanError,
    NotAllowed,
    NotFound,
    SwitchUnavailable,
    Unavailable,
)
from kavlan_core.store import LockTimeout, StoreError

SECRET_DETAIL = "postgresql://kavlan:hunter2-db@db.internal/kavlan"


# --- the table ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "cls", "words"),
    [
        (BadInput("unknown node 'x'"), 400, BadInput, "unknown node"),
        (NotAllowed("Not enough privileges"), 403, NotAllowed, "privileges"),
        (NotFound("job 4 does not exist"), 404, NotFound, "does not exist"),
        (Unavailable("no free VLAN"), 409, Unavailable, "no free VLAN"),
        (
            SwitchUnavailable("switch sw2: no answer", switch="sw2", ports=["1"]),
            503,
            SwitchUnavailable,
            "sw2",
        ),
        (SwitchTimeout("sw2", "no answer (timed out)"), 503, SwitchUnavailable, "switch sw2: no answer"),
        (StoreError(f"cannot open {SECRET_DETAIL}"), 503, Unavailable, STORE_DOWN),
        (
            LockTimeout("the lock 'switch sw1' stayed held by another process"),
            409,
            Unavailable,
            "stayed held",
        ),
        # a DHCP server that cannot start is the testbed's state, said as embedded (same class, same sentence)
        (DnsmasqError("dnsmasq refused to start: address in use"), 409, DnsmasqError, "address in use"),
        (KavlanError(SECRET_DETAIL), 500, KavlanError, INTERNAL),
        (RuntimeError(SECRET_DETAIL), 500, KavlanError, INTERNAL),
        (ApiError(415, "the request body must be JSON"), 415, BadInput, "must be JSON"),
        (auth.AuthError(401, "authentication required"), 401, NotAllowed, "authentication required"),
    ],
)
def test_each_error_has_one_answer(exc: Exception, status: int, cls: type, words: str) -> None:
    answer = answer_of(exc)
    assert (answer.status, type(answer.error)) == (status, cls)
    assert words in str(answer.error)
    # an internal fault's own words go to the server's log only
    assert SECRET_DETAIL not in str(answer.error)
    if SECRET_DETAIL in str(exc):
        assert SECRET_DETAIL in answer.log
    assert ("WWW-Authenticate" in answer.headers) == (status == 401)


def test_a_switch_failure_and_its_about_cross_the_wire() -> None:
    sent = SwitchUnavailable("switch sw2: port 7 refused", switch="sw2", ports=["7", "8"], about="where")
    body = json.loads(json.dumps(wire.error_body(sent)))
    assert body["code"] == 503 and body["exception"] == "SwitchUnavailable"
    assert (body["switch"], body["ports"], body["about"]) == ("sw2", ["7", "8"], "where")
    back = wire.error_from(503, body)
    assert type(back) is SwitchUnavailable and str(back) == str(sent)
    assert (back.switch, back.ports, back.about) == ("sw2", ["7", "8"], "where")
    refused = wire.error_from(
        403, wire.error_body(NotAllowed("no", [("suno-1", "not yours")], about="nodes"))
    )
    assert isinstance(refused, NotAllowed) and refused.refusals == [("suno-1", "not yours")]
    assert refused.about == "nodes"
    assert "about" not in wire.error_body(BadInput("x"))
    # a 503 without a class (a proxy's): Unavailable
    assert type(wire.error_from(503, "Service Unavailable")) is Unavailable


# --- in process: faults of the store, and unknown ones ---------------------------------------------------------------


def _raises(exc: Exception) -> Callable[..., Any]:
    async def fail(*_a: Any, **_k: Any) -> Any:
        raise exc

    return fail


def test_store_and_internal_faults_never_leak(
    make_service: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users"
    auth.set_password(users, "root", "root-password-9")
    svc = make_service(user="kavlan-api")
    svc.vlans = _raises(StoreError(f"cannot open {SECRET_DETAIL}"))
    svc.jobs_page = _raises(KavlanError(f"unexpected: {SECRET_DETAIL}"))  # what GET /jobs calls
    svc.drift = _raises(SwitchError("sw2", "no answer", ports=["3"]))
    audit = tmp_path / "audit.log"
    token = base64.b64encode(b"root:root-password-9").decode()
    app = init_app(svc, Options(users_file=str(users), access_log="", audit_log=str(audit)))

    async def go() -> dict[str, tuple[int, dict[str, Any]]]:
        got = {}
        async with (
            TestServer(app) as server,
            aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http,
        ):
            for method, path in (
                ("GET", f"/sites/{SITE}/vlans"),
                ("GET", f"/sites/{SITE}/jobs"),
                ("GET", f"/sites/{SITE}/kavlan/drift"),
                ("POST", f"/sites/{SITE}/kavlan/repair"),
            ):
                async with http.request(method, server.make_url(path)) as r:
                    got[path] = (r.status, await r.json())
        return got

    got = asyncio.run(go())
    status, body = got[f"/sites/{SITE}/vlans"]
    assert (status, body["exception"], body["message"]) == (503, "Unavailable", STORE_DOWN)
    status, body = got[f"/sites/{SITE}/jobs"]
    assert (status, body["exception"], body["message"]) == (500, "KavlanError", INTERNAL)
    for path in (f"/sites/{SITE}/kavlan/drift", f"/sites/{SITE}/kavlan/repair"):
        status, body = got[path]
        assert (status, body["exception"], body["switch"], body["ports"]) == (
            503,
            "SwitchUnavailable",
            "sw2",
            ["3"],
        )
        assert body["message"] == "switch sw2: no answer"
    assert not any(SECRET_DETAIL in json.dumps(b) for _s, b in got.values())
    log = capfd.readouterr().err
    assert f"StoreError: cannot open {SECRET_DETAIL}" in log  # the detail is in the server's log
    assert f"unexpected: {SECRET_DETAIL}" in log
    (repair,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert repair["what"] == "repair" and repair["result"] == {
        "status": 503,
        "error": "switch sw2: no answer",
    }


# --- a real server with a switch that does not answer ---------------------------------------------------------------------


@pytest.mark.slow
def test_drift_and_repair_through_a_switch_that_does_not_answer(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    certs = Path(request.getfixturevalue("api_certs"))
    inv = small_inventory(tmp_path / "small.toml", {"sw2": {"timeout": True, "timeout_s": 0.01}})
    srv = start_server(tmp_path / "server", certs, inventory=inv, env={"KAVLAN_SWITCH_RETRIES": "0"})
    try:
        for user, method, path in (
            ("alice", "get", f"/sites/{SITE}/kavlan/drift"),
            ("root", "post", f"/sites/{SITE}/kavlan/repair"),
        ):
            c = srv.client(user)
            r = getattr(c, method)(srv.url + path, timeout=30)
            assert r.status_code == 200, r.text  # the switches that answer are checked all the same
            (down,) = r.json()["unreadable"]
            assert down == {
                "switch": "sw2",
                "ports": ["Gi1/0/1", "Gi1/0/2"],
                "reason": "cannot read switch sw2: no answer (timed out)",
            }
        assert "Traceback" not in srv.stderr.read_text()
        cert, key = srv.cert("alice")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
        env.update(KAVLAN_DATA_DIR=str(tmp_path / "c"), KAVLAN_CONFIG=str(tmp_path / "none.toml"))
        settings = config.load(env=env, api=srv.url, ca_cert=srv.ca, client_cert=cert, client_key=key)

        async def go() -> None:
            svc = await RemoteService.open(settings)
            try:
                found = await svc.drift()
                assert [(u.switch, u.reason) for u in found.unreadable] == [
                    ("sw2", "cannot read switch sw2: no answer (timed out)")
                ]
            finally:
                await svc.close()

        asyncio.run(go())
    finally:
        srv.stop()
