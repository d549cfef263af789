"""The lab's files: SSH keys, known_hosts and configs, node scripts, private dirs, /etc/netns/NS/ of each namespace."""

from __future__ import annotations

import os
import pwd
from typing import TYPE_CHECKING

from . import files, frontend, system
from .teardown import ETC_NETNS
from .topology import Topology

if TYPE_CHECKING:
    from .builder import Lab


def write_files(lab: Lab, topo: Topology) -> None:
    """Keys, scripts, configs and hosts files of every host; /etc/netns/NS/ of every namespace."""
    assert lab.state is not None
    etc_dir = lab.mkdir(lab.dir / "etc")
    hosts_files = {}
    for site in topo.parts:  # each site's namespaces know its own short names (router, frontend, kavlan-N)
        hosts_files[site] = etc_dir / ("hosts" if site == topo.site else f"hosts-{site}")
        hosts_files[site].write_text(topo.hosts_file(site))
    bin_dir = lab.mkdir(lab.dir / "bin")
    hook = bin_dir / "udhcpc.script"
    hook.write_text(files.udhcpc_script())
    init_dir = lab.mkdir(bin_dir / "init.d")
    (init_dir / "networking").write_text(files.networking_script(hook))
    (bin_dir / "shellrc").write_text(files.shell_rc())
    for script in (hook, init_dir / "networking"):
        script.chmod(0o755)
    ssh = lab.mkdir(lab.dir / "ssh", 0o700)
    user_key = ssh / "id_ed25519"
    (ssh / "authorized_keys").write_text(system.keygen(user_key, "root@kavlan-lab") + "\n")
    entries = []
    daemon = pwd.getpwnam("daemon")
    lab.mkdir(lab.dir / "hosts")
    for host in topo.hosts:
        home = lab.mkdir(lab.home(host))
        for sub in ("run/sshd", "log", "etc"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("atjobs", "atspool"):
            spool = home / "spool" / sub
            spool.mkdir(parents=True, exist_ok=True)
            os.chown(spool, daemon.pw_uid, daemon.pw_gid)
            spool.chmod(0o1770)
        seq = home / "spool" / "atjobs" / ".SEQ"
        seq.touch(0o600)
        os.chown(seq, daemon.pw_uid, daemon.pw_gid)
        key = system.keygen(home / "etc" / "ssh_host_ed25519_key", f"root@{host.name}")
        entries.append((host.aliases, key))
        (home / "etc" / "sshd_config").write_text(
            files.sshd_config(host, home / "etc" / "ssh_host_ed25519_key", ssh / "authorized_keys")
        )
        (home / "holder.sh").write_text(
            files.holder_script(host, home, hosts_files[host.site], init_dir, lab.dir)
        )
    (ssh / "known_hosts").write_text(files.known_hosts(entries))
    local = sorted(
        {v for part in topo.parts.values() for v, p in part.dhcp.items() if p.netns != part.router}
    )
    lab.ssh_config.write_text(files.ssh_config(user_key, ssh / "known_hosts", local))
    inner = files.ssh_config(user_key, ssh / "known_hosts")
    # ip netns exec bind-mounts /etc/netns/NS/* over /etc/*: the lab's names, no name server, ssh config
    ETC_NETNS.mkdir(mode=0o755, exist_ok=True)
    for ns in topo.namespaces:
        etc = lab.state.made_file(ETC_NETNS / ns)
        etc.mkdir()
        (etc / "hosts").write_text(topo.hosts_file(topo.site_of_namespace(ns)))
        (etc / "resolv.conf").write_text(files.RESOLV_CONF)
        is_frontend = any(ns == part.frontend for part in topo.parts.values())
        if is_frontend or any(h.netns == ns for h in topo.hosts):
            (etc / "ssh").mkdir()
            (etc / "ssh" / "ssh_config").write_text(lab.ssh_config.read_text() if is_frontend else inner)
    frontend.provision(lab, topo)  # the frontend's user, its home, its passwd line (core/lab/frontend.py)
