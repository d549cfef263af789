"""Remote mode: the real console scripts against a real ``kavlan-api serve`` give the outputs, exit codes and
refusals they give embedded, on the same testbed; the client follows long moves and the event stream."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from api_fixture import (
    PASSWORDS,
    ApiServer,
    api_certs,  # noqa: F401  (the session's CA, asked for by name below)
    start_server,
)
from test_tutorial import PART1

from conftest import small_inventory
from kavlan_core import config
from kavlan_core import events as ev
from kavlan_core.api.client import RemoteService
from kavlan_core.errors import BadInput, KavlanError, NotAllowed, Unavailable
from kavlan_core.interface import Service, connect
from kavlan_core.model import DEFAULT
from kavlan_core.service import KavlanService

pytestmark = pytest.mark.slow

ROUTED = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3"
SUNO = [f"suno-{i}.sophia.grid5000.fr" for i in (1, 2, 3)]


def clean_env(home: Path, user: str = "alice") -> dict[str, str]:
    """This test's processes: no KAVLAN_*/OAR_* of the caller, a data dir of their own, no config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(
        KAVLAN_DATA_DIR=str(home / "data"),
        KAVLAN_CONFIG=str(home / "no-config.toml"),
        KAVLAN_USER=user,
        KAVLAN_RETRY_BACKOFF="0.01",
        SHELL="/bin/bash",
    )
    return env


def remote_env(server: ApiServer, home: Path, user: str = "alice") -> dict[str, str]:
    cert, key = server.cert(user)
    return {
        **clean_env(home, user),
        "KAVLAN_API": server.url,
        "KAVLAN_CA_CERT": server.ca,
        "KAVLAN_CLIENT_CERT": cert,
        "KAVLAN_CLIENT_KEY": key,
    }


def sh(
    args: Sequence[str], env: dict[str, str], *, input: str | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    proc = subprocess.run(
        list(args), env=env, capture_output=True, text=True, input=input, cwd=cwd, timeout=120
    )
    return proc.returncode, proc.stdout, proc.stderr


DATES = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
REMAINING = re.compile(r"remaining = \S+|\d+:\d\d:\d\d left")


def normal(text: str) -> str:
    """What may differ between two runs a few seconds apart: dates and the time left."""
    return REMAINING.sub("TIME LEFT", DATES.sub("DATE", text))


# the tutorial's commands and the bad inputs, as (who, argv); the same list runs embedded and remote
FLOW: list[tuple[str, list[str]]] = [
    ("alice", ["kavlan-oarsub", "-l", ROUTED]),
    ("alice", ["kavlan", "-V", "-j", "1000"]),
    ("alice", ["kavlan", "-e", "-j", "1000"]),
    ("alice", ["kavlan", "-e", "-j", "1000"]),  # a second start is harmless
    ("alice", ["kavlan", "-s", "-j", "1000"]),
    ("alice", ["kavlan", "-g", "-j", "1000"]),
    ("alice", ["kavlan", "-l", "-j", "1000"]),
    ("alice", ["kavlan", "-s", "-j", "1000"]),  # unchanged: one line per node
    ("alice", ["kavlan", "-s", "-i", "DEFAULT", "-j", "1000", "--dry-run"]),
    ("alice", ["kavlan", "-s", "-i", "DEFAULT", "-m", SUNO[0], "-j", "1000", "--json"]),
    ("alice", ["kavlan", "-s", "-i", "4", "-m", "suno-1", "-m", "suno-2.sophia.grid5000.fr"]),
    ("bob", ["kavlan", "-s", "-i", "DEFAULT", "-m", SUNO[0]]),  # someone else's node: refused
    ("bob", ["kavlan", "-s", "-i", "4", "-m", "suno-9"]),  # nor may bob use alice's VLAN
    ("alice", ["kavlan", "-g", "-m", SUNO[0], "-m", "suno-9"]),  # the refusals changed nothing
    ("alice", ["kavlan", "-g", "-m", "nosuch-1"]),
    ("alice", ["kavlan", "-s", "-i", "4", "-m", "nosuch-1", "-m", "suno-1"]),
    ("alice", ["kavlan", "-s", "-i", "99", "-m", "suno-1"]),
    ("alice", ["kavlan", "-V", "-j", "4242"]),
    ("alice", ["kavlan", "-s", "-g", "-m", "suno-1"]),
    (
        "alice",
        ["kavlan-shell", "-c", "vlan; get; nodes; jobs; vlans; members 4; set DEFAULT suno-3; get suno-3"],
    ),
    ("alice", ["kavlan-shell", "-c", "set 99 suno-1; get"]),
    ("alice", ["kavlan-oarstat"]),
    ("alice", ["kavlan-oarstat", "-s", "-j", "1000"]),
    ("alice", ["kavlan-oarstat", "-f", "-j", "1000"]),
    ("alice", ["kavlan-kadeploy3", "-e", "debian12-min", "-m", "suno-1", "-m", SUNO[1], "--vlan", "4"]),
    ("bob", ["kavlan-kadeploy3", "-e", "debian12-min", "-m", SUNO[0], "--vlan", "4"]),  # not bob's nodes
    ("bob", ["kavlan-oardel", "1000"]),  # not bob's job
    ("alice", ["kavlan", "-d", "-j", "1000"]),
    ("alice", ["kavlan-oardel", "1000"]),
    ("alice", ["kavlan", "-g", "-m", SUNO[0], "-m", SUNO[1]]),  # back in DEFAULT with the job's end
    ("alice", ["kavlan-oardel", "1000"]),
    ("alice", ["kavlan", "-V", "-j", "1000"]),
    ("alice", ["kavlan-oarstat", "-s", "-a"]),
]


def run_flow(env_of: Any) -> list[tuple[str, int, str, str]]:
    out = []
    for user, argv in FLOW:
        rc, stdout, stderr = sh(
            argv, {**env_of(user), "OAR_JOB_ID": "1000"} if argv[0] == "kavlan-shell" else env_of(user)
        )
        out.append((" ".join(argv), rc, normal(stdout), normal(stderr)))
    return out


@pytest.fixture
def certs(request: pytest.FixtureRequest) -> Path:
    """api_fixture's certificates (CA, server, alice, bob, carol, root)."""
    return Path(request.getfixturevalue("api_certs"))


@pytest.fixture
def server(certs: Path, tmp_path: Path) -> Any:
    srv = start_server(tmp_path / "server", certs)
    try:
        yield srv
    finally:
        srv.stop()


def test_the_tutorial_and_the_bad_inputs_answer_as_embedded(server: ApiServer, tmp_path: Path) -> None:
    inventory = str(server.workdir / "demo-with-credentials.toml")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two data dirs: the runs are independent
        embedded_run = pool.submit(
            run_flow, lambda user: {**clean_env(tmp_path / "embedded", user), "KAVLAN_INVENTORY": inventory}
        )
        remote_run = pool.submit(run_flow, lambda user: remote_env(server, tmp_path / "remote", user))
        embedded, remote = embedded_run.result(), remote_run.result()
    for e, r in zip(embedded, remote, strict=True):
        assert r == e, f"{e[0]}: remote mode differs"
    got: dict[str, tuple[int, str, str]] = {}
    for argv, rc, out, err in remote:
        got.setdefault(argv, (rc, out, err))  # the first time each command ran
    # and the answers are the tutorial's
    assert got["kavlan -V -j 1000"][:2] == (0, "4\n")
    assert got["kavlan -g -j 1000"][1] == "".join(f"{n}: 4\n" for n in SUNO)
    assert got[f"kavlan -s -i DEFAULT -m {SUNO[0]}"][0] == 1
    assert "Not enough privileges on Kavlan resources" in got[f"kavlan -s -i DEFAULT -m {SUNO[0]}"][2]
    assert (
        got[f"kavlan -g -m {SUNO[0]} -m suno-9"][1] == f"{SUNO[0]}: 4\nsuno-9.sophia.grid5000.fr: DEFAULT\n"
    )
    assert got["kavlan -g -m nosuch-1"] == (
        1,
        "",
        "kavlan: unknown node 'nosuch-1': no such node in the testbed\n",
    )
    assert got["kavlan -s -i 99 -m suno-1"][0] == 1 and "out of range" in got["kavlan -s -i 99 -m suno-1"][2]
    assert "does not exist" in got["kavlan -V -j 4242"][2]
    deployed = got[f"kavlan-kadeploy3 -e debian12-min -m suno-1 -m {SUNO[1]} --vlan 4"]
    assert deployed[0] == 0 and "The deployment is successful on nodes\nsuno-1-kavlan-4.sophia" in deployed[1]
    refused = got[f"kavlan-kadeploy3 -e debian12-min -m {SUNO[0]} --vlan 4"]
    assert refused[0] == 1 and "Not enough privileges" in refused[2]
    # every change went through the server, as the users who asked
    audit = [json.loads(line) for line in server.audit_log.read_text().splitlines()]
    assert {(a["who"], a["what"]) for a in audit} >= {
        ("alice", "job.submit"),
        ("alice", "vlan.set"),
        ("alice", "dhcp.start"),
        ("alice", "job.delete"),
        ("alice", "deploy"),
    }
    assert not any(
        a["who"] == "bob" and a["what"] == "vlan.set" and a["result"].get("status") == 200 for a in audit
    )


def test_the_tutorials_first_part_in_the_jobs_shell(server: ApiServer, tmp_path: Path) -> None:
    """``kavlan-oarsub -I``: the job's shell, its nodefile and every kavlan command in it, remote as embedded;
    the API options given on oarsub's command line reach the commands run in the job's shell."""
    inventory = str(server.workdir / "demo-with-credentials.toml")
    cert, key = server.cert("alice")
    runs = {}
    for mode, env, options in (
        ("embedded", {**clean_env(tmp_path / "e"), "KAVLAN_INVENTORY": inventory}, []),
        (
            "remote",
            clean_env(tmp_path / "r"),
            ["--api", server.url, "--ca-cert", server.ca, "--client-cert", cert, "--client-key", key],
        ),
    ):
        (tmp_path / mode).mkdir()
        rc, out, err = sh(
            ["kavlan-oarsub", *options, "-t", "deploy", "-l", ROUTED, "-I"],
            env,
            input=PART1,
            cwd=tmp_path / mode,
        )
        assert rc == 0, out + err
        runs[mode] = (out, normal(err))
        assert (tmp_path / mode / "nodefile").read_text() == "".join(
            n.replace(".sophia", "-kavlan-4.sophia") + "\n" for n in SUNO
        )
    assert runs["remote"] == runs["embedded"]
    assert "SET_RC=0" in runs["remote"][0] and "BACK suno-1.sophia.grid5000.fr: DEFAULT" in runs["remote"][0]


def test_command_line_options_and_a_password_instead_of_a_certificate(
    server: ApiServer, tmp_path: Path
) -> None:
    cert, key = server.cert("alice")
    env = clean_env(tmp_path)
    rc, out, err = sh(
        [
            "kavlan-oarsub",
            "--api",
            server.url,
            "--ca-cert",
            server.ca,
            "--client-cert",
            cert,
            "--client-key",
            key,
            "-l",
            ROUTED,
        ],
        env,
    )
    assert (rc, out) == (0, "OAR_JOB_ID=1000\n"), err
    options = ["--api", server.url, "-C", server.ca, "-c", cert, "-k", key]
    assert sh(["kavlan", *options, "-s", "-j", "1000"], env)[:2] == (0, "")
    assert sh(["kavlan", *options, "-g", "-m", SUNO[0]], env)[1] == f"{SUNO[0]}: 4\n"
    # HTTP Basic with the users file's password: the same user, the same answers
    basic = {
        **env,
        "KAVLAN_API": server.url,
        "KAVLAN_CA_CERT": server.ca,
        "KAVLAN_API_PASSWORD": PASSWORDS["alice"],
    }
    assert sh(["kavlan", "-g", "-m", SUNO[0]], basic)[1] == f"{SUNO[0]}: 4\n"
    assert sh(["kavlan-shell", "-c", "whoami"], basic)[1].splitlines()[::2] == [
        "user alice, site sophia, job -",
        f"API server: {server.url}",
    ]
    assert sh(["kavlan", "-s", "-i", "DEFAULT", "-j", "1000"], basic)[:2] == (0, "")
    # a wrong password, no CA, no server: one sentence, exit status 1
    rc, out, err = sh(["kavlan", "-g", "-m", "suno-1"], {**basic, "KAVLAN_API_PASSWORD": "wrong"})
    assert (rc, out) == (1, "") and err.startswith(
        f"kavlan: the KaVLAN API server {server.url} did not accept who you are"
    )
    rc, _, err = sh(["kavlan", "-g", "-m", "suno-1", "--api", server.url, "-c", cert, "-k", key], env)
    assert rc == 1 and "certificate this client does not trust" in err and "-C/--ca-cert" in err
    rc, _, err = sh(["kavlan-oarstat", "--api", "https://127.0.0.1:9", "--ca-cert", server.ca], env)
    assert rc == 1 and err.startswith(
        "kavlan-oarstat: cannot reach the KaVLAN API server https://127.0.0.1:9"
    )
    assert sh(["kavlan", "--help"], env)[1].count("-C, --ca-cert CA                 CA certificate") == 1


def remote_settings(server: ApiServer, home: Path, user: str = "alice", **kw: Any) -> config.Settings:
    cert, key = server.cert(user)
    return config.load(
        env=clean_env(home, user), api=server.url, ca_cert=server.ca, client_cert=cert, client_key=key, **kw
    )


def test_connect_chooses_the_mode_and_both_speak_the_interface(server: ApiServer, tmp_path: Path) -> None:
    async def go() -> None:
        embedded = await connect(config.load(env=clean_env(tmp_path / "e")))
        remote = await connect(remote_settings(server, tmp_path / "r"))
        try:
            assert isinstance(embedded, KavlanService) and isinstance(remote, RemoteService)
            for svc in (embedded, remote):
                assert isinstance(svc, Service)
            assert remote.user == "alice" and remote.site == "sophia"
            assert remote.describe() == f"API server: {server.url}"
            assert embedded.describe().startswith("database: sqlite:///")
            assert remote.dhcp_kind("sophia") == embedded.dhcp_kind("sophia") == "simulated"
            assert list(remote.inventory.nodes) == list(embedded.inventory.nodes)
            # the same exceptions, with the same sentences
            for call in (
                lambda s: s.set_vlan(["suno-1"], 99),
                lambda s: s.vlan_of(["nosuch-1"]),
                lambda s: s.job(4242),
                lambda s: s.set_vlan(["suno-1"], 4),
                lambda s: s.vlans("atlantis"),
            ):
                errors = []
                for svc in (embedded, remote):
                    with pytest.raises(KavlanError) as caught:
                        await call(svc)
                    errors.append((type(caught.value), str(caught.value)))
                assert errors[0] == errors[1]
            with pytest.raises(NotAllowed) as refused:
                await remote.set_vlan(["suno-1"], 4)
            assert refused.value.refusals == [
                ("suno-1.sophia.grid5000.fr", "suno-1 is not in a running job of alice")
            ]
            with pytest.raises(BadInput):
                remote.ssh_target("suno-1", DEFAULT)  # a simulated node: refused before any request
        finally:
            await embedded.close()
            await remote.close()

    asyncio.run(go())


def test_a_long_move_is_followed_to_its_end(certs: Path, tmp_path: Path) -> None:
    """A move longer than the server's bound answers 202 and a location; the client polls it to the report."""
    inv = small_inventory(tmp_path / "small.toml", {"sw1": {"latency_ms": 400}})
    srv = start_server(tmp_path / "server", certs, inventory=inv, args=["--move-wait", "0.1"])
    try:

        async def go() -> None:
            svc = await RemoteService.open(remote_settings(srv, tmp_path / "c"))
            try:
                job = await svc.submit("{\"type='kavlan'\"}/vlan=1+/nodes=2")
                vlan = job.vlans[0].vlan
                report = await svc.set_vlan(list(job.nodes), vlan)
                assert [r.status for r in report.results] == ["success", "success"]
                assert [t.switch for t in report.switches] == ["sw1"]
                assert [v for _n, v in await svc.vlan_of(list(job.nodes))] == [vlan, vlan]
            finally:
                await svc.close()

        asyncio.run(go())
        polls = [json.loads(line) for line in srv.access_log.read_text().splitlines()]
        assert any(p["path"] == "/sites/sophia/vlans/4/nodes" and p["status"] == 202 for p in polls)
        assert any(p["path"].startswith("/sites/sophia/kavlan/moves/") and p["status"] == 200 for p in polls)
    finally:
        srv.stop()


def test_the_event_stream_starts_with_a_subscriber_and_comes_back_after_a_restart(
    certs: Path, tmp_path: Path
) -> None:
    inv = small_inventory(tmp_path / "small.toml")
    data = {"KAVLAN_DATA_DIR": str(tmp_path / "shared-data")}
    srv = start_server(tmp_path / "server", certs, inventory=inv, env=data)
    port = srv.url.rsplit(":", 1)[1]

    async def next_move(queue: asyncio.Queue[ev.Event], node: str) -> ev.NodeMoved:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            event = await asyncio.wait_for(queue.get(), deadline - time.monotonic())
            if isinstance(event, ev.NodeMoved) and event.node == node:
                return event
        raise AssertionError(f"no NodeMoved of {node}")

    async def go() -> None:
        nonlocal srv
        svc = await RemoteService.open(remote_settings(srv, tmp_path / "c"))
        other = await RemoteService.open(remote_settings(srv, tmp_path / "c2"))
        try:
            assert not svc.streams.running  # nobody listens yet: no stream
            queue = svc.events.queue()
            job = await other.submit("{\"type='kavlan'\"}/vlan=1+/nodes=2")
            first, second = (f"{n}.sophia.grid5000.fr" for n in job.nodes)
            await svc.streams.ready()
            await other.set_vlan([first], job.vlans[0].vlan)  # another client's move, seen through the stream
            assert (await next_move(queue, first)).new == job.vlans[0].vlan
            srv.stop()
            srv = start_server(
                tmp_path / "server2",
                certs,
                inventory=inv,
                env=data,
                args=["--listen", f"127.0.0.1:{port}"],
            )
            # the backoff is at most 5 s
            await asyncio.wait_for(svc.streams.connects.reach(2), 15)
            await other.set_vlan([second], job.vlans[0].vlan)
            assert (await next_move(queue, second)).new == job.vlans[0].vlan
        finally:
            await svc.close()
            await other.close()
        assert not svc.streams.running

    try:
        asyncio.run(go())
    finally:
        srv.stop()


def test_unreachable_and_unconfigured_servers_are_one_sentence(tmp_path: Path) -> None:
    async def go() -> None:
        with pytest.raises(Unavailable, match="cannot reach the KaVLAN API server https://127.0.0.1:9"):
            await RemoteService.open(
                config.load(env=clean_env(tmp_path), api="https://127.0.0.1:9", api_timeout=5)
            )
        with pytest.raises(BadInput, match="cannot read the CA certificate"):
            await RemoteService.open(
                config.load(
                    env=clean_env(tmp_path), api="https://127.0.0.1:9", ca_cert=str(tmp_path / "none.pem")
                )
            )
        with pytest.raises(BadInput, match="remote mode needs an API server"):
            await RemoteService.open(config.load(env=clean_env(tmp_path)))
        embedded = await connect(config.load(env=clean_env(tmp_path)))
        assert isinstance(embedded, KavlanService)
        await embedded.close()

    asyncio.run(go())


def test_the_tui_opens_its_service_in_its_own_loop(server: ApiServer, tmp_path: Path) -> None:
    """Made without a service, the app opens one when it mounts (remote: after the server answered), closes it
    when it ends; a server that cannot be reached ends the app at once with the sentence ``main`` prints."""
    from test_tui import SIZE, until

    from kavlan_tui.app import KavlanApp

    async def go() -> None:
        app = KavlanApp(settings=remote_settings(server, tmp_path / "tui"), poll_interval=0)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.board is not None)
            assert isinstance(app.service, RemoteService) and app.board.user == "alice"
            opened = app.service
        assert opened.transport.sessions == {}  # closed with the app
        down = config.load(env=clean_env(tmp_path / "down"), api="https://127.0.0.1:9", api_timeout=5)
        app = KavlanApp(settings=down, poll_interval=0)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
        assert isinstance(app.open_error, Unavailable) and app.return_code == 1
        assert "cannot reach the KaVLAN API server https://127.0.0.1:9" in str(app.open_error)

    asyncio.run(go())


def test_monitoring_reads_answer_as_embedded(server: ApiServer, tmp_path: Path) -> None:
    """ports, fdb and the isolation check over the API: the same reports as embedded on the same testbed (the
    demo), and the same sentence for bad input."""

    async def go() -> None:
        embedded = await connect(config.load(env=clean_env(tmp_path / "e")))
        remote = await connect(remote_settings(server, tmp_path / "r"))
        try:
            for svc in (embedded, remote):
                loads = await svc.port_loads(["suno-1", "suno-2"], interval=0.2)
                assert [(x.node, x.up) for x in loads.loads] == [("suno-1", True), ("suno-2", True)]
                assert all(x.in_rate and x.in_rate > 0 for x in loads.loads)
            fdbs = [await svc.fdb(4) for svc in (embedded, remote)]
            assert fdbs[0] == fdbs[1]
            checks = [await svc.check_isolation(vlan=4) for svc in (embedded, remote)]
            assert checks[0] == checks[1] and checks[0].clean and checks[0].scope == "VLAN 4"
            site = [await svc.check_isolation() for svc in (embedded, remote)]
            assert site[0] == site[1] and site[0].macs > 100
            errors = []
            for svc in (embedded, remote):
                with pytest.raises(KavlanError) as caught:
                    await svc.port_loads(["nosuch-1"])
                errors.append((type(caught.value), str(caught.value)))
            assert errors[0] == errors[1]
        finally:
            await embedded.close()
            await remote.close()

    asyncio.run(asyncio.wait_for(go(), 120))


def test_unavailable_nodes_are_listed_and_cleared_through_the_api(server: ApiServer, tmp_path: Path) -> None:
    """A node a job's end could not bring back: its reason in kavlan-oarstat and in the API's list, readable by
    anyone; cleared by an administrator only (kavlan-oarnodesetting), as embedded."""
    reason = "not back after the end of job 1000: does not answer in DEFAULT after two network restarts"
    marker = config.load(env={**server.env, "KAVLAN_USER": "root"})
    embedded = KavlanService(marker)  # the server's own store: as the server's end would have marked it
    try:
        with embedded.store.write() as tx:
            tx.mark_unavailable("suno-2", reason, time.time(), 1000)
    finally:
        asyncio.run(embedded.close())
    alice, root = remote_env(server, tmp_path / "a"), remote_env(server, tmp_path / "r", "root")

    rc, out, err = sh(["kavlan-oarstat"], alice)
    assert rc == 0, err
    assert f"suno-2: {reason}" in out.splitlines(), out
    listed = server.get("alice", "/sites/sophia/kavlan/unavailable")
    assert listed.json() == {"items": [{"node": "suno-2", "reason": reason}], "total": 1}

    rc, out, err = sh(["kavlan-oarnodesetting", "-s", "Alive", "-h", "suno-2"], alice)
    assert rc != 0 and "only an administrator" in err and "Traceback" not in err, (rc, err)
    rc, out, err = sh(["kavlan-oarstat"], alice)
    assert "suno-2: " in out, "the refusal changed nothing"

    rc, out, err = sh(["kavlan-oarnodesetting", "-s", "Alive", "-h", "suno-2.sophia.grid5000.fr"], root)
    assert (rc, out) == (0, "suno-2.sophia.grid5000.fr: Alive\n"), err
    rc, out, err = sh(["kavlan-oarnodesetting", "-s", "Alive", "-h", "suno-2"], root)
    assert (rc, out) == (0, "suno-2: Alive (it was not marked unavailable)\n"), err
    rc, out, err = sh(["kavlan-oarstat"], alice)
    assert rc == 0 and "Unavailable nodes" not in out, out
    unknown = server.delete("root", "/sites/sophia/kavlan/unavailable/nosuch-1")
    assert unknown.status_code == 404 and "unknown node" in unknown.text, unknown.text
    audit = server.audit_log.read_text()
    assert '"what": "node.available"' in audit, audit[-500:]


def test_the_api_refuses_to_move_real_nodes_into_a_vlan_without_dhcp(certs: Path, tmp_path: Path) -> None:
    """A raw API client, not only this project's faces: real nodes into a VLAN whose DHCP server is off is a 409
    with the reason, before any switch is touched; ``?dhcp_check=false`` is the way to go ahead."""
    inv = small_inventory(tmp_path / "real.toml")
    text = inv.read_text().replace("default_subnet", "reachable_nodes = true\ndefault_subnet", 1)
    text = re.sub(
        r'name = "sw1"\ndriver = "simulated"\noptions = \{[^}]*\}',
        'name = "sw1"\ndriver = "linux_bridge"\noptions = { netns = "kavlan-test-no-such-netns" }',
        text,
        count=1,
    )
    inv.write_text(text)
    srv = start_server(tmp_path / "server", certs, inventory=inv)
    try:
        body = {"resources": "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2"}
        job = srv.post("alice", "/sites/sophia/jobs", body)
        assert job.status_code in (200, 201), job.text
        vid = job.json()["resources_by_type"]["vlans"][0]
        nodes = job.json()["assigned_nodes"]
        assert any(n.startswith(("suno-1.", "suno-2.")) for n in nodes), nodes
        refused = srv.post("alice", f"/sites/sophia/vlans/{vid}/nodes", nodes)
        assert refused.status_code == 409, refused.text
        assert f"VLAN {vid}'s DHCP server is off" in refused.text and "reachable by nobody" in refused.text
        placed = srv.post("alice", "/sites/sophia/vlans/nodes", nodes).json()
        assert {item["vlan"] for item in placed["items"]} == {"DEFAULT"}, "nothing moved"
    finally:
        srv.stop()
