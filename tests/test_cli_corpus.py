"""A hypothesis corpus over every console script's command line (and nodefile bytes): kavlan, kavlan-shell -c,
kavlan-oarsub, kavlan-oarstat, kavlan-oardel, kavlan-dhcp-config, kavlan-lab (as a user: its non-root paths) and
kavlan-api's argument parsing. Whatever the words: no traceback, an exit status the command documents, a refusal
said on stderr, and nothing changed (the store, files written) unless the command succeeded.

Each command runs in this process, as its console script calls it (bounded: tens of milliseconds each), on the
demo testbed in a data dir of its own; a sample runs as real console scripts. The words come from each command's
options, with values valid and hostile; nothing reaches beyond loopback (API URLs are 127.0.0.1's closed port)
and nothing is written outside the test's directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

from kavlan_tui import cli, dhcpconf, lab, oar, shell

EXAMPLES = 80
"""Command lines per console script (in process)."""
STATUSES = {0, 1, 2}
"""What the console scripts document: success, a refusal (one sentence), a command line argparse refuses."""

SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@dataclass
class Run:
    status: int
    out: str
    err: str


def invoke(main: Callable[[Sequence[str]], int], argv: Sequence[str], stdin: str = "") -> Run:
    """``main(argv)`` as its console script runs it; anything but SystemExit escaping is a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _stdin(stdin):
        try:
            status = main(list(argv))
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Run(status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def snapshot(data: Path, *dirs: Path) -> Any:
    """What a command may change: every table of the store but its audit trail, and the files under ``dirs``."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    db = data / "kavlan.db"
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for name in names:
                if name not in ("audit", "meta"):
                    tables[name] = sorted(map(tuple, conn.execute(f'SELECT * FROM "{name}"')), key=repr)
    files = {str(p): p.read_bytes() for d in dirs if d.exists() for p in sorted(d.rglob("*")) if p.is_file()}
    return tables, files


def judge(prog: str, run: Run, before: Any, after: Any, statuses: set[int] = STATUSES) -> None:
    assert run.status in statuses, (prog, run)
    assert "Traceback" not in run.err and "internal error" not in run.err, (prog, run.err)
    if run.status == 2:  # argparse's refusal: one line, whatever words it quotes
        assert len(run.err.strip().splitlines()) == 1, (prog, run.err)
    if run.status != 0:
        assert before == after, (prog, "changed something and failed", run)
        assert run.err.strip(), (prog, "failed without a word", run)


@pytest.fixture
def place(kenv: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo testbed in this test's data dir, with a running job of alice's (1000) and one of bob's (1001)."""
    monkeypatch.chdir(tmp_path)
    for user in ("alice", "bob"):
        monkeypatch.setenv("KAVLAN_USER", user)
        assert invoke(oar.oarsub_main, ["-l", "{\"type='kavlan'\"}/vlan=1+/nodes=2"]).status == 0
    monkeypatch.setenv("KAVLAN_USER", "alice")
    return Path(kenv["KAVLAN_DATA_DIR"])


# --- words ---------------------------------------------------------------------------------------------------

SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0;"), max_size=30
)
"""Hostile words: any text an argv can carry (no NUL; no ';', which would make two shell commands)."""
SURROGATE = st.binary(min_size=1, max_size=8).filter(lambda b: b"\0" not in b).map(os.fsdecode)
"""What a command line that is not UTF-8 becomes in Python (surrogate escapes)."""
VLANS = st.sampled_from(
    ["4", "DEFAULT", "default", "0", "22", "18", "11", "four", "\u00b2", "9" * 30, "", "-1"]
)
JOBS = st.sampled_from(["1000", "1001", "9999", "0", "x", "\u00b2", "9" * 5000, "", "-3"])
NODES = st.sampled_from(
    [
        "suno-1",
        "suno-2.sophia.grid5000.fr",
        "nosuch-1",
        "chetemi-1.lille.grid5000.fr",
        "suno-1;reboot",
        "",
        "-",
    ]
)
USERS = st.sampled_from(["alice", "bob", "root", "bad name", "", "a" * 100])
SITES = st.sampled_from(["sophia", "lille", "atlantis", ""])
APIS = st.sampled_from(["http://127.0.0.1:9", "https://127.0.0.1:9", "127.0.0.1:9", "not a url", ""])
"""Remote mode, never beyond loopback: 127.0.0.1's port 9 refuses connections."""
HOSTILE = st.one_of(SAFE_TEXT, SURROGATE)


def words(
    options: dict[str, Any], flags: Sequence[str], lead: Sequence[str] = ()
) -> st.SearchStrategy[list[str]]:
    """A command line: a leading word (an action) most of the time, then options with values (three valid for
    one hostile), flags, and now and then a stray word; any order. Most lines get past the parser, so that the
    commands' own checks are what is tried."""
    value = {o: st.one_of(v, v, v, HOSTILE) for o, v in options.items()}
    option = st.sampled_from(list(options)).flatmap(lambda o: value[o].map(lambda v: [o, v]))
    one = st.one_of(st.sampled_from(list(flags)).map(lambda f: [f]), option, option)
    first = st.one_of(st.sampled_from(list(lead)).map(lambda w: [w]), st.just([])) if lead else st.just([])
    stray = st.one_of(st.just([]), st.just([]), st.just([]), HOSTILE.map(lambda w: [w]))
    return st.tuples(first, st.lists(one, max_size=5), stray).map(
        lambda t: t[0] + [w for part in t[1] for w in part] + t[2]
    )


# --- kavlan ------------------------------------------------------------------------------------------------


def kavlan_words(nodefile: Path, existing: Path) -> st.SearchStrategy[list[str]]:
    files = st.sampled_from([str(existing), "/nonexistent/file", str(existing.parent)])
    options = {
        "-i": VLANS,
        "-j": JOBS,
        "-m": NODES,
        "-f": st.sampled_from([str(nodefile), "/nonexistent/nodefile", str(nodefile.parent), "/dev/null"]),
        "-u": USERS,
        "--site": SITES,
        "--restart-via-at": st.sampled_from(["x", "-5", "1e3", "\u00b3"]),  # refused: a valid one dials nodes
        "-C": files,
        "-c": files,
        "-k": files,
        "--api": APIS,
    }
    actions = ["-l", "-e", "-d", "-V", "-g", "-s", "--drift", "--repair"]
    flags = ["-v", "-q", "--json", "--dry-run", "--rollback", "--no-verbose", "--no-quiet", "-h", "--version"]
    flags += ["--bogus", "--", *actions]
    sub = st.sampled_from(
        [["ssh-config"], ["ssh-config", "--proxycommand"], ["run"], ["run", "-m", "nosuch-1", "--", "true"]]
        + [["ssh", "nosuch-1"], ["run", "-j", "9999", "--", "true"], ["ssh-config", "--bogus"]]
    )
    return st.one_of(words(options, flags, actions), words(options, flags, actions), sub)


@SETTINGS
@hypothesis.given(data=st.data())
def test_kavlan(place: Path, tmp_path: Path, data: st.DataObject) -> None:
    nodefile, existing = tmp_path / "nodefile", tmp_path / "ca.pem"
    existing.write_text("not a certificate\n")
    nodefile.write_bytes(
        data.draw(
            st.one_of(
                st.binary(max_size=200),
                st.lists(
                    st.sampled_from([b"suno-1", b"suno-2.sophia.grid5000.fr", b"nosuch-3", b"# x", b""])
                ).map(lambda lines: b"\n".join(lines)),
                st.sampled_from([b"\xef\xbb\xbfsuno-1\r\n", b"suno-3\r\nsuno-4", b"\xff\xfe\x00s"]),
            )
        )
    )
    argv = data.draw(kavlan_words(nodefile, existing))
    before = snapshot(place)
    judge("kavlan", invoke(cli.main, argv), before, snapshot(place))


# --- kavlan-shell -c ---------------------------------------------------------------------------------------

SHELL_COMMANDS = ["vlan", "nodes", "get", "set", "move", "ssh-config", "dhcp", "vlans", "members", "jobs"]
SHELL_COMMANDS += ["reserve", "release", "use", "drift", "whoami", "help", "bogus", "list", "oardel"]
"""Every registry command but those that dial nodes (set-safe, run, ssh)."""


@st.composite
def shell_line(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(SHELL_COMMANDS))
    valid = st.one_of(
        VLANS, JOBS, NODES, SITES, st.sampled_from(["on", "off", "--all", "--dry-run", "4", "suno-1"])
    )
    args = draw(st.lists(st.one_of(valid, valid, valid, SAFE_TEXT), max_size=3))
    line = " ".join([name, *(a if " " not in a and a else repr(a) for a in args)])
    argv = ["-c", line]
    if draw(st.booleans()):
        argv += ["-j", draw(JOBS)]
    return argv


@SETTINGS
@hypothesis.given(argv=shell_line())
def test_kavlan_shell(place: Path, argv: list[str]) -> None:
    before = snapshot(place)
    judge("kavlan-shell", invoke(shell.main, argv), before, snapshot(place))


# --- the OAR commands --------------------------------------------------------------------------------------

REQUESTS = st.sampled_from(
    [
        "nodes=1",
        "{\"type='kavlan'\"}/vlan=1+/nodes=1",
        "{\"type='kavlan-local'\"}/vlan=1",
        "nodes=999",
        "nodes=lots",
        "{type=}",
        "nodes=1,walltime=99999999",
        "nodes=\u00b2",
        "+".join(["nodes=1"] * 70),
        "",
    ]
)


@SETTINGS
@hypothesis.given(
    argv=words(
        {
            "-l": REQUESTS,
            "-t": st.sampled_from(["deploy", "a,b", "x" * 70, ""]),
            "-p": st.sampled_from(["cluster='suno'", "nonsense", "cluster in ('a'", "x" * 5000]),
            "-n": st.sampled_from(["job", "two\nlines", "x" * 200, ""]),
            "--site": SITES,
            "--api": APIS,
        },
        ["--json", "--bogus"],
    )
)
def test_kavlan_oarsub(place: Path, argv: list[str]) -> None:
    before = snapshot(place)
    judge("kavlan-oarsub", invoke(oar.oarsub_main, argv), before, snapshot(place))


@SETTINGS
@hypothesis.given(
    argv=words({"-j": JOBS, "-u": USERS, "--api": APIS}, ["-f", "-s", "-a", "--json", "-u", "--bogus"])
)
def test_kavlan_oarstat(place: Path, argv: list[str]) -> None:
    before = snapshot(place)
    judge("kavlan-oarstat", invoke(oar.oarstat_main, argv), before, snapshot(place))


@SETTINGS
@hypothesis.given(
    argv=st.lists(st.one_of(JOBS, HOSTILE), max_size=4), user=st.sampled_from(["alice", "bob", "root"])
)
def test_kavlan_oardel(place: Path, argv: list[str], user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAVLAN_USER", user)
    monkeypatch.setenv("KAVLAN_ADMINS", "root")
    before = snapshot(place)
    run = invoke(oar.oardel_main, argv)
    judge("kavlan-oardel", run, before, snapshot(place))
    if run.status == 0:  # what was deleted is restored for the next example: a new job of each
        for who in ("alice", "bob"):
            monkeypatch.setenv("KAVLAN_USER", who)
            invoke(oar.oarsub_main, ["-l", "nodes=1"])


# --- kavlan-dhcp-config ------------------------------------------------------------------------------------


@SETTINGS
@hypothesis.given(data=st.data())
def test_kavlan_dhcp_config(place: Path, tmp_path: Path, data: st.DataObject) -> None:
    out = tmp_path / "out"
    junk = tmp_path / "junk.toml"
    junk.write_text("[[site]]\nname = 1\n")
    argv = data.draw(
        words(
            {
                "-s": SITES,
                "-i": VLANS,
                "--next-server": st.sampled_from(["10.0.0.1", "not-an-ip", "999.1.1.1", ""]),
                "--format": st.sampled_from(["isc", "dnsmasq", "kea", "all", "bind"]),
                "-o": st.sampled_from([str(out), "-", str(junk), str(out / "deeper")]),
                "--interface": st.sampled_from(["eth0", "", "a b"]),
                "--inventory": st.sampled_from([str(junk), "/nonexistent.toml", "demo"]),
            },
            ["-q", "--bogus"],
        )
    )
    if not any(a in ("-o", "--output") for a in argv):
        argv += ["-o", str(out)]  # never into the working directory's parents
    before = snapshot(place, out, tmp_path / "deeper")
    judge(
        "kavlan-dhcp-config", invoke(dhcpconf.main, argv), before, snapshot(place, out, tmp_path / "deeper")
    )


# --- kavlan-lab, as a user ---------------------------------------------------------------------------------


@SETTINGS
@hypothesis.given(data=st.data())
def test_kavlan_lab_as_a_user(
    place: Path, tmp_path: Path, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the non-root paths only: a lab is never built here
    action = data.draw(
        st.one_of(st.sampled_from(["up", "down", "status", "shell", "exec", "bogus"]), HOSTILE)
    )
    rest = data.draw(
        words(
            {
                "--state-dir": st.just(str(tmp_path / "lab")),
                "--prefix": st.sampled_from(["kl", "", "x" * 40]),
                "--inventory": st.sampled_from(["/nonexistent.toml", str(tmp_path)]),
                "--host": NODES,
            },
            ["--json", "--keep-on-failure", "--", "--bogus"],
        )
    )
    before = snapshot(place, tmp_path / "lab")
    run = invoke(lab.main, [action, *rest])
    judge("kavlan-lab", run, before, snapshot(place, tmp_path / "lab"), {1, 2})
    if run.status == 1:
        assert "root" in run.err, run


# --- kavlan-api's command line -----------------------------------------------------------------------------


@SETTINGS
@hypothesis.given(data=st.data())
def test_kavlan_api_command_line(
    place: Path, tmp_path: Path, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kavlan_core.api.server import app
    from kavlan_core.api.server import cli as api_cli
    from kavlan_core.api.server.options import tls_context

    async def check_only(options: Any, settings: Any, **_: Any) -> None:
        """Everything serve checks before it listens: it does not listen."""
        if not options.insecure_http:
            tls_context(options)

    monkeypatch.setattr(app, "serve", check_only)
    pki, users = tmp_path / "pki", tmp_path / "users"
    command = data.draw(st.sampled_from(["serve", "ca", "passwd", "bogus", ""]))
    values = {
        "--listen": st.sampled_from(["127.0.0.1:0", "0.0.0.0:0", "localhost", "[::1]:99999", "x:y"]),
        "--tls-cert": st.sampled_from([str(tmp_path / "none.pem"), str(users), ""]),
        "--tls-key": st.sampled_from([str(tmp_path / "none.key"), ""]),
        "--client-ca": st.sampled_from([str(tmp_path / "none.pem"), ""]),
        "--users-file": st.sampled_from([str(users), "/nonexistent/users"]),
        "--move-wait": st.sampled_from(["5", "-1", "nan", "inf", "x"]),
        "--header-timeout": st.sampled_from(["1", "0", "nan", "-3"]),
        "--max-connections": st.sampled_from(["10", "0", "-1", "x"]),
        "--site": SITES,
        "--server-name": st.sampled_from(["kavlan.test", "", "a b", "\u00e9t\u00e9"]),
        "--user": USERS,
        "--service": USERS,
        "--days": st.sampled_from(["1", "0", "-5", "100000", "x"]),
        "--scheme": st.sampled_from(["scrypt", "md5"]),
    }
    rest = data.draw(words(values, ["--insecure-http", "--bogus", "-h"]))
    positional = {"ca": [str(pki)], "passwd": [str(users), data.draw(USERS)]}.get(command, [])
    argv = [a for a in [command, *positional, *rest] if a != ""] if command else rest
    password = data.draw(st.sampled_from(["secret-1\n", "\n", ""]))
    before = snapshot(place, pki, users.parent / "users")
    run = invoke(api_cli.main, argv, stdin=password)
    judge("kavlan-api", run, before, snapshot(place, pki, users.parent / "users"))


# --- a sample as real console scripts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status", "words_"),
    [
        (["kavlan", "-g", "-m", "\udcff"], 1, "is not a node name"),
        (["kavlan", "-s", "-i", "4", "-m", "suno-1", "-j", "9999"], 1, "job 9999 does not exist"),
        (["kavlan", "--bogus"], 2, "unrecognized arguments"),
        (["kavlan-shell", "-c", "set 4 nosuch-1"], 1, "unknown node"),
        (["kavlan-oarsub", "-l", "nodes=1,walltime=99999999"], 1, "at most 3650 days"),
        (["kavlan-oarstat", "-j", "x"], 2, "invalid int value"),
        (["kavlan-oardel", "1000", "9999"], 1, "job 9999 does not exist"),
        (["kavlan-dhcp-config", "-i", "four", "-o", "-"], 1, "is not a VLAN id"),
        (["kavlan-kadeploy3", "-e", "debian12-min", "-m", "nosuch-1", "--vlan", "4"], 1, "unknown node"),
        (["kavlan-kadeploy3", "-e", "debian12-min", "-m", "suno-1", "--vlan", "x"], 1, "--vlan must be"),
        (["kavlan-kadeploy3", "-e", "d", "-m", "suno-1", "-k", "/nonexistent", "--vlan", "4"], 1, "key file"),
        (["kavlan-kadeploy3", "-m", "suno-1"], 2, "required"),
        (["kavlan-lab", "bogus"], 2, "invalid choice"),
        (["kavlan-api", "serve", "--move-wait", "nan"], 1, "--move-wait must be"),
        (["kavlan-api", "ca", "pki", "--server-name", "x", "--days", "0"], 1, "--days must be"),
    ],
)
def test_a_sample_as_console_scripts(
    place: Path, kenv: dict[str, str], tmp_path: Path, args: list[str], status: int, words_: str
) -> None:
    before = snapshot(place, tmp_path / "pki")
    proc = subprocess.run(
        [os.fsencode(a) for a in args], env=kenv, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == status and words_ in proc.stderr, proc
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert snapshot(place, tmp_path / "pki") == before
