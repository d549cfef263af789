"""The Q-BRIDGE-MIB PortList codec: bit layout from RFC 4363, and its laws under hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kavlan_core.drivers import portlist

ports_sets = st.frozensets(st.integers(min_value=1, max_value=4096), max_size=64)


def test_octet_zero_holds_ports_one_to_eight_lowest_port_in_the_high_bit() -> None:
    assert portlist.encode([1]) == b"\x80"
    assert portlist.encode([8]) == b"\x01"
    assert portlist.encode([9]) == b"\x00\x80"
    assert portlist.encode([1, 2, 8, 16]) == b"\xc1\x01"
    assert portlist.decode(b"\x80\x00\x41") == {1, 18, 24}


def test_lengths_vary_trailing_zeros_mean_nothing() -> None:
    assert portlist.encode([3], length=6) == b"\x20" + bytes(5)
    assert portlist.decode(b"\x20" + bytes(5)) == portlist.decode(b"\x20") == {3}
    assert portlist.same(b"\x20\x00\x00", b"\x20")
    assert not portlist.same(b"\x20\x00\x01", b"\x20")
    assert portlist.encode([]) == b""
    assert portlist.decode(b"") == frozenset()


def test_printable_bitmaps_are_just_bytes() -> None:
    # b"@A" is how an agent may print 0x40 0x41: ports 2, 10 and 16
    assert portlist.decode(b"@A") == {2, 10, 16}


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        portlist.encode([0])
    with pytest.raises(ValueError):
        portlist.encode([17], length=2)


def test_update_keeps_the_device_length() -> None:
    assert portlist.update(b"\xff\xf0\x00\x00", remove=[1, 12]) == b"\x7f\xe0\x00\x00"
    assert portlist.update(b"\x00", add=[12]) == b"\x00\x10"


def test_update_keeps_every_other_bit() -> None:
    # bit 12 (a port the switch lacks) and a garbled text tail stay as they were
    tail = b"\n00 00 00 "
    assert portlist.update(b"\xc0\x10" + tail, remove=[1]) == b"\x40\x10" + tail
    assert portlist.update(b"\xc0\x10" + tail, add=[3], remove=[99]) == b"\xe0\x10" + tail
    assert portlist.holds(b"\x40", 2) and not portlist.holds(b"\x40", 1) and not portlist.holds(b"\x40", 9)


@pytest.mark.parametrize(
    ("octets", "start"),
    [
        (b"\x00\x7f\xfd\xff" + b"\n00 00 00 00 ", 4),  # Huawei VRP, Dell OS9, Comware, ...: octets, then text
        (b"ff ff ff ff ff ff f8 80 00", 0),  # SONiC: all text
        (b"\xff\xfe", None),
        (b"0", None),  # one octet 0x30: ports 3 and 4, a bitmap
        (b"\n", None),
    ],
)
def test_where_a_portlist_turns_into_text(octets: bytes, start: int | None) -> None:
    assert portlist.text_from(octets) == start


def test_fit_pads_and_truncates_zeros_only() -> None:
    assert portlist.fit(b"\x80", 3) == b"\x80\x00\x00"
    assert portlist.fit(b"\x80\x00\x00", 1) == b"\x80"
    with pytest.raises(ValueError):
        portlist.fit(b"\x80\x01", 1)


def test_hex_form_of_pass_persist() -> None:
    assert portlist.to_hex(b"\x80\x00\xff") == "80 00 ff"
    assert portlist.from_hex("80 00 FF") == b"\x80\x00\xff"
    assert portlist.from_hex("") == b""
    with pytest.raises(ValueError):
        portlist.from_hex("zz")


@given(ports_sets)
def test_decode_inverts_encode(ports: frozenset[int]) -> None:
    assert portlist.decode(portlist.encode(ports)) == ports


@given(ports_sets, st.integers(min_value=0, max_value=16))
def test_padding_changes_nothing(ports: frozenset[int], extra: int) -> None:
    short = portlist.encode(ports)
    padded = portlist.encode(ports, length=len(short) + extra)
    assert portlist.decode(padded) == ports
    assert portlist.same(short, padded)
    assert portlist.strip(padded) == portlist.strip(short)


@given(ports_sets, ports_sets, ports_sets)
def test_update_is_set_arithmetic(start: frozenset[int], add: frozenset[int], remove: frozenset[int]) -> None:
    octets = portlist.encode(start, length=portlist.octets_for(max(start, default=0)) + 2)
    updated = portlist.update(octets, add=add, remove=remove)
    assert portlist.decode(updated) == (start - remove) | add
    assert len(updated) >= len(octets)


@given(st.binary(max_size=64))
def test_any_octets_round_trip(octets: bytes) -> None:
    assert portlist.from_hex(portlist.to_hex(octets)) == octets
    assert portlist.same(portlist.encode(portlist.decode(octets), length=len(octets)), octets)
