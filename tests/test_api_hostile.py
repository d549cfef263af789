"""Hostile and careless requests to kavlan-api, the real application in this process (tests/api_inprocess.py):
no input answers 5xx (a hypothesis corpus of paths, queries, headers and bodies; deep JSON, lone surrogates,
over-long names and types on SQLite and PostgreSQL), work proportional to the input is refused before it starts
and never holds the event loop long, audit lines stay bounded, no answer is masked (so none is an oracle) while
switch credentials are scrubbed where a switch's failure enters the core, event streams are bounded and show
the sites one may read, every GET answers HEAD, jobs are paged as g5k-api pages them."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import hypothesis
import hypothesis.strategies as st
import pytest
from api_fixture import demo_with_credentials
from api_inprocess import PASSWORDS, SECRET, InProcess, settings_for, start
from pg_fixture import BACKENDS

from kavlan_core import events
from kavlan_core.api.server.errors import INTERNAL
from kavlan_core.api.server.limits import AUDIT_ITEMS, MAX_NODES, Limits
from kavlan_core.api.server.routes import ROUTES
from kavlan_core.drivers.base import PortChange, PortState, SwitchDriver, SwitchError
from kavlan_core.model import Job, JobState

SITE = "sophia"
LAG_BOUND = 0.025
"""Processor seconds the server's loop may spend between two of its ticks on one hostile request; it spends a
few milliseconds (tests/bench/bench_hostile.py prints it), this leaves room for a slower CI machine."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    tmp = tmp_path_factory.mktemp("hostile")
    inventory = demo_with_credentials(tmp / "demo.toml")
    s = start(
        tmp / "server", settings_for(tmp, inventory), limits=Limits(max_streams=3, max_streams_per_user=2)
    )
    try:
        yield s
    finally:
        s.stop()


def _one_sentence(reply: Any) -> str:
    """A refusal: JSON, its code, one line."""
    assert reply.headers["content-type"].startswith("application/json"), reply
    body = reply.json()
    assert body["code"] == reply.status and isinstance(body["message"], str), body
    assert "\n" not in body["message"] and len(body["message"]) < 1000, body
    assert body["message"] != INTERNAL, body
    return str(body["message"])


# --- the corpus ----------------------------------------------------------------------------------------------

VALID = {
    "site": SITE,
    "id": "4",
    "node": "suno-1.sophia.grid5000.fr",
    "uid": "alice",
    "job": "1000",
    "mid": "0",
}
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(min_size=200, max_size=3000),
    st.sampled_from(
        ["..", ".", "%00", "%ff%fe", "%ED%A0%80", "%C0%AF", "%", "%%", "DEFAULT", "0", "-1", "9" * 40]
    ),
    st.binary(max_size=60).map(lambda b: quote(b, safe="")),
)


def _segment(value: str) -> str:
    return value if value.startswith("%") or value in (".", "..") else quote(value, safe="")


@st.composite
def hostile_paths(draw: st.DrawFn) -> tuple[str, str]:
    method, template, _ = draw(st.sampled_from(ROUTES))
    method = draw(
        st.one_of(st.just(method), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    )
    path = template
    for name, valid in VALID.items():
        if "{" + name + "}" in path:
            value = draw(st.one_of(st.just(valid), HOSTILE_TEXT))
            path = path.replace("{" + name + "}", _segment(value))
    if draw(st.booleans()):
        path = "/stable" + path
    query = draw(
        st.dictionaries(
            st.sampled_from(["dry_run", "report", "state", "user", "limit", "offset", "x"]),
            st.text(max_size=30),
            max_size=3,
        )
    )
    if query:
        path += "?" + urlencode(query)
    return method, path


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"[" * 100_000 + b"]" * 100_000,
            b'["\\ud800"]',
            b'{"resources": "nodes=1", "name": "\\udfff"}',
            b'{"resources": "nodes=1", "walltime": 1e999}',
            b'{"resources": "nodes=1", "walltime": NaN}',
            b'{"action": "start", "action": "stop"}',
            b"\xef\xbb\xbf[]",
            b'["suno-1"' + b', "suno-1"' * 3000 + b"]",
            json.dumps({"resources": "walltime=99999999999999999999,nodes=1"}).encode(),
            json.dumps({"resources": "nodes=\u00b2"}).encode(),
            json.dumps({"resources": "nodes=1", "types": ["a,b"]}).encode(),
            json.dumps({"resources": "nodes=1", "name": "x" * 10_000}).encode(),
        ]
    ),
    st.lists(st.text(max_size=30), max_size=30).map(lambda v: json.dumps(v).encode()),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ]
)
ACT_FOR = st.one_of(
    st.none(),
    st.sampled_from(["alice", "root", "anonymous", "unknown", "", "(unknown)", "a b"]),
    st.text(alphabet=st.characters(max_codepoint=255, blacklist_categories=["Cc"]), max_size=70),
)

LATIN1 = st.text(alphabet=st.characters(max_codepoint=255, blacklist_categories=["Cc"]), max_size=70)
"""Header text as http.client sends it (latin-1 bytes, which aiohttp reads as UTF-8 with escapes)."""
EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(["Authorization", "Content-Encoding", "Expect", "Accept", "Accept-Encoding", "Host"]),
    st.one_of(
        LATIN1,
        LATIN1.map(lambda t: "Basic " + t),
        st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "gzip, deflate", "100-continue"]),
    ),
    max_size=3,
)
"""Headers the server reads (credentials, a compressed body, expectations) or that a parser might, with any
value."""


@hypothesis.settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(
    route=hostile_paths(),
    body=BODIES,
    content_type=CONTENT_TYPES,
    user=st.sampled_from(["root", "alice", None]),
    act_for=ACT_FOR,
    extra=EXTRA_HEADERS,
)
def test_no_input_answers_5xx(
    server: InProcess,
    route: tuple[str, str],
    body: bytes | None,
    content_type: str,
    user: str | None,
    act_for: str | None,
    extra: dict[str, str],
) -> None:
    method, path = route
    headers = {"Content-Type": content_type} if content_type else {}
    if act_for is not None:
        headers["X-Api-User-CN"] = act_for
    headers.update(extra)
    reply = server.request(method, path, body, user=user, headers=headers)
    assert reply.status < 500, (method, path, body[:200] if body else body, reply.status, reply.body[:300])
    if reply.status >= 400 and method != "HEAD":
        _one_sentence(reply)


def test_what_the_http_parser_refuses_is_answered_in_json_and_logged(server: InProcess) -> None:
    for raw in (
        b"GET /sites HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n",
        b"BREW /sites HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"POST /sites/sophia/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0], answer[:200]
        assert b"application/json" in head, head
        message = json.loads(body)["message"]
        assert message.startswith("the request is not valid HTTP") and "\n" not in message
    lines = [json.loads(x) for x in server.access_log.read_text().splitlines()]
    refused = [x for x in lines if x.get("status") == 400 and x.get("path") is None]
    assert len(refused) >= 5 and all(x["client"] == "127.0.0.1" and x["error"] for x in refused)


def test_headers_the_server_reads_are_refused_in_json_whatever_their_bytes(
    server: InProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Compressed bodies (a bomb, garbage), expectations, credentials of any bytes: one JSON sentence each, an
    access line each, and nothing in aiohttp's error log (a body left unread is not decompressed either)."""
    move = f"/sites/{SITE}/vlans/DEFAULT/nodes"
    bomb = gzip.compress(b" " * 50_000_000)  # 50 MB of spaces in 50 KB
    cases: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
        ("POST", move, bomb, {"Content-Encoding": "gzip"}, 415),
        ("POST", move, b"not deflate at all", {"Content-Encoding": "deflate"}, 415),
        ("POST", move, b'["x"]', {"Content-Encoding": "br"}, 415),
        ("GET", f"/sites/{SITE}", b"not deflate at all", {"Content-Encoding": "deflate"}, 200),
        ("POST", move, b'["x"]', {"Expect": "200-ok"}, 417),
        ("GET", "/no/such/path", None, {"Expect": "something"}, 417),
        ("POST", move, b'["x"]', {"Expect": "100-continue"}, 200),
    ]
    caplog.set_level("ERROR")
    before = len(server.access_log.read_text().splitlines())
    for method, path, body, extra, status in cases:
        headers = {"Content-Type": "application/json", **extra}
        reply = server.request(method, path, body, headers=headers)
        assert reply.status == status, (extra, reply.status, reply.body[:200])
        if status >= 400:
            _one_sentence(reply)
    for raw in (
        b"Basic \xff\xfe",
        b"Basic " + base64.b64encode("r\u00f6\u00f6t:x".encode("latin-1")),
        b"\xc3(",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"GET /sites HTTP/1.1\r\nHost: x\r\nAuthorization: " + raw + b"\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body_ = answer.partition(b"\r\n\r\n")
        assert b" 401 " in head.split(b"\r\n")[0], answer[:300]
        assert "HTTP Basic" in json.loads(body_)["message"]
    lines = server.access_log.read_text().splitlines()[before:]
    assert len(lines) >= len(cases) + 3
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")], caplog.text[:2000]


# --- bounded work ------------------------------------------------------------------------------------------


def test_work_is_bounded_before_it_starts_and_never_holds_the_loop(server: InProcess) -> None:
    move = f"/sites/{SITE}/vlans/DEFAULT/nodes"
    jobs = f"/sites/{SITE}/jobs"
    huge = json.dumps([f"nosuch-{i}.sophia.grid5000.fr" for i in range(100_000)]).encode()
    cases: list[tuple[str, bytes, int, str]] = [
        (move, huge, 413, "larger than the server's limit"),
        (move, json.dumps(["x"] * 100_000).encode(), 413, "more than 10000 values"),
        (move, json.dumps(["x"] * (MAX_NODES + 1)).encode(), 413, f"at most {MAX_NODES} nodes"),
        (jobs, json.dumps({"resources": "+".join(["/nodes=1"] * 20_000)}).encode(), 400, "at most 4096"),
        (jobs, json.dumps({"resources": "+".join(["/nodes=1"] * 65)}).encode(), 400, "at most 64 groups"),
        (jobs, b"[" * 100_000 + b"]" * 100_000, 400, "nests JSON"),
        (jobs, json.dumps({"resources": "x" * 900_000}).encode(), 400, "at most 4096"),
    ]
    headers = {"Content-Type": "application/json"}
    with server.watch() as lag:
        for path, body, status, words in cases:
            t0 = time.perf_counter()
            reply = server.request("POST", path, body, headers=headers)
            assert reply.status == status and words in _one_sentence(reply), (
                path,
                len(body),
                reply.body[:200],
            )
            assert time.perf_counter() - t0 < 5
        # the most a request may name, all unknown: one failure each, as g5k-api answers
        names = [f"nosuch-{i}.sophia.grid5000.fr" for i in range(MAX_NODES)]
        reply = server.post_json(move, names)
        assert reply.status == 200 and len(reply.json()) == MAX_NODES
        assert reply.json()[names[-1]] == {"status": "failure", "message": "Unknown node"}
    assert lag[1] < LAG_BOUND, (
        f"one request held the server's loop {lag[1] * 1000:.1f} ms (wall {lag[0] * 1000:.1f})"
    )


def test_audit_lines_stay_bounded(server: InProcess) -> None:
    nodes = [f"suno-{i}.sophia.grid5000.fr" for i in range(1, 11)]
    unknown = [f"nosuch-{i}" for i in range(2000)]
    reply = server.post_json(f"/sites/{SITE}/vlans/DEFAULT/nodes", [*nodes, *unknown])
    assert reply.status == 200, reply.body[:300]
    line = server.audit_log.read_text().splitlines()[-1]
    record = json.loads(line)
    assert record["what"] == "vlan.set" and record["nodes"] == nodes
    assert len(record["unknown"]) == AUDIT_ITEMS and record["unknown_total"] == 2000
    assert len(line) < 64 * 1024


# --- inputs the store cannot keep, on both databases -------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_overlong_and_unkeepable_job_fields_are_400_on_both_databases(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra = {"database": request.getfixturevalue("pg_url")} if backend == "postgresql" else {}
    s = start(
        tmp_path / "server", settings_for(tmp_path, demo_with_credentials(tmp_path / "demo.toml"), **extra)
    )
    try:
        path = f"/sites/{SITE}/jobs"
        base = {"resources": "nodes=1"}
        for body, words in (
            ({**base, "name": "x" * 10_000}, "at most 128"),
            ({**base, "name": "x" * 129}, "at most 128"),
            ({**base, "name": "two\nlines"}, "printable"),
            ({**base, "types": ["t" * 300]}, "is not a type"),
            ({**base, "types": ["deploy,destructive"]}, "is not a type"),
            ({**base, "types": [f"t{i}" for i in range(17)]}, "at most 16 types"),
            ({"resources": "nodes=1,walltime=99999999"}, "at most 3650 days"),
            ({"resources": "nodes=1,walltime=999999999999999999999999"}, "bad walltime"),
            ({**base, "walltime": 10**12}, "walltime must be"),
            ({"resources": "nodes=\u00b2"}, "bad count"),
            ({"resources": "nodes=1", "properties": "cluster='" + "a" * 5000 + "'"}, "at most 4096"),
        ):
            reply = s.post_json(path, body)
            assert reply.status == 400 and words in _one_sentence(reply), (body, reply.body[:200])
        for raw in (
            b'{"resources": "nodes=1", "name": "\\ud800"}',
            b'{"resources": "nodes=1", "types": ["\\udc80"]}',
        ):
            reply = s.request("POST", path, raw, headers={"Content-Type": "application/json"})
            assert reply.status == 400 and "lone surrogate" in _one_sentence(reply)
        listed = s.request("GET", path + "?state=all").json()
        assert listed["total"] == 0  # nothing was kept
        assert s.post_json(path, {**base, "name": "x" * 128, "types": ["deploy"]}).status == 201
        # the listing is paged in the store, on both databases: states, users, newest first
        ended = s.post_json(path, {**base, "name": "ended"}, user="bob").json()["uid"]
        assert s.request("DELETE", f"{path}/{ended}", user="bob").status == 202
        running = s.post_json(path, {**base, "name": "running"}, user="bob").json()["uid"]

        def uids(query: str) -> list[int]:
            return [j["uid"] for j in s.request("GET", path + query).json()["items"]]

        assert uids("?user=bob") == [running] and uids("?user=bob&state=terminated") == [ended]
        assert uids("?user=bob&state=all") == [running, ended] and uids("?state=waiting") == []
        assert uids("?state=all&offset=1&limit=1") == [ended]
        assert s.request("GET", path + "?state=all&limit=1").json()["total"] == 3
    finally:
        s.stop()


# --- no masking, so no oracle; credentials scrubbed where they are produced ----------------------------------


def test_answers_are_never_masked_so_none_is_an_oracle(server: InProcess) -> None:
    """A guess of the community comes back as it was sent, exactly like any other string: nothing confirms it;
    and a user whose name is a credential (here alice's is the write community) keeps her name everywhere."""
    path = f"/sites/{SITE}/vlans/DEFAULT/nodes"
    guesses = [SECRET, SECRET[:-1] + "X"]
    answers = [server.post_json(path, [g], user="alice").json() for g in guesses]
    assert answers == [{g: {"status": "failure", "message": "Unknown node"}} for g in guesses]
    refusals = [server.post_json(path + "?dry_run=true", [g], user="alice") for g in guesses]
    assert [_one_sentence(r).replace(g, "GUESS") for r, g in zip(refusals, guesses, strict=True)] == [
        _one_sentence(refusals[0]).replace(guesses[0], "GUESS")
    ] * 2
    assert server.request("GET", f"/sites/{SITE}/kavlan/whoami", user="alice").json()["uid"] == "alice"
    last = [json.loads(x) for x in server.access_log.read_text().splitlines()][-1]
    assert last["user"] == "alice" and "***" not in json.dumps(last)


class LeakyDriver(SwitchDriver):
    """A switch whose library puts the community in its error texts: on every write, and on reads once
    ``fail_reads`` is set."""

    fail_reads = False

    async def read_ports(self, ports: Sequence[str]) -> dict[str, PortState]:
        if LeakyDriver.fail_reads:
            raise SwitchError(self.switch.name, f"no answer to community {self.credentials['community']}")
        return {p: PortState(self.context.default_tag) for p in ports}

    async def apply(self, changes: Sequence[PortChange]) -> None:
        raise RuntimeError(f"snmp error (community={self.credentials['community']!r})")


def test_switch_credentials_are_scrubbed_where_a_failure_enters_the_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kavlan_core.switches

    monkeypatch.setattr(kavlan_core.switches, "driver_class", lambda name: LeakyDriver)
    monkeypatch.setattr(LeakyDriver, "fail_reads", False)
    settings = settings_for(tmp_path, demo_with_credentials(tmp_path / "demo.toml"))
    s = start(tmp_path / "server", settings, heartbeat=0.3)
    try:
        stream = _open_stream(s, "bob")
        node = "suno-1.sophia.grid5000.fr"
        moved = s.post_json(f"/sites/{SITE}/vlans/4/nodes?report=full", [node])
        assert moved.status == 200 and b"community='***'" in moved.body, moved.body[:500]
        lines = _read_lines(stream, until=lambda e: e.get("type") == "MoveFinished")
        assert any("community='***'" in e.get("error", "") for e in lines), lines
        LeakyDriver.fail_reads = True
        mapped = s.post_json(f"/sites/{SITE}/vlans/4/nodes", [node])
        drift = s.request("GET", f"/sites/{SITE}/kavlan/drift")
        assert b"no answer to community ***" in mapped.body
        # drift answers per switch: each unreadable one listed with its reason, scrubbed
        assert drift.status == 200 and b"no answer to community ***" in drift.body, drift.body[:500]
        lines += _read_lines(stream, until=lambda e: e.get("type") == "Heartbeat")
        text = moved.body + mapped.body + drift.body
        text += (json.dumps(lines) + s.audit_log.read_text() + s.access_log.read_text()).encode()
        assert SECRET.encode() not in text
    finally:
        s.stop()


def test_a_driver_error_outside_the_pool_is_scrubbed_too() -> None:
    from kavlan_core.scrub import scrubbed, secret_strings

    secrets = secret_strings({"community": SECRET, "version": "2c", "nested": {"key": ["k3y-material"]}})
    assert secrets == (SECRET, "k3y-material")
    exc = scrubbed(SwitchError("sw1", f"refused {SECRET} and k3y-material", ports=["1"]), secrets)
    assert str(exc) == "switch sw1: refused *** and ***" and exc.reason == "refused *** and ***"


# --- event streams -----------------------------------------------------------------------------------------


def _open_stream(s: InProcess, user: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    conn.request("GET", f"/sites/{SITE}/kavlan/events", headers={"Authorization": f"Basic {token}"})
    resp = conn.getresponse()
    if resp.status == 200:
        assert json.loads(resp.readline())["type"] == "Heartbeat"
    return resp


def _read_lines(resp: http.client.HTTPResponse, until: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not out or not until(out[-1]):
        out.append(json.loads(resp.readline()))
    return out


@pytest.fixture
def streams_server(tmp_path: Path) -> Iterator[InProcess]:
    """A server of its own: the corpus above may leave streams its client closed, which the module's server
    notices only at their next heartbeat."""
    inventory = demo_with_credentials(tmp_path / "demo.toml")
    s = start(
        tmp_path / "server",
        settings_for(tmp_path, inventory),
        limits=Limits(max_streams=3, max_streams_per_user=2),
    )
    try:
        yield s
    finally:
        s.stop()


def test_event_streams_are_bounded_and_show_the_sites_one_may_read(streams_server: InProcess) -> None:
    server = streams_server
    a1, a2 = _open_stream(server, "alice"), _open_stream(server, "alice")
    third = _open_stream(server, "alice")
    assert third.status == 429 and third.headers["Retry-After"]
    assert "the most a user may" in json.loads(third.read())["message"]
    bob = _open_stream(server, "bob")
    assert bob.status == 200
    full = _open_stream(server, "root")
    assert full.status == 503 and "most event streams" in json.loads(full.read())["message"]
    a2.close()
    time.sleep(0.2)  # the server sees the stream end at its next write: publish one
    server.call(_publish(server, events.DhcpChanged(site=SITE, vlan=4, state="off")))
    deadline = time.monotonic() + 10
    while (root := _open_stream(server, "root")).status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert root.status == 200
    server.call(_publish(server, events.DhcpChanged(site="lille", vlan=4, state="on")))
    server.call(_publish(server, events.DhcpChanged(site=SITE, vlan=5, state="on")))
    got = _read_lines(root, until=lambda e: e.get("type") == "DhcpChanged")
    assert [(e["site"], e["vlan"]) for e in got if e["type"] == "DhcpChanged"] == [(SITE, 5)]
    for r in (a1, bob, root):
        r.close()


async def _publish(server: InProcess, event: events.Event) -> None:
    """An event on the server's bus, from its own loop (as its service publishes them)."""
    server.service.events.publish(event)


# --- g5k-api's HEAD and paging ------------------------------------------------------------------------------


def test_every_get_answers_head(server: InProcess) -> None:
    for method, template, _ in ROUTES:
        if method != "GET" or template.endswith("/events"):
            continue
        path = template
        for name, value in VALID.items():
            path = path.replace("{" + name + "}", value)
        for root in ("", "/stable"):
            got = server.request("GET", root + path)
            head = server.request("HEAD", root + path)
            assert (head.status, head.body) == (got.status, b""), (root + path, got.status, head.status)
            assert head.headers.get("content-type") == got.headers.get("content-type")
    assert server.request("HEAD", f"/sites/{SITE}/kavlan/events").status == 200


def test_jobs_are_paged_as_g5k_api_pages_them(server: InProcess) -> None:
    path = f"/sites/{SITE}/jobs"
    made = [
        server.post_json(path, {"resources": "nodes=1", "name": f"j{i}"}, user="bob").json()["uid"]
        for i in range(55)
    ]
    try:
        first = server.request("GET", path + "?user=bob").json()
        assert first["total"] == 55 and first["offset"] == 0 and len(first["items"]) == 50
        assert [j["uid"] for j in first["items"]] == sorted(made, reverse=True)[:50]  # newest first
        assert len(server.request("GET", path + "?user=bob&limit=100000").json()["items"]) == 55
        rest = server.request("GET", path + "?user=bob&offset=50").json()
        assert (rest["offset"], [j["uid"] for j in rest["items"]]) == (50, sorted(made, reverse=True)[50:])
        assert server.request("GET", path + "?user=bob&offset=-5&limit=-1").json()["items"] == []
        bad = server.request("GET", path + "?limit=ten")
        assert bad.status == 400 and "limit" in _one_sentence(bad)
    finally:
        for uid in made:
            server.request("DELETE", f"{path}/{uid}", user="bob")


HISTORY = 5_000
"""Ended jobs in the store: what one user makes in half a minute (submit and delete, about 200 a second)."""


def test_a_long_history_of_jobs_is_paged_in_the_store(tmp_path: Path) -> None:
    """Any user can make thousands of jobs quickly: the listing reads its page and a count, never every job,
    so that it holds the loop no longer with a long history than with none."""
    inventory = demo_with_credentials(tmp_path / "demo.toml")
    server = start(tmp_path / "server", settings_for(tmp_path, inventory))
    try:

        async def history() -> None:
            with server.service.store.write() as tx:
                first = tx.next_job_id()
                for i in range(HISTORY):
                    ended = 1_000_000.0 + i
                    job = Job(
                        first + i,
                        "bob",
                        JobState.TERMINATED,
                        "",
                        (),
                        "nodes=1",
                        ended - 60,
                        ended - 60,
                        3600,
                        ended,
                        ("suno-1",),
                        (),
                    )
                    tx.insert_job(job)

        server.call(history(), timeout=120)
        path = f"/sites/{SITE}/jobs?state=all&limit=3"
        server.request("GET", path)  # warm
        with server.watch() as lag:
            reply = server.request("GET", path)
        assert reply.status == 200 and reply.json()["total"] == HISTORY
        uids = [j["uid"] for j in reply.json()["items"]]
        assert len(uids) == 3 and uids == sorted(uids, reverse=True), uids  # the newest first
        assert lag[1] < LAG_BOUND, (
            f"the listing held the loop {lag[1] * 1000:.1f} ms (wall {lag[0] * 1000:.1f})"
        )
    finally:
        server.stop()
