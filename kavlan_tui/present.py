"""One presenter for every face: a user's error as the sentence the face prints (with the face's own hint), and
the service's events as lines of text."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from kavlan_core import events as ev
from kavlan_core.errors import KavlanError
from kavlan_core.model import DEFAULT, vlan_label

# --- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hint:
    """A face's words for what a core sentence is about (``KavlanError.about``): ``text`` takes the place of
    ``replaces`` (the setting the sentence names), or ends the sentence when ``replaces`` is empty or absent."""

    text: str
    replaces: str = ""

    def apply(self, sentence: str) -> str:
        if self.replaces and self.replaces in sentence:
            return sentence.replace(self.replaces, self.text, 1)
        return sentence + self.text


Hints = Mapping[str, Hint]

CLI_HINTS: Final[Hints] = {
    "nodes": Hint(" (use -m NODE, -f NODEFILE or -j JOBID)"),
    "api": Hint("set api (or --api URL),", replaces="set api,"),
    "ca_cert": Hint("with -C/--ca-cert", replaces="in the setting ca_cert"),
    "client_cert": Hint("(-c/-k)", replaces="(settings client_cert, client_key)"),
    "where": Hint("; see where the nodes are with kavlan -g"),
    "dhcp": Hint(" (kavlan -e starts it; kavlan -s --no-dhcp-check moves all the same)"),
}
"""``kavlan``: the original's options."""

_LONG_CERT_OPTIONS: Final[Hints] = {
    "ca_cert": Hint("with --ca-cert", replaces="in the setting ca_cert"),
    "client_cert": Hint("(--client-cert/--client-key)", replaces="(settings client_cert, client_key)"),
}
"""The certificate options every command but ``kavlan`` spells the long way."""

OPTION_HINTS: Final[Hints] = {
    "api": Hint("set api (or --api URL),", replaces="set api,"),
    **_LONG_CERT_OPTIONS,
    "where": Hint("; see where the nodes are with kavlan -g"),
}
"""The other commands (``kavlan-oarsub``...): long options only."""

SHELL_HINTS: Final[Hints] = {
    "nodes": Hint(" (name nodes, or make a job current: use JOB)"),
    "api": Hint("set api (or kavlan-shell --api URL),", replaces="set api,"),
    **_LONG_CERT_OPTIONS,
    "where": Hint("; see where the nodes are with get NODE..."),
    "dhcp": Hint(" (dhcp on starts it; set --no-dhcp-check moves all the same)"),
}
"""``kavlan-shell``: its commands."""

TUI_HINTS: Final[Hints] = {
    "nodes": Hint(" (select nodes first: Space)"),
    "api": Hint("set api (or kavlan-tui --api URL),", replaces="set api,"),
    **_LONG_CERT_OPTIONS,
    "where": Hint("; the board shows where the nodes are once read again (Ctrl+R)"),
    "dhcp": Hint(" (d on the VLAN starts it; 'no DHCP check' in the move dialog moves all the same)"),
}
"""``kavlan-tui``: its keys."""


def printable(text: str) -> str:
    """``text`` on one line: what is not printable (a newline, an escape, a byte that was not UTF-8) as its
    Python escape. argparse's sentences quote the command line's words as they are."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def is_user_error(exc: BaseException) -> bool:
    """An error the user can cause or meet (a wrong option, a refused move, a switch down): one sentence, no
    traceback. Everything else is a bug."""
    return isinstance(exc, KavlanError)


def sentence(exc: BaseException, hints: Hints = CLI_HINTS) -> str:
    """What a face prints for an error: a user's error as its sentence with the face's hint; anything else
    as an internal error, named."""
    if not isinstance(exc, KavlanError):
        return f"internal error: {type(exc).__name__}: {exc}"
    hint = hints.get(exc.about) if exc.about else None
    return hint.apply(str(exc)) if hint is not None else str(exc)


EXIT_INTERRUPTED = 130
EXIT_OUTPUT_CLOSED = 141
"""The status of a command whose output was closed before it finished (``kavlan -g | head -1``): 128 + SIGPIPE,
as a command that SIGPIPE ended. It stops quietly: the reader wanted no more."""


def run_guarded(
    prog: str,
    body: Callable[[], int],
    *,
    debug: bool = False,
    hints: Hints = OPTION_HINTS,
    say_interrupted: bool = False,
) -> int:
    """A command's body with its edge: a user's error is ``prog: sentence`` on stderr and its exit status (the
    traceback only with ``--debug``); Ctrl-C is status 130; output closed early, 141 and no word."""
    try:
        status = body()
        sys.stdout.flush()  # inside: a reader gone shows here, not as Python's complaint at exit
        return status
    except BrokenPipeError:
        silence_stdout()
        return EXIT_OUTPUT_CLOSED
    except KavlanError as exc:
        if debug:
            raise
        sys.stderr.write(f"{prog}: {sentence(exc, hints)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        if say_interrupted:
            sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED


def silence_stdout() -> None:
    """What is left for a closed standard output goes nowhere (Python flushes it once more at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no real file descriptor (a test's captured output): nothing will be flushed to it


def _flush_at_exit() -> None:
    """Output a command wrote before its body ran (``--help | head -1``) and could not deliver: no complaint."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except (OSError, ValueError, AttributeError):
        pass


atexit.register(_flush_at_exit)


# --- events -----------------------------------------------------------------------------------

INFO, OK, WARNING, ERROR = "info", "ok", "warning", "error"
"""How an event line reads: news, something done, something to look at, something failed."""


@dataclass(frozen=True, slots=True)
class EventLine:
    level: str
    text: str


def vlan_words(vlan: int) -> str:
    """``VLAN 4``, ``DEFAULT``."""
    return "DEFAULT" if vlan == DEFAULT else f"VLAN {vlan}"


def drift_text(
    switch: str, port: str, node: str, expected: int, actual: int | None, tag: int | None = None
) -> str:
    """A port that is not where the store says: what it should be in, and what the switch has."""
    if actual is not None:
        has = vlan_words(actual)
    elif tag is not None:
        has = f"tag {tag}, which is no VLAN of the site"
    else:
        has = "an unreadable port"
    return f"drift: {switch} {port} ({node}) should be in {vlan_words(expected)}, the switch has {has}"


def _switch_finished(event: ev.SwitchFinished, ports: int | None, timing: bool) -> EventLine:
    what = f"{event.action} {ports} port(s)" if ports is not None else event.action
    state = "done" if event.ok else f"FAILED ({event.error})"
    took = f" in {event.seconds:.2f} s" if timing else ""
    return EventLine(OK if event.ok else ERROR, f"switch {event.switch}: {what} {state}{took}")


def event_line(event: ev.Event, *, ports: int | None = None, timing: bool = True) -> EventLine | None:
    """One line for an event (None for a kind no face shows as a line); each face picks the kinds it shows.
    ``ports``: the port count of a finished switch, when the face remembers it from the switch's start."""
    if isinstance(event, ev.SwitchFinished):
        return _switch_finished(event, ports, timing)
    if isinstance(event, ev.SwitchStarted):
        return EventLine(INFO, f"switch {event.switch}: {event.action} {event.ports} port(s)...")
    if isinstance(event, ev.MoveStarted):
        return EventLine(
            INFO,
            f"{event.user} moves {len(event.nodes)} port(s) into VLAN {vlan_label(event.vlan)} "
            f"on {', '.join(event.switches)}",
        )
    if isinstance(event, ev.MoveFinished):
        return EventLine(
            ERROR if event.failed else OK,
            f"move into VLAN {vlan_label(event.vlan)}: {event.ok} moved, {event.unchanged} unchanged, "
            f"{event.failed} failed in {event.seconds:.2f} s",
        )
    if isinstance(event, ev.DhcpChanged):
        return EventLine(
            ERROR if event.state == "failed" else INFO,
            f"DHCP server of VLAN {vlan_label(event.vlan)} ({event.site}): {event.state}",
        )
    if isinstance(event, ev.JobSubmitted):
        return EventLine(INFO, f"job {event.job} of {event.user} started")
    if isinstance(event, ev.JobEnded):
        return EventLine(WARNING, f"job {event.job} of {event.user} ended: {event.reason}")
    if isinstance(event, ev.SafeguardStep):
        detail = f": {event.detail}" if event.detail else ""
        level = WARNING if event.stage in ("warning", "rollback", "undo") else INFO
        return EventLine(level, f"{event.stage} ({event.nodes} node(s)){detail}")
    if isinstance(event, ev.IntentSettled):
        return settled_line(event)
    if isinstance(event, ev.NodeUnavailable):
        return EventLine(ERROR, f"{event.node} is unavailable to new jobs: {event.reason}")
    if isinstance(event, ev.DriftFound):
        return EventLine(
            WARNING, drift_text(event.switch, event.port, event.node, event.expected, event.actual)
        )
    if isinstance(event, ev.LinkChanged):
        state = "up again" if event.up else "DOWN"
        return EventLine(
            OK if event.up else ERROR, f"link {state}: {event.node}/{event.nic} ({event.switch} {event.port})"
        )
    if isinstance(event, ev.LeakFound):
        return EventLine(ERROR, f"isolation leak ({event.kind}): {event.detail}")
    return None


def settled_line(event: ev.IntentSettled) -> EventLine:
    """An unfinished move or job's end that a stopped or dead process left, and what became of it."""
    left_by = f" (left by {event.owner})" if event.owner else ""
    if event.outcome.startswith("not settled"):
        return EventLine(ERROR, f"unfinished {event.what}{left_by}: {event.outcome}; tried again later")
    return EventLine(WARNING, f"unfinished {event.what}{left_by}: {event.outcome}")


class Narrator:
    """The lines of a stream of events for one face: the kinds it shows, each finished switch with the port
    count its start announced."""

    def __init__(self, kinds: tuple[type[ev.Event], ...], *, timing: bool = True) -> None:
        self.kinds = kinds
        self.timing = timing
        self._ports: dict[tuple[str, str], int] = {}

    def line(self, event: ev.Event) -> EventLine | None:
        ports = None
        if isinstance(event, ev.SwitchStarted):
            self._ports[(event.switch, event.action)] = event.ports
        elif isinstance(event, ev.SwitchFinished):
            ports = self._ports.pop((event.switch, event.action), None)
        if not isinstance(event, self.kinds):
            return None
        return event_line(event, ports=ports, timing=self.timing)


CLI_EVENTS: Final = (ev.SafeguardStep, ev.SwitchStarted, ev.SwitchFinished)
"""What ``kavlan`` shows on stderr while it works (on a terminal, or with -v)."""
SHELL_EVENTS: Final = (
    ev.SwitchStarted,
    ev.SwitchFinished,
    ev.MoveFinished,
    ev.DhcpChanged,
    ev.JobEnded,
    ev.DriftFound,
    ev.IntentSettled,
    ev.LinkChanged,
    ev.LeakFound,
    ev.NodeUnavailable,
)
"""What ``kavlan-shell`` prints above its prompt."""
LOG_EVENTS: Final = (
    ev.MoveStarted,
    ev.SwitchFinished,
    ev.MoveFinished,
    ev.DhcpChanged,
    ev.JobSubmitted,
    ev.JobEnded,
    ev.SafeguardStep,
    ev.IntentSettled,
    ev.LinkChanged,
    ev.LeakFound,
    ev.NodeUnavailable,
)
"""What the TUI's event log shows (not drift: the app logs it once per change, from its polls)."""
