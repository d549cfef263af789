"""OpenSSH client configuration for reaching local VLAN nodes through their gateways, as the tutorial writes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .ssh import Gateway

STYLES = ("proxyjump", "proxycommand")


def render_ssh_config(
    gateways: Mapping[int, Gateway | None] | Iterable[int],
    *,
    site_domain: str | None = None,
    style: str = "proxyjump",
) -> str:
    """The ``~/.ssh/config`` lines that make ``ssh root@suno-2-kavlan-N`` go through ``kavlan-N``.

    ``gateways``: the local VLAN ids, or a mapping VLAN id -> Gateway for the gateways whose address, port
    or login are known (those get a ``Host kavlan-N`` entry; a gateway known by name only gets its name
    qualified with ``site_domain``, e.g. ``sophia.grid5000.fr``). ``style="proxycommand"`` gives the
    tutorial's lines exactly (``nc`` on the gateway); ``"proxyjump"`` needs no ``nc`` but needs TCP
    forwarding allowed on the gateway, as this project's own client (asyncssh) does.
    """
    if style not in STYLES:
        raise ValueError(f"unknown ssh config style {style!r}: use one of {', '.join(STYLES)}")
    known: dict[int, Gateway | None] = (
        dict(gateways) if isinstance(gateways, Mapping) else dict.fromkeys(gateways)
    )
    lines: list[str] = []
    for vlan in sorted(known):
        alias = f"kavlan-{vlan}"
        lines.append(f"Host *-*-{alias} *-*-{alias}.*")
        if style == "proxycommand":
            lines.append(f"    ProxyCommand ssh -a -x {alias} nc -q 0 %h %p")
        else:
            lines.append(f"    ProxyJump {alias}")
    for vlan in sorted(known):
        gateway = known[vlan]
        if gateway is not None:
            lines.extend(_gateway_entry(f"kavlan-{vlan}", gateway, site_domain))
    return "\n".join(lines) + "\n" if lines else ""


def _gateway_entry(alias: str, gateway: Gateway, site_domain: str | None) -> list[str]:
    hostname = gateway.address or gateway.host
    if not gateway.address and "." not in hostname and site_domain:
        hostname = f"{hostname}.{site_domain}"
    body: list[str] = []
    if hostname != alias:
        body.append(f"    HostName {hostname}")
    if gateway.address and gateway.address != gateway.host:
        # the name, not the address, keys its known_hosts entry, as the asyncssh client here looks it up
        body.append(f"    HostKeyAlias {gateway.host}")
    if gateway.port != 22:
        body.append(f"    Port {gateway.port}")
    if gateway.username:
        body.append(f"    User {gateway.username}")
    return [f"Host {alias}", *body] if body else []
