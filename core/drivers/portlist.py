"""The Q-BRIDGE-MIB PortList codec: octet 0 holds ports 1-8, its most significant bit is the lowest port; and where a
PortList stops being one (a text dump some agents append)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Some agents (or the tools that recorded them) send a PortList as a text hex dump, whole ("ff ff f8 80 00") or
# after its first octets ("...\n00 00 00 "): from there on, the octets are characters, not port bits.
_TEXT_DUMP = re.compile(rb"\A[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})+ ?\Z|\n(?:[0-9A-Fa-f]{2} )+")


def octets_for(port_count: int) -> int:
    """How many octets a PortList needs to cover ``port_count`` ports."""
    if port_count < 0:
        raise ValueError(f"negative port count {port_count}")
    return (port_count + 7) // 8


def decode(octets: bytes) -> frozenset[int]:
    """The bridge-port numbers (1-based) whose bits are set; any length is accepted."""
    ports: set[int] = set()
    for index, octet in enumerate(octets):
        if not octet:
            continue
        for bit in range(8):
            if octet & (0x80 >> bit):
                ports.add(index * 8 + bit + 1)
    return frozenset(ports)


def encode(ports: Iterable[int], length: int | None = None) -> bytes:
    """A PortList holding ``ports``; ``length`` octets when given (padded with zeros), else the shortest that fits."""
    wanted = sorted(set(ports))
    if wanted and wanted[0] < 1:
        raise ValueError(f"port number {wanted[0]} is below 1")
    needed = octets_for(wanted[-1]) if wanted else 0
    if length is None:
        length = needed
    elif length < needed:
        raise ValueError(f"port {wanted[-1]} does not fit in a PortList of {length} octets")
    out = bytearray(length)
    for port in wanted:
        out[(port - 1) // 8] |= 0x80 >> ((port - 1) % 8)
    return bytes(out)


def strip(octets: bytes) -> bytes:
    """The PortList without its trailing zero octets: two lists are equal when their stripped forms are."""
    return octets.rstrip(b"\x00")


def same(a: bytes, b: bytes) -> bool:
    """Whether two PortLists hold the same ports, whatever their lengths."""
    return strip(a) == strip(b)


def holds(octets: bytes, port: int) -> bool:
    """Whether ``port``'s bit is set (a port past the list's end is not in it)."""
    index = (port - 1) // 8
    return port >= 1 and index < len(octets) and bool(octets[index] & (0x80 >> ((port - 1) % 8)))


def update(octets: bytes, *, add: Iterable[int] = (), remove: Iterable[int] = ()) -> bytes:
    """``octets`` with the ``remove`` ports cleared and the ``add`` ports set, every other bit as it was (bits of
    ports the switch does not have included), keeping its length unless a port needs more."""
    out = bytearray(octets)
    for port in remove:
        if 1 <= port <= len(out) * 8:
            out[(port - 1) // 8] &= ~(0x80 >> ((port - 1) % 8)) & 0xFF
    for port in add:
        if port < 1:
            raise ValueError(f"port number {port} is below 1")
        if port > len(out) * 8:
            out += bytes(octets_for(port) - len(out))
        out[(port - 1) // 8] |= 0x80 >> ((port - 1) % 8)
    return bytes(out)


def text_from(octets: bytes) -> int | None:
    """The first octet of ``octets`` that belongs to a text hex dump rather than to the port bits, if any: the
    ports of that octet and after cannot be told from this list."""
    found = _TEXT_DUMP.search(octets)
    return None if found is None else found.start()


def fit(octets: bytes, length: int) -> bytes:
    """``octets`` padded with zeros or truncated to ``length``; truncating a set bit is an error."""
    if len(octets) <= length:
        return octets + bytes(length - len(octets))
    if any(octets[length:]):
        raise ValueError(f"PortList has ports beyond octet {length}")
    return octets[:length]


def to_hex(octets: bytes) -> str:
    """``80 00 ff``: the form snmpd's pass_persist uses for binary octet strings."""
    return " ".join(f"{octet:02x}" for octet in octets)


def from_hex(text: str) -> bytes:
    """The inverse of ``to_hex``; accepts any whitespace between octets (and none for an empty list)."""
    parts = text.split()
    try:
        return bytes(int(part, 16) for part in parts)
    except ValueError:
        raise ValueError(f"not a hexadecimal octet string: {text!r}") from None
