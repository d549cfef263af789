"""The header line of a part of the board: a VLAN (kind, DHCP state as a toggle, holder, node count, site,
subnet, tag), or a cluster or switch when the board is grouped so; shortened part by part to fit its width."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from textual.content import Content

from kavlan_core.model import DEFAULT

from ..board import Section, SectionKey, VlanView

DHCP_MARK = {"on": ("$success", "● on"), "off": ("$text-muted", "○ off"), "failed": ("$error", "✗ failed")}
SEPARATOR = Content.from_markup("[$text-muted] · [/]")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def section_id(key: SectionKey) -> str:
    """The widget id of a part of the board: ``vlan-sophia-4``, ``cluster-suno``, ``switch-sophia-sw1`` (a name
    with characters an id cannot hold gets them replaced, and a checksum to stay unique)."""
    if isinstance(key[1], int):
        return f"vlan-{_safe(key[0])}-{key[1]}"
    return f"{key[0]}-{_safe(key[1])}"


def _safe(name: str) -> str:
    safe = _UNSAFE.sub("_", name)
    return safe if safe == name else f"{safe}-{zlib.crc32(name.encode()):08x}"


@dataclass
class Part:
    """A piece of the header in its forms, from the longest to the shortest, and the rank of each step it can
    give way by (to its next form, then out of the line): the lowest-ranked steps are taken first."""

    forms: list[Content]
    ranks: list[int]

    @property
    def content(self) -> Content:
        return self.forms[0]

    @property
    def next_rank(self) -> int | None:
        return self.ranks[0] if self.ranks and self.forms else None

    def give_way(self) -> None:
        self.ranks.pop(0)
        if len(self.forms) > 1:
            self.forms.pop(0)
        else:
            self.forms.clear()


def fitted(parts: list[Part], width: int) -> Content:
    """The parts joined by `` · ``, the least needed shortened or dropped until the line fits ``width``."""
    while True:
        text = SEPARATOR.join([p.content for p in parts if p.forms])
        steps = [p for p in parts if p.next_rank is not None]
        if text.cell_length <= width or not steps:
            return text
        min(steps, key=lambda p: p.next_rank or 0).give_way()


def header_content(section: Section, user: str, width: int = 1000, view_site: str = "") -> Content:
    """``▌ VLAN 4 routed · DHCP ● on · job #1000 yours · 3 nodes · sophia · 10.64.64.0/18 · tag 704`` (the DHCP
    mark runs the screen's ``toggle_dhcp`` action when clicked), or ``▌ cluster suno · 12 nodes``; what does not
    fit ``width`` gives way: the site where it is the view's, the kind, the subnet, the tag, words."""
    if section.vlan is None:
        return fitted(_group_parts(section), width)
    return fitted(_vlan_parts(section, section.vlan, user, view_site), width)


def _count(section: Section) -> Part:
    """``3 nodes``; ``your 3 of 186 nodes`` (the user's only); filtered: ``2 of 40 nodes match``."""
    count = len(section.nodes)
    s = "" if count == 1 else "s"
    if section.listed is not None:
        listed = str(section.listed)
        forms = [  # 1 of 40 nodes match; 1 of 1 node matches
            Content.from_markup(
                "[b $accent]$n[/] of $all $what",
                n=str(count),
                all=listed,
                what="node matches" if section.listed == 1 else "nodes match",
            ),
            Content.from_markup("[b $accent]$n[/] of $all", n=str(count), all=listed),
        ]
    elif section.only_mine and section.vlan is not None:
        total = str(len(section.vlan.nodes))
        forms = [
            Content.from_markup("your $n of $all nodes", n=str(count), all=total),
            Content.from_markup("$n of $all", n=str(count), all=total),
        ]
    else:
        forms = [Content.from_markup("$n node$s", n=str(count), s=s), Content(str(count))]
    return Part(forms, [5])


def _group_parts(section: Section) -> list[Part]:
    kind, name = section.group or ("", "")
    head = Content.from_markup("[$secondary]▌[/] $kind [b]$name[/]", kind=kind, name=name)
    return [Part([head], []), _count(section)]


def _vlan_parts(section: Section, v: VlanView, user: str, view_site: str) -> list[Part]:
    kind = f"$kind-{v.kind_word}"
    name = "DEFAULT" if v.id == DEFAULT else f"VLAN {v.id}"
    head = Content.from_markup(f"[{kind}]▌[/] [b]$name[/]", name=name)
    word = Content.from_markup(f"[{kind}]$word[/]", word=v.kind_word)
    # DEFAULT says what it is: "DEFAULT default" would only repeat it
    parts = [Part([head], []) if v.id == DEFAULT else Part([Content.assemble(head, " ", word), head], [3])]
    if v.id != DEFAULT:
        color, text = DHCP_MARK.get(v.dhcp, ("$warning", v.dhcp))
        action = f"screen.toggle_dhcp('{v.site}',{v.id})"
        mark = Content.from_markup(f"[{color} underline @click={action}]$text[/]", text=text)
        parts.append(Part([Content.assemble("DHCP ", mark), mark], [5]))
    if v.job is not None:
        whose = "[$success]yours[/]" if v.user == user else "[$text-muted]$user[/]"
        holder = Content.from_markup(whose, user=v.user or "?")
        number = Content(f"#{v.job}")
        forms = [Content.assemble("job ", number, " ", holder), Content.assemble(number, " ", holder), number]
        parts.append(Part(forms, [2, 5, 7]))
    parts.append(_count(section))
    if v.site != view_site:  # a site's own VLANs need not name it
        parts.append(Part([Content(v.site)], [6]))
    parts.append(Part([Content.from_markup("[$text-muted]$subnet[/]", subnet=v.subnet)], [4]))
    parts.append(Part([Content.from_markup("[$text-muted]tag $tag[/]", tag=str(v.tag))], [4]))
    return parts
