"""The kavlan command through its console script: options, output formats, bad input (one sentence, non-zero, nothing changed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

TUTORIAL_HELP = Path(__file__).parent.parent.parent / "shared" / "seed" / "advanced-kavlan-tutorial.txt"


def sh(args, env, *, input=None, check=None):
    proc = subprocess.run(args, env=env, capture_output=True, text=True, input=input, timeout=60)
    if check is not None:
        assert proc.returncode == check, (args, proc.stdout, proc.stderr)
    return proc


def reserve(env, request="{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3"):
    out = sh(["kavlan-oarsub", "-l", request], env, check=0).stdout
    assert out.startswith("OAR_JOB_ID=")
    return int(out.strip().split("=")[1])


def test_help_matches_the_original(kenv):
    out = sh(["kavlan", "--help"], kenv, check=0).stdout
    original = [
        "    -i, --vlan-id N                  set VLAN ID (integer or DEFAULT)",
        "    -l, --get-nodelist               Show nodenames in the given vlan",
        "    -e, --enable-dhcp                Start DHCP server",
        "    -d, --disable-dhcp               Stop DHCP server",
        "    -V, --show-vlan-id               Show vlan id of job (needs -j JOBID)",
        "    -g, --get-vlan                   Show vlan of nodes",
        "    -s, --set-vlan                   Set vlan of nodes",
        "    -j, --oar-jobid JOBID            OAR job id",
        "    -m, --machine NODE               set nodename (several -m are OK)",
        "    -f, --filename NODEFILE          read nodes from a file",
        "    -u, --user USERNAME              username",
        "    -v, --[no-]verbose               Run verbosely",
        "    -q, --[no-]quiet                 Run quietly",
        "        --[no-]debug                 Run with debug output",
        "    -h, --help                       Show this message",
        "        --version                    Show version",
    ]
    assert out.startswith("Usage: kavlan [options]\nSpecific options:\n")
    for line in original:
        assert line in out.splitlines()
    if TUTORIAL_HELP.exists():  # the seed's own text, where shared/ is beside the checkout
        seed = TUTORIAL_HELP.read_text()
        for line in original:
            assert line in seed
    assert sh(["kavlan", "--version"], kenv, check=0).stdout.startswith("kavlan (kavlan-tui) ")


def test_outputs_scripts_can_parse(kenv):
    job = reserve(kenv)
    env = {**kenv, "OAR_JOB_ID": str(job)}
    vlan = sh(["kavlan", "-V"], env, check=0).stdout
    assert vlan.strip().isdigit() and vlan == f"{int(vlan)}\n"
    assert sh(["kavlan", "-V", "-j", str(job)], kenv, check=0).stdout == vlan
    nodes = json.loads(sh(["kavlan-oarstat", "-j", str(job), "--json"], kenv, check=0).stdout)[str(job)][
        "assigned_nodes"
    ]
    assert sh(["kavlan", "-s"], env, check=0).stdout == ""
    got = sh(["kavlan", "-g"], env, check=0).stdout.splitlines()
    assert got == [f"{n}: {vlan.strip()}" for n in nodes]
    listed = sh(["kavlan", "-l"], env, check=0).stdout.splitlines()
    assert listed == [n.replace(".sophia", f"-kavlan-{vlan.strip()}.sophia") for n in nodes]
    unchanged = sh(["kavlan", "-s"], env, check=0).stdout.splitlines()
    assert unchanged == [f"{n}: unchanged (already in VLAN {vlan.strip()})" for n in nodes]
    js = json.loads(sh(["kavlan", "-g", "--json", "-m", nodes[0]], env, check=0).stdout)
    assert js == {nodes[0]: vlan.strip()}
    plan = sh(["kavlan", "-s", "-i", "DEFAULT", "--dry-run"], env, check=0).stdout
    assert "plan: move 3 port(s)" in plan and "sophia-sw1" in plan
    assert sh(["kavlan", "-g"], env, check=0).stdout.splitlines() == got  # the dry run changed nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "-g"], "options -g and -s cannot be used together"),
        ([], "no action given"),
        (["-V"], "-V needs a job"),
        (["-V", "-j", "4242"], "job 4242 does not exist"),
        (["-V", "-j", "12ab"], "job id '12ab' is not a number"),
        (["-g", "-m", "nosuch-1"], "unknown node 'nosuch-1'"),
        (["-g", "-m", "suno-2;reboot"], "is not a node name"),
        (["-s", "-i", "42", "-m", "suno-1"], "VLAN 42 is out of range"),
        (["-s", "-i", "four", "-m", "suno-1"], "'four' is not a VLAN id"),
        (
            ["-s", "-i", "4", "-f", "/nonexistent/nodefile"],
            "cannot read nodefile /nonexistent/nodefile: no such file",
        ),
        (
            ["-s", "-i", "4", "-m", "suno-1"],
            "Not enough privileges on Kavlan resources: suno-1.sophia.grid5000.fr",
        ),
        (["-g"], "no node given"),
        (["-e"], "no VLAN given"),
        (["-l", "-m", "suno-1"], "-l lists a VLAN's nodes"),
        (["-g", "--dry-run", "-m", "suno-1"], "--dry-run goes with -s"),
        (["-g", "-m", "suno-1", "-u", "bob"], "only an administrator may act as another user"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_sentence(kenv, args, message):
    proc = sh(["kavlan", *args], kenv)
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_nodefiles(kenv, tmp_path):
    job = reserve(kenv)
    env = {**kenv, "OAR_JOB_ID": str(job)}
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    proc = sh(["kavlan", "-s", "-f", str(empty)], env, check=1)
    assert "lists no node" in proc.stderr
    garbage = tmp_path / "garbage"
    garbage.write_text("suno-1.sophia.grid5000.fr\nthis is not a node\n")
    proc = sh(["kavlan", "-s", "-f", str(garbage)], env, check=1)
    assert "line 2: 'this is not a node' is not a node name" in proc.stderr
    assert sh(["kavlan", "-g", "-m", "suno-1"], env, check=0).stdout == "suno-1.sophia.grid5000.fr: DEFAULT\n"
    # OAR's nodefile lists each node once per core: duplicates fold
    nodefile = json.loads(sh(["kavlan-oarstat", "-j", str(job), "--json"], kenv, check=0).stdout)[str(job)][
        "assigned_nodes"
    ]
    dup = tmp_path / "dup"
    dup.write_text("".join(f"{n}\n" * 8 for n in nodefile))
    assert sh(["kavlan", "-s", "-f", str(dup)], env, check=0).stdout == ""
    assert len(sh(["kavlan", "-g", "-f", str(dup)], env, check=0).stdout.splitlines()) == 3


def test_someone_elses_node_changes_nothing(kenv):
    bob = {**kenv, "KAVLAN_USER": "bob"}
    a_job = reserve(kenv)
    b_job = reserve(bob)
    a_nodes = json.loads(sh(["kavlan-oarstat", "-j", str(a_job), "--json"], kenv, check=0).stdout)[
        str(a_job)
    ]["assigned_nodes"]
    proc = sh(["kavlan", "-s", "-j", str(b_job), "-m", a_nodes[0]], bob, check=1)
    assert f"{a_nodes[0]}: {a_nodes[0].split('.')[0]} is not in a running job of bob" in proc.stderr
    assert sh(["kavlan", "-g", "-m", a_nodes[0]], bob, check=0).stdout.endswith(": DEFAULT\n")
    # someone else's VLAN
    b_vlan = sh(["kavlan", "-V", "-j", str(b_job)], bob, check=0).stdout.strip()
    proc = sh(["kavlan", "-s", "-i", b_vlan, "-j", str(a_job)], kenv, check=1)
    assert f"VLAN {b_vlan} of sophia is not held by a running job of alice" in proc.stderr
    proc = sh(["kavlan", "-e", "-i", b_vlan], kenv, check=1)
    assert "Not enough privileges" in proc.stderr


def test_a_failed_switch_gives_a_non_zero_exit_and_per_node_lines(kenv, tmp_path):
    from conftest import small_inventory

    inv = small_inventory(tmp_path / "t.toml", {"sw2": {"refuse_ports": ["Gi1/0/1"]}})
    env = {**kenv, "KAVLAN_INVENTORY": str(inv)}
    job = reserve(env, "{\"type='kavlan'\"}/vlan=1,nodes=4")
    proc = sh(["kavlan", "-s", "-j", str(job)], env, check=1)
    assert proc.stdout.splitlines() == [
        "suno-1.sophia.grid5000.fr: unchanged (rolled back because switch sw2 failed: refused to set port Gi1/0/1 to VLAN tag 704)",
        "suno-2.sophia.grid5000.fr: unchanged (rolled back because switch sw2 failed: refused to set port Gi1/0/1 to VLAN tag 704)",
        "suno-4.sophia.grid5000.fr: unchanged (rolled back because switch sw2 failed: refused to set port Gi1/0/1 to VLAN tag 704)",
    ]
    assert proc.stderr.splitlines() == [
        "suno-3.sophia.grid5000.fr: failure (refused to set port Gi1/0/1 to VLAN tag 704 (the port is in VLAN DEFAULT))"
    ]


def test_oar_commands(kenv):
    job = reserve(kenv, "nodes=2,walltime=0:30")
    stat = sh(["kavlan-oarstat"], kenv, check=0).stdout.splitlines()
    assert stat[0].split()[:2] == ["Job", "id"] and any(line.startswith(f"{job} ") for line in stat)
    assert sh(["kavlan-oarstat", "-s", "-j", str(job)], kenv, check=0).stdout == f"{job}: Running\n"
    full = sh(["kavlan-oarstat", "-f", "-j", str(job)], kenv, check=0).stdout
    assert (
        "walltime = 0:30:00" in full and "assigned_hostnames = helios-1.sophia.grid5000.fr+helios-2" in full
    )
    proc = sh(["kavlan-oardel", str(job)], {**kenv, "KAVLAN_USER": "bob"}, check=1)
    assert f"job {job} belongs to alice, not to bob" in proc.stderr
    out = sh(["kavlan-oardel", str(job)], kenv, check=0).stdout
    assert out.startswith(f"Deleting the job = {job} ...REGISTERED.")
    assert sh(["kavlan-oarstat", "-s", "-j", str(job)], kenv, check=0).stdout == f"{job}: Terminated\n"
    assert (
        sh(["kavlan-oardel", str(job)], kenv, check=1)
        .stderr.strip()
        .endswith("has already ended (Terminated)")
    )
    assert "bad count" in sh(["kavlan-oarsub", "-l", "nodes=lots"], kenv, check=1).stderr
    assert (
        "not enough free nodes"
        in sh(["kavlan-oarsub", "-l", "{\"cluster='suno'\"}/nodes=999"], kenv, check=1).stderr
    )


def test_drift_and_repair(kenv):
    from kavlan_core.store import Store

    assert sh(["kavlan", "--drift"], kenv, check=0).stdout.startswith("no drift")
    store = Store(f"sqlite:///{kenv['KAVLAN_DATA_DIR']}/kavlan.db")
    with store.write() as tx:  # a port changed behind kavlan's back
        tx.sim_write("sophia-sw1", {"GigabitEthernet1/0/7": 705})
    out = sh(["kavlan", "--drift"], kenv, check=1).stdout
    assert out == "sophia-sw1 GigabitEthernet1/0/7 (suno-7/eth0): expected VLAN DEFAULT, switch has 5\n"
    assert "only an administrator" in sh(["kavlan", "--repair"], kenv, check=1).stderr
    admin = {**kenv, "KAVLAN_ADMINS": "alice"}
    assert "suno-7.sophia.grid5000.fr: success" in sh(["kavlan", "--repair"], admin, check=0).stdout
    assert sh(["kavlan", "--drift", "--site", "sophia"], kenv, check=0).stdout.startswith("no drift")
    assert (
        "--site goes with --drift"
        in sh(["kavlan", "-g", "-m", "suno-1", "--site", "lille"], kenv, check=1).stderr
    )


# --- the presenter: core sentences name settings, the CLI adds its options --------------------


def _core_errors(kenv):
    """The core's own errors for each ``about`` (made by the core where no network is needed)."""
    import asyncio

    from kavlan_core import config
    from kavlan_core.api.client import RemoteService
    from kavlan_core.api.client.transport import Transport
    from kavlan_core.errors import KavlanError, Unavailable
    from kavlan_core.service import KavlanService

    async def move_nothing():
        service = KavlanService(config.load())
        try:
            await service.set_vlan([], 4)
        finally:
            await service.close()

    out = {}
    for about, make in (
        ("nodes", lambda: asyncio.run(move_nothing())),
        ("api", lambda: asyncio.run(RemoteService.open(config.load()))),
    ):
        with pytest.raises(KavlanError) as caught:
            make()
        assert caught.value.about == about
        out[about] = caught.value
    out["ca_cert"] = Unavailable(
        "the KaVLAN API server https://h:1 has a certificate this client does not trust (self-signed "
        "certificate): give its CA in the setting ca_cert",
        about="ca_cert",
    )
    out["where"] = Unavailable(
        "the move at https://h:1/moves/3 still runs after 600 s: it goes on on the server", about="where"
    )
    out["client_cert"] = Transport(config.load()).error("https://h:1", 401, {})
    return out


def test_core_sentences_name_no_option_and_the_cli_prints_them_as_before(kenv):
    from kavlan_tui.present import CLI_HINTS, SHELL_HINTS, TUI_HINTS, sentence

    errors = _core_errors(kenv)
    before = {  # the core's sentences when they named the CLI's options: the CLI prints them byte for byte
        "nodes": "no node given (use -m NODE, -f NODEFILE or -j JOBID)",
        "api": "remote mode needs an API server: set api (or --api URL), or api_sites",
        "ca_cert": "the KaVLAN API server https://h:1 has a certificate this client does not trust "
        "(self-signed certificate): give its CA with -C/--ca-cert",
        "where": "the move at https://h:1/moves/3 still runs after 600 s: it goes on on the server; "
        "see where the nodes are with kavlan -g",
        "client_cert": "the KaVLAN API server https://h:1 did not accept who you are (401): "
        "give a client certificate (-c/-k) or a password (KAVLAN_API_PASSWORD)",
    }
    for about, exc in errors.items():
        assert not any(flag in str(exc) for flag in ("-m NODE", "--api", "-C/", "kavlan -g", "-c/-k")), str(
            exc
        )
        assert sentence(exc, CLI_HINTS) == before[about]
        for hints in (SHELL_HINTS, TUI_HINTS):  # the other faces speak of their own commands
            assert sentence(exc, hints) != before[about] and sentence(exc, hints).startswith(str(exc)[:12])


def test_the_cli_says_no_node_given_as_the_original(kenv, monkeypatch, capsys):
    """Through the whole command: a move the core is asked to make with no node."""
    from kavlan_tui import cli, commands

    async def no_node(ctx, nodes):
        return []

    monkeypatch.setattr(commands, "nodes_or_job", no_node)
    assert cli.main(["-s", "-i", "DEFAULT", "-m", "suno-1"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "kavlan: no node given (use -m NODE, -f NODEFILE or -j JOBID)\n",
    )


def test_machine_patterns_expand_and_verbose_says_what_they_named(kenv):
    job = reserve(kenv)
    nodes = json.loads(sh(["kavlan-oarstat", "-j", str(job), "--json"], kenv, check=0).stdout)[str(job)][
        "assigned_nodes"
    ]
    numbers = sorted(int(n.split(".")[0].split("-")[1]) for n in nodes)
    env = {**kenv, "OAR_JOB_ID": str(job)}
    pattern = "suno-[" + ",".join(map(str, numbers)) + "]"
    proc = sh(["kavlan", "-s", "-v", "-m", pattern], env, check=0)
    short = [f"suno-{n}" for n in numbers]
    assert f"kavlan: {pattern} expands to 3 names: {', '.join(short)}" in proc.stderr.splitlines()
    vlan = sh(["kavlan", "-V"], env, check=0).stdout.strip()
    got = sh(["kavlan", "-g", "-m", pattern], env, check=0).stdout.splitlines()
    assert got == [f"{n}.sophia.grid5000.fr: {vlan}" for n in short]
    # wildcards are matched against the testbed's nodes, in natural order
    proc = sh(["kavlan", "-g", "-v", "-m", "suno-4*"], kenv, check=0)
    assert [line.split(".")[0] for line in proc.stdout.splitlines()] == [
        "suno-4",
        *(f"suno-{n}" for n in range(40, 46)),
    ]
    assert (
        "kavlan: suno-4* matches 7 names: suno-4, suno-40, suno-41, suno-42, suno-43, … suno-45"
        in proc.stderr
    )
    # a pattern that cannot be read, or that names nothing: one sentence, nothing changed
    for bad, says in (
        ("suno-[1-", "does not close"),
        ("zz-*", "matches no node"),
        ("suno-[9-1]", "backwards"),
    ):
        proc = sh(["kavlan", "-s", "-i", "DEFAULT", "-m", bad], env, check=1)
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and says in proc.stderr, proc.stderr
    assert sh(["kavlan", "-g", "-m", pattern], env, check=0).stdout.splitlines() == got


# --- careless input: every value checked, any nodefile, output closed early -----------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "-i", "4", "-m", "suno-1", "-j", "9999"], "job 9999 does not exist"),
        (["-g", "-m", "suno-1", "-j", "9999"], "job 9999 does not exist"),
        (["-g", "-m", "suno-1", "-i", "42"], "VLAN 42 is out of range"),
        (["-g", "-m", "suno-1", "-i", "four"], "'four' is not a VLAN id"),
        (["-g", "-m", "suno-1", "-i", "\u00b2"], "is not a VLAN id"),
        (["-V", "-j", "9" * 5000], "is not a number"),
        (["-g", "-m", "suno-1", "-C", "/nonexistent/ca.pem"], "option -C: cannot read /nonexistent/ca.pem"),
        (["-s", "-i", "4", "-m", "suno-1", "--restart-via-at", "-5"], "--restart-via-at takes a delay"),
        (["-g", "-m", "suno-1", "-u", "bad name"], "is not a user name"),
        (["--drift", "--site", "atlantis"], "unknown site 'atlantis'"),
    ],
)
def test_every_value_is_checked_even_when_not_needed(kenv, args, message):
    proc = sh(["kavlan", *args], kenv)
    assert proc.returncode == 1 and proc.stdout == "", proc
    (line,) = proc.stderr.splitlines()
    assert message in line and line.startswith("kavlan: "), proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is not a text file (it holds NUL bytes)"),
        (b"suno-1\n\xe9t\xe9-2\n", "line 2: not UTF-8 text (byte 0xe9)"),
        (b"\xff\xfe" + "suno-1\n".encode("utf-16-le"), "not a text file"),
        (b"suno-1\n\x1b[31mred\x1b[0m\n", "line 2: '\\x1b[31mred\\x1b[0m' is not a node name"),
    ],
)
def test_a_nodefile_of_any_bytes_is_one_sentence(kenv, tmp_path, content, message):
    nodefile = tmp_path / "nodes"
    nodefile.write_bytes(content)
    proc = sh(["kavlan", "-g", "-f", str(nodefile)], kenv)
    assert proc.returncode == 1 and proc.stdout == "", proc
    (line,) = proc.stderr.splitlines()
    assert message in line, line


def test_a_nodefile_with_a_bom_or_windows_line_ends_is_read(kenv, tmp_path):
    for name, content in (
        ("bom", b"\xef\xbb\xbfsuno-1.sophia.grid5000.fr\nsuno-2\n"),
        ("crlf", b"suno-1.sophia.grid5000.fr\r\nsuno-2\r\n"),
    ):
        nodefile = tmp_path / name
        nodefile.write_bytes(content)
        out = sh(["kavlan", "-g", "-f", str(nodefile)], kenv, check=0).stdout
        assert out == "suno-1.sophia.grid5000.fr: DEFAULT\nsuno-2.sophia.grid5000.fr: DEFAULT\n", name
    proc = sh(["kavlan", "-g", "-f", str(tmp_path)], kenv, check=1)
    assert proc.stderr == f"kavlan: cannot read nodefile {tmp_path}: it is a directory\n"


@pytest.mark.parametrize(
    "args",
    [
        ["kavlan", "-g", "-m", "suno-1", "-m", "suno-2"],
        ["kavlan", "--help"],
        ["kavlan-oarstat", "-a"],
        ["kavlan-dhcp-config", "-i", "4", "-o", "-"],
        ["kavlan-shell", "-c", "vlans"],
    ],
)
def test_output_closed_early_ends_quietly(kenv, args):
    """As ``kavlan -g | head -1``: the reader is gone before the command writes. Status 141 (128 + SIGPIPE),
    nothing on stderr."""
    proc = subprocess.Popen(args, env=kenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err == b"", err
    assert proc.returncode == 141
