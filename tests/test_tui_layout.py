"""How the board's lines fit their width, without running the app: VLAN headers shortened part by part (never
run together, never with double spaces, whole where the width allows), and dialogs sharing a short screen."""

from __future__ import annotations

import pytest

from kavlan_core.model import DEFAULT, VlanKind
from kavlan_tui.board import Section, VlanView
from kavlan_tui.screens.fitting import FEWEST, shares
from kavlan_tui.widgets.vlan_header import header_content

WIDTHS = [30, 40, 50, 60, 70, 80, 90, 100, 120, 160, 200, 250]


def vlan(vid: int, kind: VlanKind, *, job: int | None = None, user: str | None = None) -> VlanView:
    return VlanView(
        site="sophia",
        id=vid,
        kind=kind,
        subnet="10.64.64.0/18" if vid else "10.64.0.0/18",
        tag=700 + vid if vid else 100,
        job=job,
        user=user,
        dhcp="on",
        nodes=[],
        refusal=None,
        dhcp_refusal=None,
    )


SECTIONS = {
    "DEFAULT": Section(vlan(DEFAULT, VlanKind.DEFAULT), ()),
    "DEFAULT, filtered": Section(vlan(DEFAULT, VlanKind.DEFAULT), (), listed=186),
    "routed, held": Section(vlan(4, VlanKind.ROUTED, job=1000, user="alice"), ()),
    "routed, held, filtered": Section(vlan(4, VlanKind.ROUTED, job=1000, user="alice"), (), listed=40),
    "local, of another site": Section(vlan(2, VlanKind.LOCAL, job=1001, user="bob"), ()),
}


@pytest.mark.parametrize("name", SECTIONS)
def test_a_vlan_header_fits_its_width_and_reads_well_at_every_width(name: str) -> None:
    section = SECTIONS[name]
    whole = header_content(section, "alice", 1000, view_site="sophia").plain
    for width in WIDTHS:
        text = header_content(section, "alice", width, view_site="sophia").plain
        assert "  " not in text, f"double space at {width}: {text!r}"
        assert "DEFAULTdefault" not in text and "DEFAULT default" not in text, text
        assert " ·  · " not in text and not text.endswith(" · "), text
        if len(whole) <= width:
            assert text == whole, f"cut at {width} though it fits"
            assert "10.64." in text and "tag " in text, "subnet and tag, where they fit"
        else:
            assert len(text) <= width or width < 40, f"{len(text)} > {width}: {text!r}"


def test_a_vlan_header_drops_the_least_needed_first() -> None:
    section = SECTIONS["routed, held"]
    assert header_content(section, "alice", 1000, "sophia").plain == (
        "▌ VLAN 4 routed · DHCP ● on · job #1000 yours · 0 nodes · 10.64.64.0/18 · tag 704"
    )
    assert (
        header_content(section, "alice", 60, "sophia").plain
        == "▌ VLAN 4 · DHCP ● on · #1000 yours · 0 nodes · tag 704"
    )
    assert header_content(SECTIONS["DEFAULT, filtered"], "alice", 1000, "sophia").plain == (
        "▌ DEFAULT · 0 of 186 nodes match · 10.64.0.0/18 · tag 100"
    )
    other = header_content(SECTIONS["local, of another site"], "alice", 1000, "lille").plain
    assert "#1001 bob" in other and "sophia" in other, "a VLAN of another site names it, and its holder"


def test_a_filtered_count_reads_well_for_one_node() -> None:
    one = Section(vlan(4, VlanKind.ROUTED), (), listed=1)
    assert "0 of 1 node matches" in header_content(one, "alice").plain


@pytest.mark.parametrize(
    ("room", "caps", "want"),
    [
        (100, [20], [20]),  # room to spare: the cap
        (12, [20], [12]),  # a short screen: what is left
        (1, [20], [FEWEST]),  # however short: a few lines, that scroll
        (15, [8, 10], [7, 8]),  # shared
        (30, [8, 10], [8, 10]),
        (14, [4, 24], [4, 10]),  # what the small one does not need goes to the other
    ],
)
def test_the_long_parts_of_a_dialog_share_what_the_screen_leaves(
    room: int, caps: list[int], want: list[int]
) -> None:
    assert shares(room, caps) == want
