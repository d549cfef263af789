"""The lab's frontend as a user meets it: an account that is not an administrator, a home of its own, and kavlan
reached through a kavlan-api server, as on a real testbed.

The account (``labuser``) exists inside the frontend only: its ``passwd`` and ``group`` lines are in
/etc/netns/FRONTEND/, which ``ip netns exec`` binds over /etc/passwd and /etc/group (this machine's stay as they
are). Its commands enter the frontend through :data:`ENTER`, run as root in the private mount namespace ``ip netns
exec`` makes: /home and /root there are empty tmpfs (this machine's are hidden; what the interpreter needs from under
/root is bound back), the lab's home for the user is bound on /home/labuser, then root is dropped (setpriv). The user
can run kavlan and the oar commands (remote mode: the lab's kavlan-api, started on first use, on 127.0.0.1 of the
frontend, a client certificate in the home), ssh to the nodes and gateways (a copy of the lab's key, the known hosts
in /etc/ssh/ssh_known_hosts), and write its home and /tmp; not the lab's store, keys or this machine's files. The
refusals are the server's, as on Grid'5000: another user's nodes, an administrator's commands.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import tomlw
from . import system
from .teardown import ETC_NETNS
from .topology import LabError, Topology

if TYPE_CHECKING:
    from .builder import Lab

LAB_USER = "labuser"
FIRST_ID = 7000
"""The account's uid and gid: the first of each from here that this machine does not use."""
API_ADDRESS = "127.0.0.1:8443"
"""Where the lab's kavlan-api listens, inside the frontend namespace (its own loopback)."""
API_NAME = "kavlan-api (frontend)"
API_STARTUP = 30.0
ENTER = "enter-as-user.sh"
PATH = "/usr/local/bin:/usr/bin:/bin"


def home(lab: Lab) -> Path:
    """The user's home as the lab keeps it (bound on /home/labuser inside the frontend)."""
    return lab.dir / "frontend" / LAB_USER


def api_dir(lab: Lab) -> Path:
    return lab.dir / "frontend" / "api"


def ids(lab: Lab) -> tuple[int, int]:
    """The account's uid and gid, as provisioned (the lab's passwd line)."""
    for line in (lab.dir / "frontend" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == LAB_USER:
            return int(fields[2]), int(fields[3])
    raise LabError(f"the lab in {lab.dir} has no frontend user (made by an older kavlan-lab: run it again)")


def _free_id(path: str) -> int:
    used = {
        int(f[2]) for f in (line.split(":") for line in Path(path).read_text().splitlines()) if len(f) > 2
    }
    return next(i for i in range(FIRST_ID, FIRST_ID + 10_000) if i not in used)


def provision(lab: Lab, topo: Topology) -> None:
    """The account, its home (a copy of the lab's SSH key), the frontend's passwd, group and known hosts, the
    script that enters as the user; the lab's store closed to others. After provision.write_files."""
    base = lab.mkdir(lab.dir / "frontend")
    (base / "root").mkdir(mode=0o700)  # root's HOME in the frontend: not this machine's /root either
    uid, gid = _free_id("/etc/passwd"), _free_id("/etc/group")
    passwd = Path("/etc/passwd").read_text().rstrip("\n")
    group = Path("/etc/group").read_text().rstrip("\n")
    (base / "passwd").write_text(
        f"{passwd}\n{LAB_USER}:x:{uid}:{gid}:kavlan lab user:/home/{LAB_USER}:/bin/bash\n"
    )
    (base / "group").write_text(f"{group}\n{LAB_USER}:x:{gid}:\n")
    etc = ETC_NETNS / topo.frontend
    for name in ("passwd", "group"):
        shutil.copyfile(base / name, etc / name)
        (etc / name).chmod(0o644)
    # the known hosts where every user reads them; the user's own key and known_hosts file in its home
    shutil.copyfile(lab.dir / "ssh" / "known_hosts", etc / "ssh" / "ssh_known_hosts")
    (etc / "ssh" / "ssh_config").write_text(_user_block() + (etc / "ssh" / "ssh_config").read_text())
    user_home = home(lab)
    ssh = user_home / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    for name in ("id_ed25519", "id_ed25519.pub"):
        shutil.copyfile(lab.dir / "ssh" / name, ssh / name)
    (ssh / "id_ed25519").chmod(0o600)
    _own(user_home, uid, gid)
    user_home.chmod(0o700)
    (base / ENTER).write_text(enter_script(uid, gid, _kept_under_root()))
    (base / ENTER).chmod(0o755)
    lab.kavlan_data.mkdir(parents=True, exist_ok=True)
    lab.kavlan_data.chmod(
        0o700
    )  # the store is the server's: the user reads and changes it through kavlan-api


def _user_block() -> str:
    """Prepended to the frontend's ssh_config (the first value found wins): the user's key and known hosts."""
    return (
        f"# the frontend's user: its own copy of the lab's key, the known hosts every user reads\n"
        f"Match localuser {LAB_USER}\n"
        "    IdentityFile ~/.ssh/id_ed25519\n"
        "    UserKnownHostsFile /etc/ssh/ssh_known_hosts\n\n"
    )


def _own(top: Path, uid: int, gid: int) -> None:
    for path in [top, *top.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)


def _kept_under_root() -> list[str]:
    """What this interpreter and kavlan need from under /root (a pyenv, a venv there): bound back over the empty
    /root the user sees, outermost paths only."""
    import kavlan_core

    wanted = {sys.base_prefix, sys.prefix, str(Path(kavlan_core.__file__).resolve().parent.parent)}
    under = sorted(p for p in map(os.path.realpath, wanted) if p == "/root" or p.startswith("/root/"))
    kept: list[str] = []
    for path in under:
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def enter_script(uid: int, gid: int, kept: list[str]) -> str:
    """Run as root inside ``ip netns exec FRONTEND`` (its own mount namespace, not shared with this machine's):
    ``enter-as-user.sh HOME -- CMD...``."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# kavlan lab: enter the frontend as its user: /home and /root of its own (this machine's hidden), then",
        "# root dropped. Made by kavlan-lab up; run by kavlan-lab shell/exec --as user.",
        "set -eu",
        'home="$1"; shift; [ "$1" = -- ] && shift',
        "mount -t tmpfs -o mode=0755,size=8m kavlan-lab-home /home",
    ]
    for i, path in enumerate(kept):
        lines += [f"mkdir /home/.keep{i}", f"mount --bind {q(path)} /home/.keep{i}"]
    lines.append("mount -t tmpfs -o mode=0755,size=8m kavlan-lab-root /root")
    for i, path in enumerate(kept):
        lines += [f"mkdir -p {q(path)}", f"mount --move /home/.keep{i} {q(path)}", f"rmdir /home/.keep{i}"]
    lines += [
        f"mkdir /home/{LAB_USER}",
        f'mount --bind "$home" /home/{LAB_USER}',
        f"cd /home/{LAB_USER}",
        f'exec setpriv --reuid={uid} --regid={gid} --init-groups -- "$@"',
        "",
    ]
    return "\n".join(lines)


def argv(lab: Lab, cmd: list[str], where: str = "frontend") -> list[str]:
    """``cmd`` run in the frontend as the user, with the environment a login gives it (none of root's)."""
    env = [
        f"HOME=/home/{LAB_USER}",
        f"USER={LAB_USER}",
        f"LOGNAME={LAB_USER}",
        f"PATH={Path(sys.executable).parent}:{PATH}",
        "LANG=C.UTF-8",
        f"TERM={os.environ.get('TERM', 'xterm')}",
        f"KAVLAN_LAB_WHERE={where}",
    ]
    enter = str(lab.dir / "frontend" / ENTER)
    return [
        "ip",
        "netns",
        "exec",
        lab.topology.frontend,
        "/bin/sh",
        enter,
        str(home(lab)),
        "--",
        "env",
        "-i",
        *env,
        *cmd,
    ]


def ensure_api(lab: Lab) -> None:
    """The lab's kavlan-api, started on the user's first command (once, whoever asks at the same time), and the
    user's kavlan configuration that reaches it."""
    assert lab.state is not None
    base = api_dir(lab)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(p.name == API_NAME and system_alive(p.pid) for p in lab.state.processes):
            _start_api(lab, base)
        _user_config(lab, base)


def system_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _start_api(lab: Lab, base: Path) -> None:
    assert lab.state is not None
    ca = base / "ca"
    if not (ca / "server.pem").exists():
        system.run(
            [
                sys.executable,
                "-m",
                "kavlan_core.api.server",
                "ca",
                str(ca),
                "--server-name",
                "frontend",
                "--user",
                LAB_USER,
                "--user",
                "root",
            ],
            timeout=60,
        )
    log = base / "server.log"
    offset = log.stat().st_size if log.exists() else 0
    cmd = [
        sys.executable,
        "-m",
        "kavlan_core.api.server",
        "serve",
        "--listen",
        API_ADDRESS,
        "--tls-cert",
        str(ca / "server.pem"),
        "--tls-key",
        str(ca / "server.key"),
        "--client-ca",
        str(ca / "ca.pem"),
        "--access-log",
        str(base / "access.log"),
        "--audit-log",
        str(base / "audit.log"),
    ]
    env = {**lab.env(), "KAVLAN_USER": "kavlan-api", "KAVLAN_ADMINS": "root"}
    pid = lab.spawn(API_NAME, cmd, lab.topology.frontend, log, env)
    deadline = time.monotonic() + API_STARTUP
    while time.monotonic() < deadline:
        text = log.read_bytes()[offset:].decode(errors="replace")
        if re.search(r"serving https://", text):
            return
        if not system_alive(pid):
            break
        time.sleep(0.05)
    raise LabError(f"the lab's kavlan-api did not start: {system.tail(log, 3)}")


def _user_config(lab: Lab, base: Path) -> None:
    """~/.config/kavlan-tui/config.toml of the user (with its certificate beside it): remote mode, its own SSH key."""
    uid, gid = ids(lab)
    conf = home(lab) / ".config" / "kavlan-tui"
    if (conf / "config.toml").exists():
        return
    conf.mkdir(parents=True, exist_ok=True)
    for name, src in (
        ("ca.pem", "ca.pem"),
        ("client.pem", f"{LAB_USER}.pem"),
        ("client.key", f"{LAB_USER}.key"),
    ):
        shutil.copyfile(base / "ca" / src, conf / name)
    (conf / "client.key").chmod(0o600)
    settings = {
        "api": f"https://{API_ADDRESS}",
        "ca_cert": f"/home/{LAB_USER}/.config/kavlan-tui/ca.pem",
        "client_cert": f"/home/{LAB_USER}/.config/kavlan-tui/client.pem",
        "client_key": f"/home/{LAB_USER}/.config/kavlan-tui/client.key",
        "site": lab.topology.site,
        "ssh_user": "root",
        "ssh_identity": f"/home/{LAB_USER}/.ssh/id_ed25519",
        "ssh_known_hosts": "/etc/ssh/ssh_known_hosts",
    }
    (conf / "config.toml").write_text(
        tomlw.dumps(settings, "kavlan lab: the frontend user's kavlan, through kavlan-api")
    )
    _own(home(lab) / ".config", uid, gid)
