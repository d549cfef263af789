"""kavlan-shell: completion, the non-interactive mode through a subprocess, the REPL through a pipe input."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kavlan_core import config
from kavlan_core.service import KavlanService
from kavlan_tui.commands import Context
from kavlan_tui.shell import Shell, make_completer, split_commands

USER = "shelltester"
REQUEST = "{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=2"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Keep every run in a tmp dir: no user config, no real data dir, no inherited job."""
    for var in ("OAR_JOB_ID", "KAVLAN_SITE", "KAVLAN_INVENTORY", "KAVLAN_DATABASE", "KAVLAN_ADMINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAVLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAVLAN_CONFIG", str(tmp_path / "no-such-config.toml"))
    monkeypatch.setenv("KAVLAN_USER", USER)
    return dict(os.environ)


Lines = list[tuple[str, str]]


def with_shell(body: Callable[[Shell, Lines], Awaitable[Any]], **kwargs: Any) -> tuple[Any, Lines]:
    """Run ``body`` with a Shell on a fresh service, in one event loop; returns its result and what it printed."""
    printed: Lines = []

    async def go() -> Any:
        service = KavlanService(config.load())
        try:
            shell = Shell(
                Context(service),
                printer=lambda line, err: printed.append(("err" if err else "out", line)),
                **kwargs,
            )
            return await body(shell, printed)
        finally:
            await service.close()

    return asyncio.run(go()), printed


def texts(shell: Shell, text: str) -> list[str]:
    return [c.text for c in make_completer(shell).get_completions(Document(text), CompleteEvent())]


# --- completion ---------------------------------------------------------------------------------


def test_split_commands_keeps_quoted_semicolons() -> None:
    assert split_commands("whoami ; get suno-1;;") == ["whoami", "get suno-1"]
    assert split_commands("reserve 'a;b'; jobs") == ["reserve 'a;b'", "jobs"]


def test_completer_commands_nodes_vlans_flags_choices(env: dict[str, str]) -> None:
    async def body(shell: Shell, _: Lines) -> None:
        assert "set" in texts(shell, "")
        assert texts(shell, "re") == ["release", "reserve"]
        assert texts(shell, "mo") == ["move"]  # an alias
        assert texts(shell, "he") == ["help"]
        assert texts(shell, "help se") == ["set", "set-safe"]

        vlans = texts(shell, "set ")
        assert vlans[:4] == ["DEFAULT", "1", "2", "3"] and "9" in vlans
        assert {"11", "12", "18"} <= set(vlans)  # the inventory's global VLANs
        assert texts(shell, "set def") == ["DEFAULT"]

        nodes = texts(shell, "set 4 ")
        inv = shell.service.inventory
        assert {inv.nodes[n].site for n in nodes[:50]} == {"sophia"}  # this site's nodes first
        assert texts(shell, "set 4 su")[:3] == ["suno-1", "suno-2", "suno-3"]  # in natural order
        assert len(nodes) >= len(shell.service.inventory.nodes)
        assert texts(shell, "set 4 suno-1")[:2] == ["suno-1", "suno-10"]
        assert "suno-1" not in texts(shell, "set 4 suno-1 suno-")  # already on the line
        assert texts(shell, "get suno-2.")[0] == "suno-2.sophia.grid5000.fr"  # FQDN forms once a dot is typed

        assert texts(shell, "set 4 suno-1 --") == ["--dry-run", "--no-dhcp-check"]
        assert texts(shell, "set 4 suno-1 --dry-run --") == ["--no-dhcp-check"]
        assert texts(shell, "set 4 suno-1 --dry-run --no-dhcp-check --") == []
        assert texts(shell, "dhcp ") == ["on", "off"]
        assert texts(shell, "vlans ") == ["sophia", "lille", "lyon"]
        assert texts(shell, "whoami ; get suno-3")[0] == "suno-3"
        assert texts(shell, "whoami ") == []
        assert texts(shell, "nosuch ") == []
        assert any("cluster='suno'" in t for t in texts(shell, "reserve "))

    with_shell(body)


def test_completer_job_ids_are_read_and_cached(env: dict[str, str]) -> None:
    async def body(shell: Shell, _: Lines) -> None:
        assert texts(shell, "use ") == []  # nothing read yet: the sync path never touches the store
        assert await shell.execute(f"reserve {REQUEST}")
        job = shell.ctx.job_id
        completer = make_completer(shell)
        got = [c async for c in completer.get_completions_async(Document("use "), CompleteEvent())]
        assert [c.text for c in got] == [str(job)]
        assert "2 node(s)" in str(got[0].display_meta)
        # cached: a second job is not seen until the cache expires (or a command runs in live mode)
        await shell.service.submit("nodes=1")
        assert texts(shell, "release ") == [str(job)]
        shell.live = True
        assert await shell.execute("whoami")
        assert len(texts(shell, "release ")) == 2
        # the current job's nodes come first when completing node names
        nodes = {n for j in shell.jobs if j.id == job for n in j.nodes}
        assert set(texts(shell, "set 4 ")[:2]) == nodes

    with_shell(body)


# --- non-interactive mode -------------------------------------------------------------------------


def shell_command() -> list[str]:
    script = Path(sys.executable).parent / "kavlan-shell"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kavlan_tui.shell"]


def run_shell(env: dict[str, str], stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shell_command(), *args], input=stdin, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.slow
def test_batch_session_reserve_move_release(env: dict[str, str]) -> None:
    script = f"reserve {REQUEST}\nvlan\n# a comment\n\nset $VLAN\nget\njobs\n"
    first = run_shell(env, script.replace("$VLAN", "DEFAULT"))
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    job = int(re.search(r"OAR_JOB_ID=(\d+)", first.stdout).group(1))  # type: ignore[union-attr]
    vlan = first.stdout.splitlines()[2]
    assert vlan.isdigit()
    assert re.search(rf"^{job}\s+{USER}\s", first.stdout, re.M)

    # a second process sees the same store; OAR_JOB_ID makes the job current, as inside oarsub -I
    second = run_shell(env | {"OAR_JOB_ID": str(job)}, f"vlan\nset {vlan}\nget\nrelease\njobs\n")
    assert second.returncode == 0, second.stderr
    out = second.stdout.splitlines()
    assert out[0] == vlan
    assert [line.split(": ")[1] for line in out[1:3]] == [vlan, vlan]
    assert out[3] == f"job {job} deleted: its nodes are back in DEFAULT"
    assert out[4] == f"no running job of {USER}"


@pytest.mark.slow
def test_batch_error_is_one_line_and_the_shell_goes_on(env: dict[str, str]) -> None:
    res = run_shell(env, "get nosuch-1\nget suno-1\n")
    assert res.returncode == 1
    assert res.stderr.splitlines() == ["error: unknown node 'nosuch-1': no such node in the testbed"]
    assert res.stdout.splitlines() == ["suno-1.sophia.grid5000.fr: DEFAULT"]

    ok = run_shell(env, "", "-c", "whoami; help set")
    assert ok.returncode == 0 and ok.stdout.startswith(f"user {USER}, site sophia, job -")
    assert "usage: set VLAN [NODES...] [--dry-run]" in ok.stdout

    failed = run_shell(env, "", "-c", "vlan; exit; whoami")  # no job: vlan fails; exit stops
    assert failed.returncode == 1
    assert failed.stdout == "" and failed.stderr.startswith("error: no job")


# --- interactive mode ---------------------------------------------------------------------------


def run_interactive(
    keys: Callable[[], str], prepare: Callable[[Shell], Awaitable[None]] | None = None
) -> tuple[Shell, Lines]:
    """Type ``keys()`` (computed after ``prepare``) into the REPL through a pipe; nothing is drawn."""
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    async def body(shell: Shell, _: Lines) -> Shell:
        if prepare is not None:
            await prepare(shell)
        with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
            inp.send_text(keys())
            assert await asyncio.wait_for(shell.interact(), 10) == 0
        return shell

    return with_shell(body)  # type: ignore[no-any-return]


def test_interactive_runs_commands_prints_events_and_exits(env: dict[str, str]) -> None:
    vlan: list[int] = []

    async def prepare(shell: Shell) -> None:
        job = await shell.service.submit(REQUEST)
        shell.ctx.job_id = job.id
        vlan.append(job.vlans[0].vlan)

    # Ctrl-C (\x03) drops the line typed so far; nothing after exit runs
    shell, printed = run_interactive(
        lambda: f"whoami\nnot-run\x03set {vlan[0]}\nget\nnosuch\nexit\nwhoami\n", prepare
    )
    out = [line for kind, line in printed if kind == "out"]
    err = [line for kind, line in printed if kind == "err"]
    job = shell.ctx.job_id
    assert out[0].startswith("kavlan-shell ") and f"job {job}" in out[0]
    assert out[1] == f"user {USER}, site sophia, job {job}"
    assert sum(1 for line in out if line.startswith("user ")) == 1  # nothing after exit ran
    assert any(re.search(r"^\[\d\d:\d\d:\d\d\] switch \S+: apply 2 port\(s\) done in", line) for line in out)
    assert any(re.search(rf"move into VLAN {vlan[0]}: 2 moved, 0 unchanged, 0 failed", line) for line in out)
    assert sum(1 for line in out if line.endswith(f": {vlan[0]}")) == 2
    assert err == ["error: unknown command 'nosuch': type 'help' for the list"]  # Ctrl-C dropped 'not-run'
    assert shell.done
    bar = "".join(text for _style, text in shell.toolbar())
    assert f"{USER}@sophia" in bar and f"job {job}:" in bar and f"VLAN {vlan[0]}" in bar and "left" in bar
    history = (Path(env["KAVLAN_DATA_DIR"]) / "shell_history").read_text()
    assert "whoami" in history and "not-run" not in history


def test_interactive_ctrl_d_leaves(env: dict[str, str]) -> None:
    shell, printed = run_interactive(lambda: "help\n\x04")
    out = "\n".join(line for _kind, line in printed)
    assert "set VLAN [NODES...] [--dry-run]" in out and "exit, quit" in out
    assert "no current job" in "".join(text for _style, text in shell.toolbar())


def test_node_patterns_in_the_shell(env: dict[str, str]) -> None:
    async def body(shell: Shell, printed: Lines) -> bool:
        return await shell.execute("get suno-[1-2] suno-4*; get suno-[1-")

    ok, printed = with_shell(body)
    assert not ok
    outs = [line.split(".")[0] for kind, line in printed if kind == "out"]
    assert outs == ["suno-1", "suno-2", "suno-4", *(f"suno-{n}" for n in range(40, 46))]
    assert [line for kind, line in printed if kind == "err"] == [
        "error: 'suno-[1-': a range opens with [ and does not close"
    ]
