"""One interactive vendor CLI over an SSH channel: a command at a time, or a batch typed ahead in windows with
every echo checked and every refusal attributed to the line that drew it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncssh

from .base import SwitchError
from .cli_dialects import Dialect, error_reason, load_errors

MAX_ANSWER = 4 * 1024 * 1024
"""Characters of a single answer past which the switch is deemed broken (bounds the read loops)."""
MAX_PROBES = 16
"""Sync lines typed in one exchange at most while all is well (a slow switch), and as many again to find where the CLI
is after type-ahead was lost: the exchange's silence timeout bounds it anyway."""


class CliError(SwitchError):
    """The switch answered a command with an error; ``reason`` is its own error line. ``refusals`` holds every line
    of the batch it refused, each with its port and its own reason (several when typed ahead)."""

    def __init__(
        self,
        switch: str,
        reason: str,
        command: str,
        *,
        ports: Sequence[str] = (),
        refusals: Sequence[Refusal] = (),
    ) -> None:
        super().__init__(switch, reason, ports=ports)
        self.command = command
        self.refusals = tuple(refusals)


class Dropped(Exception):
    """The SSH channel closed under us."""


class Garbled(Exception):
    """The CLI answered something that never ends in a prompt."""


class Silent(Exception):
    """No byte from the CLI for the exchange's timeout; ``line`` is the first one it did not answer, ``lost`` whether
    type-ahead had been lost before."""

    def __init__(self, line: Line, lost: bool = False) -> None:
        super().__init__(line.text)
        self.line = line
        self.lost = lost


@dataclass(frozen=True)
class Line:
    """A line of a batch, and the port it configures ("" for the lines around the ports)."""

    text: str
    port: str = ""


@dataclass
class Record:
    """What the CLI did with one line it read: the prompt it read it at, its echo (the line it ran, exactly) and the
    lines it answered."""

    prompt: str
    echo: str
    answer: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    """A line the switch refused, attributed by its echo (or by the load's line number)."""

    command: str
    port: str
    reason: str


@dataclass
class Typed:
    """The outcome of typing a batch ahead: what the CLI ran, in order, and what went wrong."""

    acked: int = 0
    """Lines of the batch whose echo came back as sent, in order (a prefix of the batch)."""
    answers: list[str] = field(default_factory=list)
    """What the CLI answered to each of those lines."""
    refusals: list[Refusal] = field(default_factory=list)
    lost: bool = False
    """An echo was not the line typed there: the switch dropped type-ahead. Typing stopped, and the exchange read on
    until a sync line's echo came back whole, so that ``strays`` holds everything else the CLI ran."""
    closed: bool = False
    """The CLI hung up (a line typed ahead after a refusal ran at the wrong level: ``exit`` at the exec prompt)."""
    strays: list[Record] = field(default_factory=list)
    """Records of lines the CLI ran that were not the next line typed (after type-ahead was lost)."""

    def unexpected(self, dialect: Dialect, lines: Sequence[Line]) -> list[str]:
        """Lines the CLI ran and accepted that are none of the batch's: the harm lost type-ahead did, by name."""
        sent = {line.text for line in lines}
        return [
            r.echo.strip()
            for r in self.strays
            if r.echo.strip()
            and r.echo.strip() not in sent
            and error_reason(dialect, "\n".join(r.answer)) is None
        ]


class Records:
    """Splits what a CLI prints into records, each ended by the prompt the next line is read at. The stream starts
    right after a prompt (the one the previous exchange ended at)."""

    def __init__(self, prompt_at: Callable[[str, bool], int | None], prompt: str = "") -> None:
        self._prompt_at = prompt_at
        self._tail = ""
        self._open: Record | None = None
        self.prompt = prompt
        self.size = 0

    def feed(self, text: str) -> list[Record]:
        """The records ``text`` completes."""
        self.size += len(text)
        if self.size > MAX_ANSWER:
            raise Garbled(f"more than {MAX_ANSWER} characters typed ahead and answered, and no end")
        done: list[Record] = []
        *complete, self._tail = (self._tail + text).split("\n")
        for line in complete:
            self._line(line, done)
        # a prompt alone on the last line ends the open record; the next line's echo follows it on that line
        if self._prompt_at(self._tail, True) is not None:
            self._close(done)
            self.prompt, self._tail = self._tail, ""
        return done

    def _line(self, line: str, done: list[Record]) -> None:
        if self._open is None:
            self._open = Record(self.prompt, line)
            return
        at = self._prompt_at(line, False)
        if at is None:
            self._open.answer.append(line)
            return
        done.append(self._open)
        self.prompt = line[:at]
        self._open = Record(self.prompt, line[at:])

    def _close(self, done: list[Record]) -> None:
        if self._open is not None:
            done.append(self._open)
            self._open = None


class Shell:
    """A shell channel with a prompt: a command at a time (``run``); ``TypeAhead`` and ``Load`` type batches ahead
    on it."""

    def __init__(self, process: asyncssh.SSHClientProcess[str], dialect: Dialect) -> None:
        self.process = process
        self.dialect = dialect
        self.host: str | None = None
        self._prompt = re.compile(dialect.prompt)
        self.echoes = True
        """Whether every setup command came back echoed: type-ahead is checked by its echoes."""
        self.round_trip = 0.05
        """The quickest answer seen (s): a silence much longer than this while lines are outstanding is worth a
        sync line."""
        self._probes = 0
        self.last_echoed = True

    @property
    def closed(self) -> bool:
        return self.process.is_closing() or self.process.stdout.at_eof()

    @property
    def idle(self) -> float:
        """Silence (s) after which a sync line is typed while answers are outstanding (harmless when early)."""
        return max(0.05, 4 * self.round_trip)

    def prompt_at(self, text: str, whole: bool) -> int | None:
        """The length of this session's prompt at the start of ``text`` (all of it when ``whole``), or None."""
        m = self._prompt.fullmatch(text) if whole else self._prompt.match(text)
        if m is None or (self.host is not None and m["host"] != self.host):
            return None
        return m.end()

    def _at_prompt(self, buffer: str) -> bool:
        last = buffer.rsplit("\n", 1)[-1]
        m = self._prompt.fullmatch(last)
        if m is None:
            return False
        if self.host is None:
            self.host = m["host"]
            return True
        return m["host"] == self.host

    async def read_some(self, timeout: float) -> str:
        """What the CLI printed next ("" when it hung up); TimeoutError after ``timeout`` s of silence."""
        # cancelling asyncssh's read while it waits loses nothing: data is taken from its buffer only on return
        async with asyncio.timeout(timeout):
            chunk = await self.process.stdout.read(65536)
        return chunk.replace("\r", "")

    async def read_to_prompt(self, timeout: float) -> str:
        buffer = ""
        async with asyncio.timeout(timeout):
            while not self._at_prompt(buffer):  # bounded by the timeout and by MAX_ANSWER
                chunk = await self.process.stdout.read(65536)
                if not chunk:
                    raise Dropped()
                buffer += chunk.replace("\r", "")
                if len(buffer) > MAX_ANSWER:
                    raise Garbled(f"an answer longer than {MAX_ANSWER} characters, and no prompt")
        return buffer

    async def start(self, timeout: float) -> None:
        await self.read_to_prompt(timeout)

    def write(self, text: str) -> None:
        """Type ``text``; into a channel the CLI closed, nothing: the next read finds its end, and everything the
        CLI ran before it hung up was echoed by then."""
        if self.process.stdin.is_closing() or self.closed:
            return
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(text)

    async def run(self, command: str, timeout: float) -> str:
        """The answer to ``command``, without its echo and the prompt that follows."""
        started = time.perf_counter()
        self.write(command + "\n")
        buffer = await self.read_to_prompt(timeout)
        lines = buffer.split("\n")[:-1]  # the last line is the prompt
        echoed = bool(lines) and lines[0].rstrip().endswith(command)
        if echoed:
            lines = lines[1:]
        self.last_echoed = echoed
        self.round_trip = min(self.round_trip, time.perf_counter() - started)
        return "\n".join(lines)

    async def expect(self, pattern: str, typed: int, timeout: float) -> tuple[bool, str]:
        """After ``typed`` lines: read until a line matches ``pattern`` (True), or until the CLI has answered every
        one of them with its prompt (False); and what it printed."""
        records = Records(self.prompt_at)
        answered = 0
        text = ""
        async with asyncio.timeout(timeout):
            while True:  # bounded by the timeout and by MAX_ANSWER (Records)
                chunk = await self.process.stdout.read(65536)
                if not chunk:
                    raise Dropped()
                chunk = chunk.replace("\r", "")
                text += chunk
                answered += len(records.feed(chunk))
                if any(re.match(pattern, line) for line in text.split("\n")[:-1]):
                    return True, text
                if answered >= typed:
                    return False, text

    def probe_line(self) -> str:
        """A new sync line: the dialect's comment and a number this session never typed before."""
        self._probes += 1
        return f"{self.dialect.sync} kavlan sync {self._probes}"


# --- type-ahead ----------------------------------------------------------------------------------------------


class Window:
    """The lines of a batch typed so far, and the bytes of them whose echo has not come back: never more than
    ``size`` (but always one line), so that the switch's input buffer never holds more than it takes."""

    def __init__(self, lines: Sequence[Line], size: int) -> None:
        self.lines = list(lines)
        self.size = size
        self.sent = 0
        self.in_flight = 0

    def refill(self, shell: Shell) -> None:
        batch: list[str] = []
        while self.sent < len(self.lines):
            size = len(self.lines[self.sent].text) + 1
            if self.in_flight and self.in_flight + size > self.size:
                break
            batch.append(self.lines[self.sent].text)
            self.in_flight += size
            self.sent += 1
        if batch:
            shell.write("\n".join(batch) + "\n")

    def echoed(self, index: int) -> Line:
        """Line ``index`` came back: its bytes left the switch's buffer."""
        line = self.lines[index]
        self.in_flight -= len(line.text) + 1
        return line


class TypeAhead:
    """Types a batch ahead of the CLI's answers: never more than ``window`` bytes whose echo has not come back (what
    the switch's input buffer takes), each echo checked against the line typed there, each answer's error attributed
    to that line. A refusal stops the typing; the lines already typed are read back to the prompt. An echo that is not
    the line typed (or a sync line's echo arriving before the lines typed before it) means the switch dropped
    type-ahead: typing stops, and sync lines are typed until the last one's echo comes back whole, so that everything
    the CLI ran is known."""

    def __init__(self, shell: Shell, lines: Sequence[Line], window: int, timeout: float) -> None:
        self.shell = shell
        self.lines = list(lines)
        self.window = Window(lines, window)
        self.timeout = timeout
        self.typed = Typed()
        self.halted = False
        self.probes: dict[str, int] = {}
        """Sync lines typed, and how many lines of the batch were typed before each."""
        self.last_probe: str | None = None
        self.synced = True

    async def run(self) -> Typed:
        loop = asyncio.get_running_loop()
        records = Records(self.shell.prompt_at)
        heard = loop.time()
        while not self._done():  # bounded: each pass reads, and silence ends it after ``timeout``
            if not self.halted:
                self.window.refill(self.shell)
            try:
                chunk = await self.shell.read_some(min(self.shell.idle, self.timeout))
            except TimeoutError:
                if loop.time() - heard >= self.timeout:
                    line = self.lines[min(self.typed.acked, len(self.lines) - 1)]
                    raise Silent(line, self.typed.lost) from None
                self._probe()  # lines outstanding and nothing heard: dropped, or a slow switch
                continue
            if not chunk:
                self.typed.closed = True
                break
            heard = loop.time()
            for record in records.feed(chunk):
                self._account(record)
        return self.typed

    def _done(self) -> bool:
        if self.typed.lost:
            return self.synced
        finished = self.halted or self.window.sent == len(self.lines)
        return finished and self.typed.acked == self.window.sent and self.synced

    def _probe(self) -> None:
        budget = 2 * MAX_PROBES if self.typed.lost else MAX_PROBES  # a loss always gets sync lines of its own
        if not self.shell.dialect.sync or len(self.probes) >= budget:
            return
        line = self.shell.probe_line()
        self.probes[line] = self.window.sent
        self.last_probe, self.synced = line, False
        self.shell.write(line + "\n")

    def _lose(self) -> None:
        if not self.typed.lost:
            self.typed.lost = self.halted = True
            self.synced = False  # until the echo of a sync line typed from now on comes back whole
            self._probe()

    def _account(self, record: Record) -> None:
        echo = record.echo.strip()
        typed = self.typed
        if echo in self.probes:
            if echo == self.last_probe:
                self.synced = True
            if typed.acked < self.probes[echo]:
                self._lose()  # lines typed before the sync line never ran
            return
        if not typed.lost and typed.acked < self.window.sent and echo == self.lines[typed.acked].text:
            line = self.window.echoed(typed.acked)
            typed.acked += 1
            typed.answers.append("\n".join(record.answer))
            reason = error_reason(self.shell.dialect, typed.answers[-1])
            if reason is not None:
                typed.refusals.append(Refusal(line.text, line.port, reason))
                self.halted = True
            return
        typed.strays.append(record)
        self._lose()


# --- a terminal load (Junos) -----------------------------------------------------------------------------------


@dataclass
class Loaded:
    """The outcome of a terminal load: whether every line's echo came back as sent, and what the load refused."""

    lost: bool = False
    refusals: list[Refusal] = field(default_factory=list)


class Load:
    """Types a batch into a terminal load (the CLI already reading it): in windows of ``window`` bytes whose echo has
    not come back, each echo checked; then ends the input and reads the load's verdict, each error attributed by the
    line number the switch gives. Nothing applies before the commit, so a lost echo costs only a rollback."""

    def __init__(self, shell: Shell, lines: Sequence[Line], window: int, timeout: float) -> None:
        self.shell = shell
        self.lines = list(lines)
        self.window = Window(lines, window)
        self.timeout = timeout
        self.echoed = 0

    async def run(self) -> Loaded:
        loaded = Loaded()
        tail = ""
        # no sync line can be typed into a load: the end of the input (^D) is typed once the CLI has gone quiet, when
        # its editor takes it whatever its buffer holds; a silence before every echo came back counts as lost
        idle = min(self.timeout, max(1.0, 10 * self.shell.round_trip))
        while loaded.lost or self.echoed < len(self.lines):  # bounded: a silence ends it
            if not loaded.lost:
                self.window.refill(self.shell)
            try:
                chunk = await self.shell.read_some(idle)
            except TimeoutError:
                if idle >= self.timeout and not loaded.lost:
                    raise Silent(self._waited()) from None
                loaded.lost = True
                break
            if not chunk:
                raise Dropped()
            *complete, tail = (tail + chunk).split("\n")
            loaded.lost = loaded.lost or not all(self._account(line) for line in complete)
        self.shell.write(self.shell.dialect.load_end)
        try:
            answer = tail + await self.shell.read_to_prompt(self.timeout)
        except TimeoutError:
            raise Silent(self._waited(), loaded.lost) from None
        for index, reason in sorted(load_errors(self.shell.dialect, answer).items()):
            line = self.lines[index] if 0 <= index < len(self.lines) else Line(f"line {index + 1}")
            loaded.refusals.append(Refusal(line.text, line.port, reason))
        refused = error_reason(self.shell.dialect, answer)
        if not loaded.refusals and refused is not None:
            loaded.refusals.append(Refusal(self.shell.dialect.load[-1], "", refused))  # the load as a whole
        return loaded

    def _waited(self) -> Line:
        """The first line whose echo did not come back."""
        return self.lines[min(self.echoed, len(self.lines) - 1)]

    def _account(self, echo: str) -> bool:
        if self.echoed < self.window.sent and echo.strip() == self.lines[self.echoed].text:
            self.window.echoed(self.echoed)
            self.echoed += 1
            return True
        return False
