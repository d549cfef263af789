"""Hostname rules: ``suno-2`` in VLAN 4 is ``suno-2-kavlan-4``; FQDNs; ``-ethX`` names of secondary NICs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import DEFAULT

# cluster names are lower-case letters and digits (no hyphen), as on Grid'5000: suno, chifflot, uvb
_NAME = re.compile(
    r"""(?P<node>[a-z][a-z0-9]*-[0-9]+)
        (?:-(?P<nic>eth[0-9]+))?
        (?:-kavlan-(?P<vlan>[0-9]+))?
        (?:\.(?P<site>[a-z][a-z0-9-]*)(?:\.(?P<domain>[a-z0-9-]+(?:\.[a-z0-9-]+)*))?)?""",
    re.VERBOSE,
)


class BadHostname(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ParsedName:
    node: str
    """The plain node name, ``suno-2``."""
    nic: str | None
    """``eth1`` for a secondary NIC's name, None for the node's own name (its primary NIC)."""
    vlan: int | None
    """The VLAN named by a ``-kavlan-N`` suffix, if any."""
    site: str | None
    domain: str | None


def parse(name: str) -> ParsedName:
    """Split any hostname form a user may hand us: plain, ``-ethX``, ``-kavlan-N``, with or without domain."""
    text = name.strip().lower()
    m = _NAME.fullmatch(text)
    if not m:
        raise BadHostname(
            f"{name!r} is not a node name (expected CLUSTER-N, e.g. suno-2 or suno-2.sophia.grid5000.fr)"
        )
    vlan = m["vlan"]
    return ParsedName(m["node"], m["nic"], int(vlan) if vlan is not None else None, m["site"], m["domain"])


def vlan_hostname(node: str, vlan: int, nic: str | None = None, *, primary: bool = True) -> str:
    """Short hostname of ``node`` (or of its NIC ``nic``) in ``vlan``; DEFAULT gives the plain name."""
    base = node if (nic is None or primary) else f"{node}-{nic}"
    if vlan == DEFAULT:
        return base
    return f"{base}-kavlan-{vlan}"


def fqdn(short: str, site: str, domain: str) -> str:
    return f"{short}.{site}.{domain}"


def vlan_fqdn(
    node: str, vlan: int, site: str, domain: str, nic: str | None = None, *, primary: bool = True
) -> str:
    return fqdn(vlan_hostname(node, vlan, nic, primary=primary), site, domain)
