"""The header line of a VLAN on the board: kind, DHCP state (a toggle), holder, node count, site, subnet, tag."""

from __future__ import annotations

from textual.content import Content

from kavlan_core.model import DEFAULT

from ..board import Section, VlanKey

DHCP_MARK = {"on": ("$success", "● on"), "off": ("$text-muted", "○ off"), "failed": ("$error", "✗ failed")}


def section_id(key: VlanKey) -> str:
    """The widget id of a VLAN's section: ``vlan-sophia-4``."""
    return f"vlan-{key[0]}-{key[1]}"


def header_content(section: Section, user: str) -> Content:
    """``▌ VLAN 4 routed · DHCP ● on · job #1000 yours · 3 nodes · sophia 10.64.64.0/18 · tag 704``; the DHCP
    mark runs the screen's ``toggle_dhcp`` action when clicked."""
    v = section.vlan
    kind = f"$kind-{v.kind_word}"
    name = "DEFAULT" if v.id == DEFAULT else f"VLAN {v.id}"
    dot = Content.from_markup("[$text-muted] · [/]")
    parts: list[Content | str] = [
        Content.from_markup(f"[{kind}]▌[/] [b]$name[/] [{kind}]$word[/]", name=name, word=v.kind_word),
    ]
    if v.id != DEFAULT:
        color, text = DHCP_MARK.get(v.dhcp, ("$warning", v.dhcp))
        action = f"screen.toggle_dhcp('{v.site}',{v.id})"
        parts += [dot, Content.from_markup(f"DHCP [{color} underline @click={action}]$text[/]", text=text)]
    if v.job is not None:
        whose = "[$success]yours[/]" if v.user == user else "[$text-muted]$user[/]"
        parts += [dot, Content.from_markup(f"job #$job {whose}", job=str(v.job), user=v.user or "?")]
    count = len(section.nodes)
    parts.append(dot)
    if section.only_mine:
        parts.append(Content.from_markup("your $n of $all nodes", n=str(count), all=str(len(v.nodes))))
    else:
        parts.append(Content.from_markup("$n node$s", n=str(count), s="" if count == 1 else "s"))
    parts += [
        dot,
        Content.from_markup(
            "$site [$text-muted]$subnet · tag $tag[/]", site=v.site, subnet=v.subnet, tag=str(v.tag)
        ),
    ]
    return Content.assemble(*parts)
