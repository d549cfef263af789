"""Text of every file the lab writes: holder and network scripts, sshd and ssh configs, dnsmasq configs, TOML."""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import tomlw
from .topology import LAB_NET, NODE_IFACE, DhcpPlacement, Host

RESOLV_CONF = "# kavlan lab: no name server; lab names come from /etc/hosts\noptions timeout:1 attempts:1\n"


def q(value: str | Path) -> str:
    return shlex.quote(str(value))


def holder_script(host: Host, home: Path, hosts_file: Path, init_dir: Path, state_dir: Path) -> str:
    """Run by ``unshare --uts --mount``: set the hostname and the host's private mounts, then hold the namespaces."""
    private = {"/run": home / "run", "/var/log": home / "log"}
    lines = [
        "#!/bin/sh",
        f"# kavlan lab: holds the UTS and mount namespaces of {host.name}; its daemons join them with nsenter",
        "set -eu",
        f"hostname {q(host.name)}",
    ]
    for target, source in private.items():
        # a private /run (atd.pid, sshd's privsep dir) or /var/log must not hide the lab's own files
        if state_dir.is_relative_to(target):
            inner = source / state_dir.relative_to(target)
            lines += [f"mkdir -p {q(inner)}", f"mount --bind {q(state_dir)} {q(inner)}"]
        lines.append(f"mount --rbind {q(source)} {q(target)}")
    lines += [
        f"mount --bind {q(hosts_file)} /etc/hosts",
        "if [ -d /var/spool/cron/atjobs ] && [ -d /var/spool/cron/atspool ]; then",
        f"    mount --bind {q(home / 'spool' / 'atjobs')} /var/spool/cron/atjobs",
        f"    mount --bind {q(home / 'spool' / 'atspool')} /var/spool/cron/atspool",
        "fi",
    ]
    if host.kind == "node":
        lines += [
            "# the tutorial's /etc/init.d/networking restart, inside this node only",
            "if [ -e /etc/init.d/networking ]; then",
            f"    mount --bind {q(init_dir / 'networking')} /etc/init.d/networking",
            "else",
            f"    mount --bind {q(init_dir)} /etc/init.d",
            "fi",
        ]
    lines += [f"echo ready > {q(home / 'ready')}", "exec sleep infinity", ""]
    return "\n".join(lines)


def udhcpc_script() -> str:
    """busybox udhcpc's hook: the leased address, the route to the lab via the VLAN's router, the DHCP hostname."""
    return f"""#!/bin/sh
# kavlan lab: busybox udhcpc hook of the lab nodes
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${{mask:-24}}" ${{broadcast:+broadcast "$broadcast"}} dev "$interface"
        # the lab's subnets only: a lab node never gets a route out of the lab
        for r in $router; do ip route replace {LAB_NET} via "$r" dev "$interface"; break; done
        # as on Grid'5000, a node in VLAN N takes its in-VLAN name (suno-1-kavlan-4) from the DHCP server
        if [ -n "${{hostname:-}}" ]; then hostname "$hostname"; fi
        ;;
esac
exit 0
"""


def networking_script(udhcpc_hook: Path) -> str:
    """/etc/init.d/networking of a lab node: ask the DHCP server of the node's current VLAN again."""
    return f"""#!/bin/sh
# kavlan lab: /etc/init.d/networking of a lab node (bind-mounted inside the node's own mount namespace)
# Quiet on success: under at(1), any output would be mailed.
IF={NODE_IFACE}
LOG=/var/log/networking.log
case "${{1:-}}" in
    start|restart|force-reload|reload)
        echo "$(date '+%F %T') $1" >> "$LOG"
        ip -4 addr flush dev "$IF"
        exec busybox udhcpc -i "$IF" -n -q -T 2 -t 5 -s {q(udhcpc_hook)} >> "$LOG" 2>&1
        ;;
    stop)
        ip -4 addr flush dev "$IF"
        ;;
    *)
        echo "Usage: /etc/init.d/networking {{start|stop|restart|force-reload}}" >&2
        exit 3
        ;;
esac
"""


def sshd_config(host: Host, host_key: Path, authorized_keys: Path) -> str:
    listen = "\n".join(f"ListenAddress {a}:22" for a in host.listen)
    return f"""# kavlan lab: sshd of {host.name}, in the foreground (sshd -D -e -f THIS)
{listen}
HostKey {host_key}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
UseDNS no
PrintMotd no
PrintLastLog no
AllowTcpForwarding yes
X11Forwarding no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def ssh_config(identity: Path, known_hosts: Path, jumps: Iterable[int] = ()) -> str:
    """The lab's ssh client config; ``jumps``: local VLANs whose nodes are reached through ``kavlan-N``."""
    blocks = ["# kavlan lab: ssh client configuration (the lab user is root)"]
    for vid in jumps:
        blocks.append(f"Host *-kavlan-{vid} *-kavlan-{vid}.*\n    ProxyJump kavlan-{vid}")
    blocks.append(
        "Host *\n"
        "    User root\n"
        f"    IdentityFile {identity}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    CheckHostIP no\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 5\n"
        "    LogLevel ERROR"
    )
    return "\n\n".join(blocks) + "\n"


def known_hosts(entries: Iterable[tuple[Iterable[str], str]]) -> str:
    """One line per host: every name and address it answers to, then its public host key."""
    return "".join(f"{','.join(aliases)} {key.strip()}\n" for aliases, key in entries)


def dnsmasq_conf(
    placement: DhcpPlacement,
    hosts: Iterable[tuple[str, str, str]],
    domain: str,
    lease_file: Path,
    pid_file: Path,
    log_file: Path,
) -> str:
    """A DHCP-only dnsmasq (``port=0``) on one interface, fixed addresses only (``dhcp-host=MAC,IP,hostname``)."""
    net = ipaddress.IPv4Network(placement.subnet)
    lines = [
        f"# kavlan lab: DHCP server of VLAN {placement.vlan or 'DEFAULT'} ({placement.site})",
        "port=0",
        f"interface={placement.interface}",
        "bind-interfaces",  # with one interface: SO_BINDTODEVICE, so several servers share a namespace
        "no-dhcp-interface=lo",
        f"dhcp-range={net.network_address},static,{net.netmask},12h",
        f"dhcp-option=option:router,{placement.router}",
        f"domain={domain}",
        "dhcp-authoritative",
        f"dhcp-leasefile={lease_file}",
        f"pid-file={pid_file}",
        f"log-facility={log_file}",
        "log-dhcp",
        "user=root",
        "group=root",
    ]
    lines += [f"dhcp-host={mac},{ip},{name}" for mac, ip, name in hosts]
    return "\n".join(lines) + "\n"


def shell_rc() -> str:
    return (
        "# kavlan lab: start-up file of `kavlan-lab shell`\n"
        "[ -f ~/.bashrc ] && . ~/.bashrc\n"
        "PS1='(kavlan-lab) \\u@'\"${KAVLAN_LAB_WHERE:-frontend}\"':\\w\\$ '\n"
    )


def kavlan_config(inventory: Path, data_dir: Path, site: str, identity: Path, known_hosts: Path) -> str:
    settings = {
        "inventory": str(inventory),
        "data_dir": str(data_dir),
        "site": site,
        "ssh_user": "root",
        "ssh_identity": str(identity),
        "ssh_known_hosts": str(known_hosts),
    }
    return tomlw.dumps(
        settings, "kavlan lab: settings of kavlan, kavlan-oarsub, kavlan-shell run through `kavlan-lab exec`"
    )


def dump_toml(doc: Mapping[str, Any], comment: str = "") -> str:
    """A testbed description or credentials file as TOML (the project's one writer)."""
    return tomlw.dumps(doc, comment)
