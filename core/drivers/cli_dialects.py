"""Vendor CLI dialects as frozen, validated data (what to type, what the answers mean), and the pure parsing of
those answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from .base import PortState


@dataclass(frozen=True)
class Dialect:
    """What one vendor CLI expects and answers. Command templates take {port}, {vlan} and {name}."""

    name: str
    prompt: str
    """Regex matching the whole last line when the CLI waits for a command; group ``host``."""
    setup: tuple[str, ...]
    """Once per session, before anything else: paging off. Their echoes tell whether the CLI echoes what it runs
    (type-ahead needs it)."""
    config_enter: tuple[str, ...]
    set_access: tuple[str, ...]
    """Per port: make it an access port of VLAN {vlan}."""
    create_vlan: tuple[str, ...]
    config_exit: tuple[str, ...]
    abort: tuple[str, ...]
    """Back to the exec prompt after a failure in configuration mode, dropping what is not committed."""
    show_port: tuple[str, ...]
    show_all: tuple[str, ...]
    show_vlan: str
    vlan_present: str
    """Regex (``{vlan}`` replaced by the tag) that finds the VLAN in ``show_vlan``'s answer."""
    errors: tuple[str, ...]
    """Regexes: a line of an answer matching one is the switch refusing the command."""
    record: str
    """Regex: a line of a show answer that starts (or belongs to) a port's record; group ``port``."""
    tag: str
    """Regex: the access VLAN in a port's record; group ``tag``, a number or a VLAN name."""
    trunk: str
    """Regex: a line saying the port is a trunk."""
    commit: tuple[str, ...] = ()
    save: tuple[str, ...] = ()
    locked: str | None = None
    """Regex: the commit was refused because another session holds the configuration database."""
    vlan_name: str | None = None
    """Regex over the show answer mapping VLAN names to tags; groups ``name`` and ``tag``."""
    type_ahead: int = 0
    """Bytes of a batch typed ahead of the CLI's echoes: a window its input buffer takes (the switch option
    ``type_ahead`` overrides it). 0: one line at a time, each after the prompt that answers the one before."""
    sync: str = ""
    """A line the CLI ignores in every mode (a comment), typed to find where it is after type-ahead was lost: its
    echo comes back after everything typed before it."""
    load: tuple[str, ...] = ()
    """In configuration mode, the commands after which the CLI reads the batch's lines from the terminal until
    ``load_end`` (Junos ``load set terminal``): nothing applies until the commit, so the whole batch is typed ahead,
    checked, then committed. Empty: lines typed ahead at the prompt, each applied as it is read."""
    load_ready: str = ""
    """Regex: the line saying the CLI reads the terminal now."""
    load_end: str = "\x04"
    """What ends the terminal's input (^D, typed at the start of a line)."""
    load_error: str = ""
    """Regex: a line of the load's answer naming an input line it refused; groups ``line`` (1-based) and
    ``reason``. The lines indented below it explain it."""

    def __post_init__(self) -> None:
        # a dialect is code the inventory selects: a broken pattern must fail at import, not at a switch
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in (
                "prompt",
                "record",
                "tag",
                "trunk",
                "locked",
                "vlan_name",
                "load_ready",
                "load_error",
            ):
                _compiles(self.name, f.name, value)
            elif f.name == "errors":
                for pattern in value:
                    _compiles(self.name, f.name, pattern)
        _compiles(self.name, "vlan_present", self.vlan_present.replace("{vlan}", "1"))
        if "host" not in re.compile(self.prompt).groupindex:
            raise ValueError(f"dialect {self.name}: the prompt pattern has no group 'host'")
        if not any("{port}" in t for t in self.set_access) or not any("{vlan}" in t for t in self.set_access):
            raise ValueError(f"dialect {self.name}: set_access must name {{port}} and {{vlan}}")
        if self.type_ahead < 0:
            raise ValueError(f"dialect {self.name}: type_ahead must be 0 or more bytes")
        if self.type_ahead and not (self.sync or self.load):
            raise ValueError(f"dialect {self.name}: type-ahead needs a sync line or a load command")
        if self.load and not (self.load_ready and self.load_error and self.load_end):
            raise ValueError(f"dialect {self.name}: a load needs load_ready, load_end and load_error")
        if self.sync and "\n" in self.sync:
            raise ValueError(f"dialect {self.name}: the sync line is one line")


def _compiles(dialect: str, field: str, pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"dialect {dialect}: {field} is not a regular expression ({exc})") from None


CISCO_IOS = Dialect(
    name="cisco_ios",
    prompt=r"(?P<host>[A-Za-z0-9_.\-]+)(?:\([A-Za-z0-9\-]+\))?[>#] ?",
    setup=("terminal length 0",),
    config_enter=("configure terminal",),
    set_access=("interface {port}", "switchport access vlan {vlan}", "exit"),
    create_vlan=("vlan {vlan}", "name {name}", "exit"),
    config_exit=("end",),
    abort=("end",),
    save=("write memory",),
    show_port=("show interfaces {port} switchport",),
    show_all=("show interfaces switchport",),
    show_vlan="show vlan id {vlan}",
    vlan_present=r"^{vlan}\s+\S+\s+(?:active|act/)",
    errors=(
        r"^% ?(?:Invalid|Incomplete|Ambiguous|Unknown|Unrecognized|Bad|Error)\b.*",
        r"^Command rejected:.*",
    ),
    record=r"^Name:\s*(?P<port>\S+)",
    tag=r"^Access Mode VLAN:\s*(?P<tag>\d+)",
    trunk=r"^Administrative Mode:\s*trunk",
    # a vty's input: 1 KB in flight keeps the switch busy up to ~80 ms of round trip at 2 ms a line
    type_ahead=1024,
    sync="!",
)

JUNOS = Dialect(
    name="junos",
    prompt=r"(?:[A-Za-z0-9_.\-]+@)?(?P<host>[A-Za-z0-9_.\-]+)[>#] ?",
    setup=("set cli screen-length 0", "set cli screen-width 0"),
    # plain "configure" shares the candidate: another session's exclusive lock shows at commit time
    config_enter=("configure",),
    set_access=(
        # "set ... vlan members" adds a member: drop the old one first
        "delete interfaces {port} unit 0 family ethernet-switching vlan members",
        "set interfaces {port} unit 0 family ethernet-switching vlan members {vlan}",
    ),
    create_vlan=("set vlans {name} vlan-id {vlan}",),
    # leaves configuration mode only when the commit passed: one round trip fewer than commit, then exit
    commit=("commit and-quit",),
    config_exit=(),
    # the candidate is shared: leaving changes in it would let someone else's commit apply them
    abort=("rollback 0", "exit configuration-mode"),
    save=(),  # a commit is already saved
    show_port=(
        "show configuration interfaces {port} | display set",
        "show configuration vlans | display set",
    ),
    show_all=(
        "show configuration interfaces | display set | match ethernet-switching",
        "show configuration vlans | display set",
    ),
    show_vlan="show configuration vlans | display set",
    vlan_present=r"^set vlans \S+ vlan-id {vlan}$",
    errors=(
        r"^\s*error:.*",
        r"^syntax error.*",
        r"^unknown command\..*",
        r"^invalid (?:value|interface)\b.*",
    ),
    locked=r"configuration database locked by",
    record=r"^set interfaces (?P<port>\S+) ",
    tag=r"ethernet-switching vlan members (?P<tag>\S+)$",
    trunk=r"ethernet-switching interface-mode trunk$",
    vlan_name=r"^set vlans (?P<name>\S+) vlan-id (?P<tag>\d+)$",
    type_ahead=1024,
    load=("load set terminal",),
    load_ready=r"^\[Type \^D at a new line to end input\]",
    # "^Dterminal:1:(41) syntax error: topology": the echoed ^D, then the input line and column it refused
    load_error=r"^(?:\^D)?terminal:(?P<line>\d+):\(\d+\)\s+(?!warning\b)(?P<reason>\S.*)",
)

DELL_OS10 = Dialect(
    name="dell_os10",
    prompt=r"(?P<host>[A-Za-z0-9_.\-]+)(?:\([A-Za-z0-9_.\-/]+\))?[>#] ?",
    setup=("terminal length 0",),
    config_enter=("configure terminal",),
    set_access=("interface {port}", "switchport access vlan {vlan}", "exit"),
    create_vlan=("interface vlan{vlan}", "description {name}", "exit"),
    config_exit=("end",),
    abort=("end",),
    save=("copy running-configuration startup-configuration",),
    show_port=("show interface switchport {port}",),
    show_all=("show interface switchport",),
    show_vlan="show vlan",
    vlan_present=r"^[\s*@]*{vlan}\s+(?:up|down|active|inactive)\b",
    errors=(r"^% ?Error:.*",),
    record=r"^Name:\s*(?P<port>\S+)",
    tag=r"^U\s+(?P<tag>\d+)\s*$",
    trunk=r"^T\s+\d",
    type_ahead=1024,
    sync="!",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (CISCO_IOS, JUNOS, DELL_OS10)}


# --- parsing answers -----------------------------------------------------------------------------------------


def mentions(text: str, port: str) -> bool:
    """Whether ``text`` names ``port`` (ge-0/0/1 in "ge-0/0/1.0", not in "ge-0/0/10")."""
    return re.search(rf"(?<![A-Za-z0-9/:\-]){re.escape(port)}(?![A-Za-z0-9/:\-])", text) is not None


def port_key(name: str) -> tuple[str, str]:
    """``GigabitEthernet1/0/1`` and ``Gi1/0/1`` (or ``ethernet1/1/1`` and ``Eth1/1/1``) name one port."""
    m = re.fullmatch(r"([A-Za-z]*)(.*)", name)
    assert m is not None
    return m[1][:2].lower(), m[2].lower()


def parse_ports(dialect: Dialect, text: str) -> dict[str, PortState]:
    """Port states from show output, keyed by the names the switch printed."""
    names: dict[str, int] = {}
    if dialect.vlan_name:
        names = {m["name"]: int(m["tag"]) for m in re.finditer(dialect.vlan_name, text, re.M)}
    tags: dict[str, list[int | None]] = {}
    trunks: set[str] = set()
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        m = re.search(dialect.record, line)
        if m:
            current = m["port"]
            tags.setdefault(current, [])
        if current is None:
            continue
        t = re.search(dialect.tag, line)
        if t:
            value = t["tag"]
            tags[current].append(int(value) if value.isdigit() else names.get(value))
        if re.search(dialect.trunk, line):
            trunks.add(current)
    out = {}
    for port, found in tags.items():
        distinct = set(found)
        trunk = port in trunks or len(distinct) > 1
        out[port] = PortState(None if trunk or len(distinct) != 1 else found[0], trunk=trunk)
    return out


def _shorten(reason: str) -> str:
    return reason if len(reason) <= 400 else reason[:397] + "..."


def error_reason(dialect: Dialect, answer: str) -> str | None:
    """The switch's error line in an answer (with the lines that explain it), or None when it accepted."""
    lines = [line for line in answer.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if any(re.match(p, line) for p in dialect.errors):
            # Junos explains above ("[edit interfaces ...] 'vlan' ...") or below (who holds the lock)
            context = [
                c.strip()
                for j, c in enumerate(lines)
                if j != i and c.strip() != "[edit]" and not re.fullmatch(r"\s*\^\s*", c)
            ]
            reason = line.strip()
            if context:
                reason = f"{reason} ({' '.join(context)})"
            return _shorten(reason)
    return None


def load_errors(dialect: Dialect, answer: str) -> dict[int, str]:
    """The input lines a terminal load refused (0-based) and the switch's reason for each, with the indented lines
    that explain it."""
    found: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in answer.splitlines():
        m = re.match(dialect.load_error, line)
        if m:
            current = found.setdefault(int(m["line"]) - 1, [m["reason"].strip()])
        elif current is not None and line[:1].isspace() and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {
        index: _shorten(f"{parts[0]} ({' '.join(parts[1:])})" if len(parts) > 1 else parts[0])
        for index, parts in found.items()
    }
