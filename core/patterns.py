"""Node-naming patterns and the board's filter queries, for every face: ``suno-[1-10]`` (numeric ranges, which
expand), ``suno-1*`` (wildcards, matched against known names), natural order (suno-2 before suno-10), and queries
such as ``sw2 vlan:4 job:1000 user:alice down drift`` matched against what is known of a node."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

from .errors import BadInput

MAX_EXPANSION = 100_000
"""Names one pattern may expand to: a typo such as ``[1-1000000]`` is refused rather than filling memory."""
WILDCARDS = "*?"
_ITEM = re.compile(r"(?P<lo>\d+)(?:-(?P<hi>\d+))?")


class BadPattern(BadInput):
    """A pattern that cannot be read (an unclosed or non-numeric range, a range backwards, too many names)."""


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key putting ``suno-2`` before ``suno-10``: digit runs compare as numbers, the rest as text
    (case-insensitively); each part is tagged so that numbers and text never compare with each other."""
    parts = re.split(r"(\d+)", text)
    key = [(0, int(p), "") if i % 2 else (1, 0, p.lower()) for i, p in enumerate(parts) if p or i == 0]
    key.append((2, 0, text))  # ``suno-02`` and ``suno-2``, ``A`` and ``a``: still one order
    return tuple(key)


@dataclass(frozen=True, slots=True)
class Span:
    """The numbers of one ``[...]``: ranges ``(lo, hi)``, written ``width`` digits wide (0: no padding)."""

    ranges: tuple[tuple[int, int], ...]
    width: int

    def numbers(self) -> Iterable[str]:
        for lo, hi in self.ranges:
            for n in range(lo, hi + 1):
                yield str(n).zfill(self.width)

    @property
    def count(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def regex(self) -> str:
        """The numbers of the span and only they, as a maximal run of digits (``[1-3]`` never matches ``12``)."""
        pieces = [piece for lo, hi in self.ranges for piece in _range_pieces(lo, hi, self.width)]
        return r"(?<!\d)(?:" + "|".join(pieces) + r")(?!\d)"


def _range_pieces(lo: int, hi: int, width: int) -> list[str]:
    """Regexes whose union matches exactly the numbers lo..hi (zero-padded to ``width``): the range is cut into
    blocks that differ in one digit and run over the digits after it; 7-234 is 7-9, 10-99, 100-199, 200-229,
    230-234: ``[7-9]``, ``[1-9]\\d``, ``1\\d{2}``, ``2[0-2]\\d``, ``23[0-4]``."""
    out = []
    start = lo
    if start == 0:  # 0 is a multiple of every block size: a block of its own
        out.append("0".zfill(width))
        start = 1
    while start <= hi:
        step = 1
        while start % (step * 10) == 0 and start + step * 10 - 1 <= hi:
            step *= 10
        block_end = min(hi, (start // (step * 10) + 1) * step * 10 - 1)
        end = start + (block_end - start + 1) // step * step - 1
        first, last = str(start).zfill(width), str(end).zfill(width)
        k = len(str(step)) - 1  # trailing digits that run over 0-9
        head = len(first) - k - 1
        digit = first[head] if first[head] == last[head] else f"[{first[head]}-{last[head]}]"
        out.append(re.escape(first[:head]) + digit + ("" if not k else r"\d" if k == 1 else rf"\d{{{k}}}"))
        start = end + 1
    return out


Part = str | Span
"""A piece of a pattern: literal text (where ``*`` and ``?`` are wildcards), or a numeric span."""


def _span(body: str, pattern: str) -> Span:
    ranges = []
    width = 0
    for item in body.split(","):
        m = _ITEM.fullmatch(item.strip())
        if m is None:
            raise BadPattern(
                f"{pattern!r}: [{body}] is not a range of numbers (write suno-[1-10] or suno-[1,3,5-7])"
            )
        lo_text, hi_text = m["lo"], m["hi"] or m["lo"]
        lo, hi = int(lo_text), int(hi_text)
        if hi < lo:
            raise BadPattern(f"{pattern!r}: the range {item.strip()} goes backwards (write [{hi}-{lo}])")
        if lo_text.startswith("0") and len(lo_text) > 1:
            width = max(width, len(lo_text))  # node-[01-10]: node-01 ... node-10, as nodesets write them
        ranges.append((lo, hi))
    return Span(tuple(ranges), width)


def parts(pattern: str) -> list[Part]:
    """Split a pattern into literal text and numeric spans; raises BadPattern on a malformed range."""
    out: list[Part] = []
    rest = pattern
    while rest:
        opening = rest.find("[")
        closing = rest.find("]")
        if closing != -1 and (opening == -1 or closing < opening):
            raise BadPattern(f"{pattern!r}: a range ends with ] that no [ opened")
        if opening == -1:
            out.append(rest)
            break
        end = rest.find("]", opening)
        if end == -1:
            raise BadPattern(f"{pattern!r}: a range opens with [ and does not close")
        if opening:
            out.append(rest[:opening])
        out.append(_span(rest[opening + 1 : end], pattern))
        rest = rest[end + 1 :]
    return out


def is_pattern(word: str) -> bool:
    """Whether a word is a pattern (a range or a wildcard) rather than one name."""
    return any(c in word for c in "[]" + WILDCARDS)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern: ``matches`` says whether a whole name fits it (case-insensitively)."""

    text: str
    regex: re.Pattern[str]
    wild: bool
    """It has ``*`` or ``?``: it can name known things only, it does not expand."""

    def matches(self, name: str) -> bool:
        return self.regex.fullmatch(name) is not None


def compile_pattern(text: str) -> Pattern:
    pieces = []
    for part in parts(text):
        if isinstance(part, Span):
            pieces.append(part.regex())
        else:
            pieces.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part))
    wild = any(c in text for c in WILDCARDS)
    return Pattern(text, re.compile("".join(pieces), re.IGNORECASE | re.DOTALL), wild)


def expand(pattern: str, limit: int = MAX_EXPANSION) -> list[str]:
    """Every name a pattern of ranges writes, in order: ``suno-[1-3]`` is suno-1, suno-2, suno-3. A pattern with
    wildcards names only known things: see ``expand_names``."""
    if any(c in pattern for c in WILDCARDS):
        raise BadPattern(f"{pattern!r} has wildcards: it can only be matched against the testbed's names")
    split = parts(pattern)
    total = 1
    for part in split:
        if isinstance(part, Span):
            total *= part.count
    if total > limit:
        raise BadPattern(f"{pattern!r} names {total} nodes: more than {limit}, is a range mistyped?")
    choices = [[p] if isinstance(p, str) else list(p.numbers()) for p in split]
    return ["".join(combo) for combo in product(*choices)]


@dataclass(frozen=True, slots=True)
class Expansion:
    """What one word of the user's became: the word, and the names it stands for."""

    word: str
    names: tuple[str, ...]


def expand_names(words: Iterable[str], known: Sequence[str]) -> tuple[list[str], list[Expansion]]:
    """The names a list of words stands for, in order: a plain name is itself, a range expands, a pattern with
    wildcards is matched against ``known`` (the testbed's node names; FQDNs when the pattern has a dot), in
    natural order. Also what each pattern became; raises BadPattern for a pattern that names nothing."""
    names: list[str] = []
    expansions: list[Expansion] = []
    for word in words:
        if not is_pattern(word):
            names.append(word)
            continue
        if any(c in word for c in WILDCARDS):
            pattern = compile_pattern(word)
            dotted = "." in word
            found = sorted((k for k in known if ("." in k) == dotted and pattern.matches(k)), key=natural_key)
            if not found:
                raise BadPattern(f"{word!r} matches no node of the testbed")
        else:
            found = expand(word)
        names += found
        expansions.append(Expansion(word, tuple(found)))
    return names, expansions


def describe_expansion(expansion: Expansion, shown: int = 6) -> str:
    """``suno-[1-10] expands to 10 names: suno-1, suno-2, ... suno-10`` (``suno-1* matches ...`` for wildcards)."""
    names = list(expansion.names)
    listed = ", ".join(names) if len(names) <= shown else ", ".join(names[: shown - 1]) + f", … {names[-1]}"
    count = len(names)
    verb = "matches" if any(c in expansion.word for c in WILDCARDS) else "expands to"
    return f"{expansion.word} {verb} {count} name{'s' if count != 1 else ''}: {listed}"


# --- queries: the board's filter --------------------------------------------------------------------------

TEXT_FIELDS = ("name", "cluster", "site", "switch", "port", "address", "mac", "user", "nic")
"""What a bare word is looked for in (a part of any of them, or all of one with a pattern)."""
EXACT_FIELDS = ("vlan", "job")
"""Fields whose value must be the whole value (``vlan:4`` is not VLAN 14): numbers."""
ALIASES = {
    "node": "name",
    "host": "name",
    "sw": "switch",
    "ip": "address",
    "lease": "address",
    "owner": "user",
}
FLAGS = ("down", "up", "drift", "mine", "selected")
"""Words that test a state rather than a name: ``down`` (did not answer), ``drift`` (≠), ``mine``..."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What a query is matched against for one node: text values per field, and the states it is in."""

    values: Mapping[str, Sequence[str]]
    flags: frozenset[str] = frozenset()
    text: str = field(default="", init=False)
    """Every value a bare word is looked for in, one a line: one search instead of one per value."""

    def __post_init__(self) -> None:
        # in lower case once, not at each match: the filter matches the same facts at every key
        lowered = {name: tuple(v.lower() for v in vs) for name, vs in self.values.items()}
        object.__setattr__(self, "values", lowered)
        object.__setattr__(self, "text", "\n".join(v for name in TEXT_FIELDS for v in lowered.get(name, ())))


@dataclass(frozen=True, slots=True)
class Term:
    """One word of a query: a state (``down``), a field's value (``vlan:4``) or a bare word; ``!`` negates it."""

    text: str
    field: str | None = None
    flag: str | None = None
    pattern: Pattern | None = None
    negated: bool = False

    def matches(self, facts: Facts) -> bool:
        return self._holds(facts) != self.negated

    def _holds(self, facts: Facts) -> bool:
        if self.flag is not None:
            return self.flag in facts.flags
        if self.field is None and self.pattern is None:
            return self.text in facts.text  # a word has no line break: it cannot span two values
        fields = (self.field,) if self.field else TEXT_FIELDS
        values = [v for f in fields for v in facts.values.get(f, ())]
        if self.pattern is not None:
            return any(self.pattern.matches(v) for v in values)
        if self.field in EXACT_FIELDS:
            return self.text in values
        return any(self.text in v for v in values)


@dataclass(frozen=True, slots=True)
class Query:
    """Words that must all hold (a node matches when every term does); the empty query matches every node."""

    text: str
    terms: tuple[Term, ...]

    def matches(self, facts: Facts) -> bool:
        return all(t.matches(facts) for t in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def _term(word: str) -> Term | None:
    negated = word.startswith("!")
    body = word[1:] if negated else word
    field, sep, value = body.partition(":")
    field = ALIASES.get(field.lower(), field.lower())
    if sep and field in TEXT_FIELDS + EXACT_FIELDS:
        if not value:
            return None  # ``vlan:`` while it is typed: no condition yet
        pattern = compile_pattern(value) if is_pattern(value) else None
        return Term(value.lower(), field=field, pattern=pattern, negated=negated)
    if not body:
        return None
    if body.lower() in FLAGS:
        return Term(body.lower(), flag=body.lower(), negated=negated)
    pattern = compile_pattern(body) if is_pattern(body) else None
    return Term(body.lower(), pattern=pattern, negated=negated)


def parse_query(text: str) -> Query:
    """Read a filter: words separated by spaces, all of which must hold; raises BadPattern on a bad range."""
    terms = tuple(t for t in (_term(w) for w in text.split()) if t is not None)
    return Query(text, terms)
