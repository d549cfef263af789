"""The presenter every face uses: errors as each face's sentence (its own hints), events as lines."""

from __future__ import annotations

import pytest

from kavlan_core import events as ev
from kavlan_core.errors import BadInput, KavlanError, NotAllowed, SwitchUnavailable
from kavlan_tui.present import (
    CLI_EVENTS,
    CLI_HINTS,
    ERROR,
    INFO,
    LOG_EVENTS,
    OK,
    OPTION_HINTS,
    SHELL_HINTS,
    TUI_HINTS,
    WARNING,
    EventLine,
    Hint,
    Narrator,
    drift_text,
    event_line,
    run_guarded,
    sentence,
)


def test_a_hint_takes_the_place_of_the_setting_or_ends_the_sentence() -> None:
    assert Hint(" (more)").apply("a sentence") == "a sentence (more)"
    assert (
        Hint("set x (or --x)", replaces="set x").apply("please set x, or y") == "please set x (or --x), or y"
    )
    assert Hint(" (more)", replaces="absent").apply("a sentence") == "a sentence (more)"


@pytest.mark.parametrize("hints", [CLI_HINTS, OPTION_HINTS, SHELL_HINTS, TUI_HINTS])
def test_a_sentence_about_nothing_is_the_cores_own(hints: dict[str, Hint]) -> None:
    assert sentence(NotAllowed("Not enough privileges on Kavlan resources: suno-1"), hints) == (
        "Not enough privileges on Kavlan resources: suno-1"
    )
    switch = SwitchUnavailable("switch sw1 did not answer", switch="sw1", ports=["Gi1/0/1"])
    assert sentence(switch, hints) == "switch sw1 did not answer"


def test_each_face_names_its_own_way_to_give_nodes() -> None:
    exc = BadInput("no node given", about="nodes")
    assert sentence(exc, CLI_HINTS) == "no node given (use -m NODE, -f NODEFILE or -j JOBID)"
    assert "use JOB" in sentence(exc, SHELL_HINTS) and "-m" not in sentence(exc, SHELL_HINTS)
    assert "select" in sentence(exc, TUI_HINTS) and "-m" not in sentence(exc, TUI_HINTS)
    assert sentence(exc, OPTION_HINTS) == "no node given"  # the OAR commands take no nodes


def test_anything_else_is_an_internal_error_named() -> None:
    assert sentence(RuntimeError("boom")) == "internal error: RuntimeError: boom"


def test_run_guarded_says_one_sentence_and_exits_with_the_errors_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse() -> int:
        raise BadInput("no node given", about="nodes")

    assert run_guarded("kavlan", refuse, hints=CLI_HINTS) == 1
    assert capsys.readouterr().err == "kavlan: no node given (use -m NODE, -f NODEFILE or -j JOBID)\n"
    with pytest.raises(KavlanError):
        run_guarded("kavlan", refuse, debug=True)

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_guarded("kavlan", interrupted, say_interrupted=True) == 130
    assert capsys.readouterr().err == "kavlan: interrupted\n"
    assert run_guarded("kavlan-oarstat", interrupted) == 130
    assert capsys.readouterr().err == ""
    with pytest.raises(RuntimeError):  # a bug is not a user's error: its traceback shows
        run_guarded("kavlan", _bug)


def _bug() -> int:
    raise RuntimeError("boom")


STARTED = ev.SwitchStarted(switch="sw1", ports=3, action="apply")
DONE = ev.SwitchFinished(switch="sw1", ok=True, seconds=0.1234, action="apply")
FAILED = ev.SwitchFinished(switch="sw2", ok=False, seconds=2.0, action="apply", error="refused Gi1/0/1")
STEP = ev.SafeguardStep(stage="schedule", nodes=3, detail="'systemctl restart networking' in 60 s")


@pytest.mark.parametrize(
    ("event", "verbose", "line"),
    [  # what kavlan printed on stderr before the presenter, byte for byte
        (STARTED, False, "switch sw1: apply 3 port(s)..."),
        (DONE, False, "switch sw1: apply done"),
        (DONE, True, "switch sw1: apply done in 0.12 s"),
        (FAILED, False, "switch sw2: apply FAILED (refused Gi1/0/1)"),
        (STEP, False, "schedule (3 node(s)): 'systemctl restart networking' in 60 s"),
        (ev.SafeguardStep(stage="switch", nodes=1), False, "switch (1 node(s))"),
    ],
)
def test_the_clis_progress_lines_are_the_originals(event: ev.Event, verbose: bool, line: str) -> None:
    assert isinstance(event, CLI_EVENTS)
    shown = event_line(event, timing=verbose)
    assert shown is not None and shown.text == line


def test_a_narrator_remembers_each_switchs_ports_and_shows_its_kinds_only() -> None:
    log = Narrator(LOG_EVENTS)
    assert log.line(STARTED) is None  # the log shows a switch when it is done
    assert log.line(DONE) == EventLine(OK, "switch sw1: apply 3 port(s) done in 0.12 s")
    assert log.line(FAILED) == EventLine(ERROR, "switch sw2: apply FAILED (refused Gi1/0/1) in 2.00 s")
    moved = ev.MoveFinished(vlan=4, ok=2, failed=1, unchanged=0, seconds=1.5)
    assert log.line(moved) == EventLine(ERROR, "move into VLAN 4: 2 moved, 0 unchanged, 1 failed in 1.50 s")
    assert log.line(ev.JobEnded(job=7, user="alice", reason="walltime")) == EventLine(
        WARNING, "job 7 of alice ended: walltime"
    )
    assert log.line(ev.NodeMoved(node="suno-1", nic="eth0", old=0, new=4)) is None
    assert log.line(ev.DhcpChanged(site="sophia", vlan=0, state="on")) == EventLine(
        INFO, "DHCP server of VLAN DEFAULT (sophia): on"
    )


@pytest.mark.parametrize(
    ("actual", "tag", "has"),
    [
        (4, 704, "VLAN 4"),
        (0, 100, "DEFAULT"),
        (None, 777, "tag 777, which is no VLAN of the site"),
        (None, None, "an unreadable port"),
    ],
)
def test_drift_says_where_the_port_should_be_and_what_the_switch_has(
    actual: int | None, tag: int | None, has: str
) -> None:
    assert drift_text("sw1", "Gi1/0/2", "suno-2/eth0", 0, actual, tag) == (
        f"drift: sw1 Gi1/0/2 (suno-2/eth0) should be in DEFAULT, the switch has {has}"
    )
