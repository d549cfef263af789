"""``kavlan-shell``: the prompt-toolkit REPL on the command registry, with live completion, toolbar and events."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kavlan_core import __version__ as VERSION
from kavlan_core import config
from kavlan_core import events as ev
from kavlan_core.errors import KavlanError
from kavlan_core.interface import Service, connect
from kavlan_core.inventory import NicRef
from kavlan_core.model import DEFAULT, Job, VlanKind, vlan_label
from kavlan_core.reservations import format_walltime

from .commands import CHOICE, JOB, NODE, REGISTRY, SITE, TEXT, VLAN, Command, Context, Param, parse_job
from .options import add_api_arguments, api_overrides
from .present import SHELL_EVENTS, SHELL_HINTS, EventLine, Narrator, run_guarded, sentence
from .stopping import Stopper, attach

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.history import History
    from prompt_toolkit.lexers import Lexer

# commands of the shell itself, not of the registry: (usage, summary)
SHELL_COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("help [COMMAND]", "List the commands, or explain one"),
    "exit": ("exit", "Leave the shell (Ctrl-D does too)"),
    "quit": ("quit", "Leave the shell (Ctrl-D does too)"),
}

JOB_CACHE_SECONDS = 3.0
"""How old the cached list of running jobs may be before a completion reads it again."""
TICK_SECONDS = 10.0
"""How often the interactive shell looks at jobs while idle (walltime ends show up as events)."""
SLOW_SWITCH_SECONDS = 0.5
"""A switch still busy after this long gets a 'started' line; fast ones only get their 'done' line."""

_KIND_WORD = {VlanKind.LOCAL: "local", VlanKind.ROUTED: "routed", VlanKind.GLOBAL: "global"}

Printer = Callable[[str, bool], None]


def _print(line: str, err: bool) -> None:
    # sys.stdout is looked up at each call: inside patch_stdout() it is the proxy printing above the prompt
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def split_commands(text: str) -> list[str]:
    """Split a line on ``;`` outside quotes: ``set 4 suno-1; get suno-1`` is two commands."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [c.strip() for c in out if c.strip()]


def _natural(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def stamped(event: ev.Event, text: str) -> str:
    """An event's line as the shell prints it: its time first."""
    return f"[{time.strftime('%H:%M:%S', time.localtime(event.at))}] {text}"


# --- completion (no prompt_toolkit here: the adapter is make_completer) --------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    meta: str = ""


def param_at(cmd: Command, words: Sequence[str]) -> Param | None:
    """The parameter that the next positional word binds to, as Command.parse binds them."""
    index = len(words)
    for p in cmd.params:
        if p.many or index == 0:
            return p
        index -= 1
    return None


class Completions:
    """What may follow the text before the cursor: from the registry, the in-memory inventory and cached jobs."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        inv = shell.service.inventory
        self.nodes: list[tuple[str, str, str, str]] = []
        """(short name, FQDN, node, meta) of every NIC: this site's first, in natural order."""
        here = shell.service.site
        for node in sorted(inv.nodes.values(), key=lambda n: (n.site != here, _natural(n.name))):
            for nic in node.nics:
                ref = NicRef(node, nic)
                meta = f"{node.cluster}, {node.site}" + ("" if nic.primary else f", {nic.name}")
                self.nodes.append(
                    (inv.hostname(ref, DEFAULT, fqdn=False), inv.hostname(ref, DEFAULT), node.name, meta)
                )
        self.vlans: list[tuple[int, str]] = [(DEFAULT, "default")]
        self.vlans += [(v, _KIND_WORD[VlanKind.of(v)]) for v in range(1, 10)]
        self.vlans += [(v, f"global, {site}") for v, site in sorted(inv.global_owner.items())]
        self.sites = list(inv.sites)
        self.requests: list[Suggestion] = [Suggestion("nodes=1", "one node, no VLAN")]
        for kind, word in (("kavlan-local", "local"), ("kavlan", "routed"), ("kavlan-global", "global")):
            self.requests.append(
                Suggestion(f"{{\"type='{kind}'\"}}/vlan=1,nodes=2", f"a {word} VLAN and 2 nodes")
            )
        for cluster in inv.sites[shell.service.site].clusters:
            self.requests.append(
                Suggestion(
                    f"{{\"type='kavlan'\"}}/vlan=1,{{\"cluster='{cluster}'\"}}/nodes=2",
                    f"a routed VLAN and 2 {cluster} nodes",
                )
            )

    def split(self, text: str) -> tuple[list[str], str]:
        """The complete words of the last command on the line, and the word under the cursor."""
        text = text.rsplit(";", 1)[-1]
        words = text.split()
        current = words.pop() if words and not text[-1].isspace() else ""
        return words, current

    def needs_jobs(self, text: str) -> bool:
        words, current = self.split(text)
        if not words:
            return False
        cmd = REGISTRY.get(words[0])
        p = param_at(cmd, [w for w in words[1:] if not w.startswith("--")]) if cmd else None
        return p is not None and p.kind in (JOB, NODE, VLAN)

    def complete(self, text: str) -> tuple[str, list[Suggestion]]:
        """(word being completed, suggestions replacing it)."""
        words, current = self.split(text)
        if not words:
            return current, self.commands(current)
        if words[0] == "help":
            return current, (self.commands(current) if len(words) == 1 else [])
        cmd = REGISTRY.get(words[0])
        if cmd is None:
            return current, []
        args = words[1:]
        positional = [w for w in args if not w.startswith("--")]
        p = param_at(cmd, positional)
        if current.startswith("-") or p is None:
            used = {w[2:] for w in args if w.startswith("--")}
            return current, [
                Suggestion(f"--{f.name}", f.help)
                for f in cmd.flags
                if f.name not in used and f"--{f.name}".startswith(current)
            ]
        return current, self.values(p, current, positional)

    def commands(self, prefix: str) -> list[Suggestion]:
        out = [
            Suggestion(c.name, c.summary) for c in sorted(REGISTRY.commands.values(), key=lambda c: c.name)
        ]
        out += [Suggestion(a, f"= {c.name}") for c in REGISTRY.commands.values() for a in c.aliases]
        out += [Suggestion(name, summary) for name, (_usage, summary) in SHELL_COMMANDS.items()]
        return [s for s in out if s.text.startswith(prefix)]

    def values(self, p: Param, prefix: str, typed: Sequence[str]) -> list[Suggestion]:
        low = prefix.lower()
        if p.kind == NODE:
            return self.node_values(low, typed)
        if p.kind == VLAN:
            held = {v.vlan: j.id for j in self.shell.jobs for v in j.vlans}
            return [
                Suggestion(vlan_label(v), kind + (f", job {held[v]}" if v in held else ""))
                for v, kind in self.vlans
                if vlan_label(v).lower().startswith(low)
            ]
        if p.kind == JOB:
            now = time.time()
            return [
                Suggestion(
                    str(j.id),
                    f"{len(j.nodes)} node(s), VLAN {','.join(str(v.vlan) for v in j.vlans) or '-'}, "
                    f"{format_walltime(j.remaining(now))} left",
                )
                for j in self.shell.jobs
                if str(j.id).startswith(prefix)
            ]
        if p.kind == SITE:
            here = self.shell.service.site
            return [Suggestion(s, "this site" if s == here else "") for s in self.sites if s.startswith(low)]
        if p.kind == CHOICE:
            return [Suggestion(c, p.help) for c in p.choices if c.startswith(prefix)]
        if p.kind == TEXT and p.name == "request" and not typed:
            return [s for s in self.requests if s.text.startswith(prefix)]
        return []

    def node_values(self, low: str, typed: Sequence[str]) -> list[Suggestion]:
        # short names unless the user is typing a domain; the current job's nodes first
        fqdn = "." in low
        taken = {t.lower() for t in typed}
        owner = {n: j.id for j in self.shell.jobs for n in j.nodes}
        current = self.shell.ctx.job_id
        first: list[Suggestion] = []
        rest: list[Suggestion] = []
        for short, full, node, meta in self.nodes:
            name = full if fqdn else short
            if not name.startswith(low) or short in taken or full in taken:
                continue
            job = owner.get(node)
            if job is None:
                rest.append(Suggestion(name, meta))
            else:
                (first if job == current else rest).append(Suggestion(name, f"{meta}, job {job}"))
        return first + rest


def make_completer(shell: Shell) -> Completer:
    """prompt-toolkit's face of Completions; reads the jobs again only when the cache is stale."""
    from prompt_toolkit.completion import Completer, Completion

    class KavlanCompleter(Completer):
        def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
            word, items = shell.completions.complete(document.text_before_cursor)
            for s in items:
                yield Completion(s.text, start_position=-len(word), display_meta=s.meta)

        async def get_completions_async(
            self, document: Document, complete_event: CompleteEvent
        ) -> AsyncGenerator[Completion, None]:
            if shell.jobs_stale() and shell.completions.needs_jobs(document.text_before_cursor):
                await shell.refresh(wait=False)
            for c in self.get_completions(document, complete_event):
                yield c

    return KavlanCompleter()


def make_lexer() -> Lexer:
    """Known commands in green, unknown ones in red, flags in cyan."""
    from prompt_toolkit.lexers import Lexer

    token = re.compile(r"\s+|;|[^\s;]+")

    class KavlanLexer(Lexer):
        def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
            def line(number: int) -> StyleAndTextTuples:
                out: StyleAndTextTuples = []
                first = True
                for m in token.finditer(document.lines[number]):
                    word = m.group()
                    if word.isspace():
                        style = ""
                    elif word == ";":
                        style, first = "class:separator", True
                    elif first:
                        known = REGISTRY.get(word) is not None or word in SHELL_COMMANDS
                        style, first = ("class:command" if known else "class:unknown"), False
                    else:
                        style = "class:flag" if word.startswith("--") else ""
                    out.append((style, word))
                return out

            return line

    return KavlanLexer()


STYLE = {
    "command": "ansigreen bold",
    "unknown": "ansired",
    "flag": "ansicyan",
    "separator": "bold",
    "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
    "bottom-toolbar.user": "bold",
    "bottom-toolbar.job": "bg:#005f5f #ffffff bold",
    "bottom-toolbar.warn": "bg:#870000 #ffffff",
    "bottom-toolbar.hint": "#8a8a8a",
}


# --- the shell --------------------------------------------------------------------------------


class Shell:
    """Runs lines through the registry, keeps the cached state the toolbar and completion show."""

    def __init__(
        self, ctx: Context, *, printer: Printer = _print, debug: bool = False, live: bool = False
    ) -> None:
        self.ctx = ctx
        self.service: Service = ctx.service
        self.printer = printer
        self.debug = debug
        self.live = live
        """Interactive: keep the job cache fresh after each command."""
        self.done = False
        self.jobs: list[Job] = []
        """The user's running jobs, as last read."""
        self.current: Job | None = None
        """The current job, as last read (None: no job, or it no longer exists)."""
        self._jobs_at = float("-inf")
        self._lock = asyncio.Lock()  # one store user at a time: a command, or a refresh
        self._narrator = Narrator(SHELL_EVENTS)
        self._slow: dict[tuple[str, str], asyncio.TimerHandle] = {}
        """A 'started' line waiting for each switch still busy: printed if it is slow."""
        self.completions = Completions(self)

    def emit(self, line: str, err: bool = False) -> None:
        self.printer(line, err)

    # --- running lines --------------------------------------------------------------

    async def execute(self, line: str) -> bool:
        """Run one line (commands separated by ``;``); False when one of them failed."""
        ok = True
        for text in split_commands(line):
            if text.startswith("#"):
                continue
            ok = await self._execute_one(text) and ok
            if self.done:
                break
        return ok

    async def _execute_one(self, text: str) -> bool:
        name, *rest = text.split(None, 1)
        if name in ("exit", "quit"):
            self.done = True
            return True
        if name == "help":
            return self.help(rest[0].strip() if rest else None)
        try:
            async with self._lock:
                try:
                    result = await REGISTRY.run(self.ctx, text)
                finally:
                    if self.live:
                        await self._refresh_unlocked()
        except KavlanError as exc:
            self.emit(f"error: {sentence(exc, SHELL_HINTS)}", err=True)
            return False
        except BrokenPipeError:
            raise  # the output went away: the shell ends (quietly, kavlan-shell's status 141)
        except Exception as exc:
            if self.debug:
                self.emit(traceback.format_exc().rstrip(), err=True)
            self.emit(f"{sentence(exc)} (kavlan-shell --debug shows the traceback)", err=True)
            return False
        for out in result.lines:
            self.emit(out)
        for out in result.errors:
            self.emit(out, err=True)
        return result.ok

    def help(self, name: str | None) -> bool:
        if name in SHELL_COMMANDS:
            usage, summary = SHELL_COMMANDS[name]
            self.emit(f"usage: {usage}\n\n{summary}")
            return True
        try:
            lines = REGISTRY.help(name)
        except KavlanError as exc:
            self.emit(f"error: {sentence(exc, SHELL_HINTS)}", err=True)
            return False
        if name is None:
            width = max(len(c.usage) for c in REGISTRY.commands.values())
            lines = ["commands (help COMMAND explains one; ';' separates commands on a line):", *lines]
            lines += [
                f"  {usage:<{width}}  {summary}"
                for usage, summary in (
                    SHELL_COMMANDS["help"],
                    ("exit, quit", "Leave the shell (Ctrl-D does too)"),
                )
            ]
        self.emit("\n".join(lines))
        return True

    async def run_batch(self, lines: Iterable[str]) -> int:
        """Non-interactive mode: every line runs; status 1 if any command failed."""
        failed = False
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not await self.execute(line):
                failed = True
            if self.done:
                break
        return 1 if failed else 0

    # --- live state -----------------------------------------------------------------------

    def jobs_stale(self) -> bool:
        return time.monotonic() - self._jobs_at > JOB_CACHE_SECONDS

    async def refresh(self, *, wait: bool = True) -> None:
        """Read the user's running jobs and the current job again (skipped if ``wait`` is False and a command runs)."""
        if not wait and self._lock.locked():
            return
        async with self._lock:
            await self._refresh_unlocked()

    async def _refresh_unlocked(self) -> None:
        try:
            jobs = await self.service.jobs(user=self.ctx.user, running=True)
            current = None
            if self.ctx.job_id is not None:
                current = next((j for j in jobs if j.id == self.ctx.job_id), None)
                if current is None:
                    with contextlib.suppress(KavlanError):
                        current = await self.service.job(self.ctx.job_id)
        except KavlanError:
            return  # keep the stale view: the next command reports the problem
        self.jobs, self.current, self._jobs_at = jobs, current, time.monotonic()

    def on_event(self, event: ev.Event) -> None:
        """Print a line above the prompt; a switch's 'started' line only if it is slow."""
        line = self._narrator.line(event)
        if isinstance(event, ev.SwitchStarted):
            key = (event.switch, event.action)
            try:
                self._slow[key] = asyncio.get_running_loop().call_later(
                    SLOW_SWITCH_SECONDS, self._emit_line, event, line
                )
            except RuntimeError:
                self._emit_line(event, line)
            return
        if isinstance(event, ev.SwitchFinished):
            handle = self._slow.pop((event.switch, event.action), None)
            if handle is not None:
                handle.cancel()
        self._emit_line(event, line)

    def _emit_line(self, event: ev.Event, line: EventLine | None) -> None:
        if line is not None:
            self.emit(stamped(event, line.text))

    def prompt_message(self) -> str:
        return f"kavlan [{self.ctx.job_id}]> " if self.ctx.job_id is not None else "kavlan> "

    def toolbar(self) -> StyleAndTextTuples:
        s = self.service
        parts: StyleAndTextTuples = [("class:bottom-toolbar.user", f" {self.ctx.user}@{s.site} ")]
        job_id, job = self.ctx.job_id, self.current
        if job_id is None:
            parts.append(("", " no current job (reserve, or use JOB) "))
        elif job is None or job.id != job_id:
            parts.append(("class:bottom-toolbar.job", f" job {job_id} "))
        elif not job.running:
            parts.append(("class:bottom-toolbar.warn", f" job {job_id} has ended ({job.state.value}) "))
        else:
            vlans = ", ".join(
                vlan_label(v.vlan) + ("" if v.site == s.site else f"@{v.site}") for v in job.vlans
            )
            parts.append(
                (
                    "class:bottom-toolbar.job",
                    f" job {job_id}: {format_walltime(job.remaining(time.time()))} left, {len(job.nodes)} node(s), "
                    f"VLAN {vlans or 'none'} ",
                )
            )
        others = len([j for j in self.jobs if j.id != job_id])
        if others:
            parts.append(("", f" +{others} other job(s) "))
        parts.append(("class:bottom-toolbar.hint", "  Tab completes, help lists commands, Ctrl-D leaves"))
        return parts

    # --- interactive mode ---------------------------------------------------------------------

    def _history(self) -> History:
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        path = self.service.settings.data_path / "shell_history"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            return InMemoryHistory()
        return FileHistory(str(path))

    async def interact(self) -> int:
        """The REPL: prompt, run, print; events above the prompt; Ctrl-C cancels the line, Ctrl-D leaves."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.patch_stdout import patch_stdout
        from prompt_toolkit.styles import Style

        self.live = True
        session: PromptSession[str] = PromptSession(
            message=self.prompt_message,
            history=self._history(),
            auto_suggest=AutoSuggestFromHistory(),
            completer=make_completer(self),
            complete_while_typing=True,
            lexer=make_lexer(),
            bottom_toolbar=self.toolbar,
            refresh_interval=1.0,
            style=Style.from_dict(STYLE),
        )
        unsubscribe = self.service.events.subscribe(self.on_event)
        await self.refresh()
        job = f", job {self.ctx.job_id}" if self.ctx.job_id is not None else ""
        self.emit(
            f"kavlan-shell {VERSION}: {self.ctx.user} at {self.service.site}{job}. "
            "'help' lists the commands, Tab completes, Ctrl-D leaves."
        )
        ticker = asyncio.create_task(self._tick())
        try:
            with patch_stdout():
                while not self.done:
                    try:
                        line = await session.prompt_async()
                    except KeyboardInterrupt:
                        continue
                    except EOFError:
                        break
                    await self._run_interruptible(line)
        finally:
            async with self._lock:  # never cut a refresh in the middle of a reap
                ticker.cancel()
            unsubscribe()
        return 0

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.refresh()

    async def _run_interruptible(self, line: str) -> None:
        """Run a line; a first Ctrl-C asks a move under way to stop at its next step (it finishes or rolls back
        the switches it began, and reports), a second one stops waiting for the command (a move goes on to its
        end meanwhile: it is journaled)."""
        task = asyncio.ensure_future(self.execute(line))
        loop = asyncio.get_running_loop()
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses > 1:
                task.cancel()
            elif self.service.interrupt("Ctrl-C"):
                self.emit(
                    "Ctrl-C: the move stops at its next step, finishing or rolling back the switches it began; "
                    "Ctrl-C again stops waiting for it",
                    err=True,
                )
            else:
                self.emit("a command is running: Ctrl-C again abandons it", err=True)

        installed = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise
            self.emit("error: command abandoned", err=True)
        finally:
            self.service.interrupt("")  # the next command moves as usual
            if installed:
                loop.remove_signal_handler(signal.SIGINT)


# --- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kavlan-shell",
        description="KaVLAN shell: reserve, move nodes between VLANs, DHCP, jobs. "
        "Interactive on a terminal; otherwise reads commands from stdin, one a line.",
    )
    p.add_argument(
        "-c", dest="command", metavar="CMDS", help="run these commands (separated by ';') and exit"
    )
    p.add_argument("-j", "--job", help="the current job (default: $OAR_JOB_ID)")
    p.add_argument("-v", "--verbose", action="store_true", help="report every node moved and every switch")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    add_api_arguments(p)
    p.add_argument("--version", action="version", version=f"kavlan-shell (kavlan-tui) {VERSION}")
    return p


async def _main(args: argparse.Namespace, interactive: bool) -> int:
    service = await connect(config.load(**api_overrides(args)))
    attach(service)
    try:
        job_text = args.job or os.environ.get("OAR_JOB_ID") or None
        ctx = Context(service, job_id=parse_job(job_text) if job_text else None, verbose=args.verbose)
        if args.job is not None and ctx.job_id is not None:
            await service.running_job(ctx.job_id)  # a job given is checked, whatever the commands need
        shell = Shell(ctx, debug=args.debug)
        if interactive:
            return await shell.interact()
        return await shell.run_batch([args.command] if args.command is not None else sys.stdin)
    finally:
        await service.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interactive = args.command is None and sys.stdin.isatty()
    stopper = Stopper("kavlan-shell", sigint=not interactive)  # interactive, Ctrl-C is the prompt's
    return run_guarded(
        "kavlan-shell",
        lambda: asyncio.run(stopper.run(lambda: _main(args, interactive))),
        debug=args.debug,
        hints=SHELL_HINTS,
    )


if __name__ == "__main__":
    raise SystemExit(main())
