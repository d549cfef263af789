"""Build and remove the lab: namespaces, bridges, veths, DHCP, sshd and atd on nodes and gateways, kavlan's config."""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from .. import inventory as inventory_mod
from .. import tomlw
from ..model import DEFAULT
from . import control, files, provision, remote, system, teardown
from .state import NETNS_DIR, STATE_FILE, LabState, Proc, alive, lab_namespaces
from .teardown import ETC_NETNS, DownReport
from .topology import DEFAULT_PREFIX, DhcpPlacement, Host, LabError, Topology, build, vlan_key

DEFAULT_STATE_DIR = Path("/var/lib/kavlan-lab")
FAIL_AFTER = "KAVLAN_LAB_FAIL_AFTER"
"""Tests only: ``STEP`` makes ``up`` fail after that step, ``STEP:crash`` makes it die there without cleaning up."""
HOST_DIRS = (ETC_NETNS, Path("/run/mount"))
STEPS = ("files", "namespaces", "links", "switches", "dhcp", "hosts", "daemons", "addresses", "kavlan", "api")


def lab_inventory_text(path: str | None, sites: list[str] | None = None) -> tuple[str, str]:
    """(text, source) of the lab's testbed description (None: the built-in core/data/lab.toml), reduced to the
    sites named (none: its first site)."""
    text, source = _read_testbed(path)
    doc = _load_testbed(text, source)
    chosen = select_sites(doc, list(sites or []), source)
    if chosen["site"] == doc.get("site"):
        return text, source  # all of it: the user's own lines, so that an error names them
    return files.dump_toml(chosen), source


def lab_testbed(path: str | None, sites: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """(document, source) of the lab's testbed description, reduced to the sites named (none: its first)."""
    text, source = _read_testbed(path)
    return select_sites(_load_testbed(text, source), list(sites or []), source), source


def _read_testbed(path: str | None) -> tuple[str, str]:
    if path is None:
        text = resources.files("kavlan_core").joinpath("data/lab.toml").read_text()
        source = "built-in lab testbed"
    else:
        try:
            text, source = Path(path).expanduser().read_text(), str(path)
        except OSError as exc:
            raise LabError(f"cannot read the lab testbed {path}: {exc.strerror}") from None
    return text, source


def _load_testbed(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"the lab testbed {source} is not valid TOML: {exc}") from None


def select_sites(doc: dict[str, Any], sites: list[str], source: str) -> dict[str, Any]:
    """The testbed description reduced to the sites named, in that order (none named: its first site)."""
    tables = {str(t.get("name", "")): t for t in doc.get("site", [])}
    chosen = sites or list(tables)[:1]
    unknown = [s for s in chosen if s not in tables]
    if unknown:
        raise LabError(
            f"the lab testbed ({source}) has no site {', '.join(map(repr, unknown))} "
            f"(its sites: {', '.join(tables)})"
        )
    if len(set(chosen)) != len(chosen):
        raise LabError(f"a site is named twice in {', '.join(chosen)}")
    return {**doc, "site": [tables[s] for s in chosen]}


def parse_sites(text: str | None) -> list[str]:
    """``--sites sophia,lille``: the site names, in order."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]


class Lab:
    """One lab: its state dir holds its state file, keys, scripts, logs and the kavlan configuration."""

    def __init__(
        self,
        state_dir: str | Path = DEFAULT_STATE_DIR,
        inventory: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        sites: list[str] | None = None,
        api: bool = False,
    ) -> None:
        self.dir = Path(state_dir).expanduser().absolute()
        self.inventory_path = inventory
        self.prefix = prefix
        self.sites = list(sites or [])
        """The sites to build, home first; empty: the testbed's first site."""
        self.api = api
        """Remote mode: each site's frontend runs kavlan-api, and its kavlan works against it."""
        self._topo: Topology | None = None
        self.state: LabState | None = None
        if (self.dir / STATE_FILE).is_file():
            self.state = LabState.load(self.dir / STATE_FILE)
            self.prefix, self.inventory_path = self.state.prefix, self.state.inventory or None
            self.sites, self.api = list(self.state.sites), self.state.api

    # --- paths -----------------------------------------------------------------------------------------------
    @property
    def kavlan_config(self) -> Path:
        return self.dir / "kavlan" / "config.toml"

    def site_config(self, site: str | None = None) -> Path:
        """kavlan's configuration on the frontend of ``site`` (the home site's: ``kavlan_config``)."""
        part = self.topology.part(site)
        return (
            self.kavlan_config
            if part is self.topology.home
            else self.dir / "kavlan" / f"config-{part.name}.toml"
        )

    @property
    def kavlan_inventory(self) -> Path:
        return self.dir / "kavlan" / "inventory.toml"

    @property
    def kavlan_data(self) -> Path:
        return self.dir / "kavlan" / "data"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh" / "ssh_config"

    def home(self, host: Host | str) -> Path:
        return self.dir / "hosts" / (host if isinstance(host, str) else host.name)

    def testbed(self) -> tuple[dict[str, Any], str]:
        """(document, source) of the lab's testbed description, reduced to the lab's sites."""
        return lab_testbed(self.inventory_path, self.sites)

    @property
    def topology(self) -> Topology:
        if self._topo is None:
            text, source = lab_inventory_text(self.inventory_path, self.sites)
            self._topo = build(inventory_mod.parse(text, source), self.prefix)
        return self._topo

    def env(self, site: str | None = None) -> dict[str, str]:
        """This process's environment with the lab's kavlan settings (those of ``site``'s frontend) in place of
        any KAVLAN_* of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAVLAN_")}
        env.update(
            KAVLAN_CONFIG=str(self.site_config(site)),
            KAVLAN_INVENTORY=str(self.kavlan_inventory),
            KAVLAN_DATA_DIR=str(self.kavlan_data),
            KAVLAN_LAB_STATE_DIR=str(self.dir),
        )
        return env

    def argv(self, cmd: list[str], host: str | None = None, site: str | None = None) -> list[str]:
        """``cmd`` run in the frontend namespace (of ``site``), or inside a lab host (its console, as kaconsole
        gives)."""
        if host is None:
            return ["ip", "netns", "exec", self.topology.part(site).frontend, *cmd]
        return ["nsenter", "--target", str(self.holder(host)), "--uts", "--mount", "--net", "--", *cmd]

    def holder(self, host: str) -> int:
        h = self.topology.host(host)
        for p in self.state.processes if self.state else []:
            if p.name == f"holder {h.name}":
                return p.pid
        raise LabError(f"{h.name} is not running (is the lab up? see kavlan-lab status)")

    # --- up ----------------------------------------------------------------------------------------------------
    def up(self, *, clean_on_failure: bool = True) -> Topology:
        if os.geteuid() != 0:
            raise LabError("kavlan-lab needs root: it creates network namespaces and starts daemons")
        missing = system.missing_tools()
        if missing:
            raise LabError(f"missing programs: {', '.join(missing)}; install them with apt-get")
        topo = self.topology
        if self.state is not None:
            raise LabError(f"a lab is already up (or half made) in {self.dir}: run kavlan-lab down first")
        stale = [ns for ns in topo.namespaces if (NETNS_DIR / ns).exists() or (ETC_NETNS / ns).exists()]
        stale += [ns for ns in lab_namespaces(self.prefix) if ns not in stale]
        if stale:
            raise LabError(
                f"namespaces of prefix {self.prefix} exist already ({', '.join(stale[:4])}): "
                f"run kavlan-lab down --prefix {self.prefix}, or choose another prefix"
            )
        created = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state = LabState(
            self.dir / STATE_FILE,
            self.prefix,
            self.inventory_path or "",
            created_state_dir=created,
            sites=list(topo.parts) if self.sites else [],
            api=self.api,
        )
        # made by us (/etc/netns) or by libmount when the holders mount (/run/mount): removed at down if left empty
        self.state.host_dirs = [str(d) for d in HOST_DIRS if not d.exists()]
        self.state.save()
        try:
            for step in STEPS:
                getattr(self, f"_up_{step}")(topo)
                self._checkpoint(step)
            self.state.phase = "up"
            self.state.save()
        except BaseException:
            if clean_on_failure:
                self.state.phase = "failed"
                self.state.save()
                with contextlib.suppress(Exception):
                    self.down()
            raise
        return topo

    def _checkpoint(self, step: str) -> None:
        want, _, how = os.environ.get(FAIL_AFTER, "").partition(":")
        if want == step:
            if how == "crash":
                os._exit(70)  # an interrupted up: no cleanup, the state file tells down what to remove
            raise LabError(f"failing on purpose after step {step} ({FAIL_AFTER})")

    def mkdir(self, path: Path, mode: int = 0o755) -> Path:
        """A directory of the lab; recorded when it is a new top-level entry of the state dir."""
        assert self.state is not None
        if not path.exists() and path.parent == self.dir:
            self.state.made_file(path)
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        return path

    def _up_files(self, topo: Topology) -> None:
        provision.write_files(self, topo)

    def _up_namespaces(self, topo: Topology) -> None:
        assert self.state is not None
        for ns in topo.namespaces:
            system.run(["ip", "netns", "add", ns])
            self.state.made_namespace(ns)
        routers = {part.router for part in topo.parts.values()}
        for ns in topo.namespaces:
            values = {
                "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1",
                "net.ipv4.ip_forward": "1" if ns in routers else "0",
            }
            if any(h.netns == ns and h.kind == "node" for h in topo.hosts):
                values["net.ipv4.ip_nonlocal_bind"] = "1"  # sshd listens on the node's address in every VLAN
            system.sysctl(ns, values)
            system.ip(ns, "link", "set", "lo", "up")
        bridged = {part.core: list(part.bridges) for part in topo.parts.values()}
        for sw in topo.switches:
            bridged[sw.netns] = list(sw.bridges)
        for ns, bridges in bridged.items():
            system.ip_batch(
                ns, [line for b in bridges for line in (f"link add {b} type bridge", f"link set {b} up")]
            )
            self.state.made_links((ns, b) for b in bridges)

    def _up_links(self, topo: Topology) -> None:
        assert self.state is not None
        create: dict[str, list[str]] = {}
        configure: dict[str, list[str]] = {}
        for link in topo.links:
            mac = f" address {link.b_mac}" if link.b_mac else ""
            create.setdefault(link.a_ns, []).append(
                f"link add {link.a} type veth peer name {link.b}{mac} netns {link.b_ns}"
            )
            master = f" master {link.a_master}" if link.a_master else ""
            configure.setdefault(link.a_ns, []).append(f"link set {link.a}{master} up")
            if link.b_address:
                configure.setdefault(link.b_ns, []).append(f"addr add {link.b_address} dev {link.b}")
            b_master = f" master {link.b_master}" if link.b_master else ""
            configure.setdefault(link.b_ns, []).append(f"link set {link.b}{b_master} up")
        for ns, lines in create.items():
            system.ip_batch(ns, lines)
            self.state.made_links((ns, line.split()[2]) for line in lines)
        for ns, lines in configure.items():
            system.ip_batch(ns, lines)
        for part in topo.parts.values():
            for subnet, via in part.frontend_routes:
                system.ip(part.frontend, "route", "add", subnet, "via", via)
            for source, _via, table in part.router_rules:
                system.ip(part.router, "rule", "add", "from", source, "table", str(table))
            for via, table in sorted({(via, table) for _, via, table in part.router_rules}):
                system.ip(part.router, "route", "add", "default", "via", via, "table", str(table))

    def _up_switches(self, topo: Topology) -> None:
        for sw in topo.switches:
            control.plane(sw.driver).start(self, sw)

    def _up_dhcp(self, topo: Topology) -> None:
        for site in topo.parts:
            self.start_dhcp(DEFAULT, site)

    def _up_hosts(self, topo: Topology) -> None:
        assert self.state is not None
        for host in topo.hosts:
            home = self.home(host)
            cmd = [
                "ip",
                "netns",
                "exec",
                host.netns,
                "unshare",
                "--uts",
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                str(home / "holder.sh"),
            ]
            child = system.spawn(cmd, home / "log" / "holder.log")
            self.state.made_process(f"holder {host.name}", child.pid, host.netns, child)
        for host in topo.hosts:
            home = self.home(host)
            system.wait_until(
                f"{host.name}'s namespaces were not ready",
                (home / "ready").exists,
                10,
                detail=functools.partial(system.tail, home / "log" / "holder.log"),
            )

    def _spawn_in(self, host: Host, what: str, cmd: list[str]) -> None:
        assert self.state is not None
        holder = str(self.holder(host.name))
        log = self.home(host) / "log" / f"{what}.log"
        child = system.spawn(["nsenter", "--target", holder, "--uts", "--mount", "--net", "--", *cmd], log)
        self.state.made_process(f"{what} {host.name}", child.pid, host.netns, child)

    def _up_daemons(self, topo: Topology) -> None:
        sshd, atd = system.which("sshd"), system.which("atd")
        for host in topo.hosts:
            self._spawn_in(
                host, "sshd", [str(sshd), "-D", "-e", "-f", str(self.home(host) / "etc" / "sshd_config")]
            )
            if atd and host.kind == "node":
                self._spawn_in(host, "atd", [atd, "-f"])

    def _up_addresses(self, topo: Topology) -> None:
        """Every node asks the DEFAULT VLAN's DHCP server, through its own /etc/init.d/networking."""
        clients = {
            h.name: subprocess.Popen(
                self.argv(["/etc/init.d/networking", "start"], h.name),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for h in topo.nodes
        }
        failed = []
        for name, proc in clients.items():
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                failed.append(f"{name} ({system.tail(self.home(name) / 'log' / 'networking.log', 2)})")
        if failed:
            raise LabError(f"no DHCP lease in DEFAULT for {', '.join(failed)}")
        for node in topo.nodes:
            have = self.addresses(node)
            if node.default_address not in have:
                raise LabError(
                    f"{node.name} got {', '.join(have) or 'no address'}, not {node.default_address}"
                )

        def listening(host: Host) -> bool:
            return ":22 " in system.run(["ip", "netns", "exec", host.netns, "ss", "-Hltn"], check=False)

        for host in topo.hosts:
            system.wait_until(
                f"sshd of {host.name} did not listen",
                functools.partial(listening, host),
                10,
                detail=functools.partial(system.tail, self.home(host) / "log" / "sshd.log"),
            )

    def _up_kavlan(self, topo: Topology) -> None:
        self.mkdir(self.dir / "kavlan")
        self.kavlan_data.mkdir(parents=True, exist_ok=True)
        doc, source = self.testbed()
        by_name = {s.name: s for s in topo.switches}
        creds: dict[str, dict[str, Any]] = {}
        for st in doc.get("site", []):
            tables = st.get("switch", [])
            for i, table in enumerate(tables):
                plane = control.plane(table["driver"])
                tables[i] = plane.inventory_entry(by_name[table["name"]], table)
                creds.update(plane.credentials())
            # where `kavlan -e` starts each VLAN's dnsmasq (DEFAULT's is the lab's own, always on)
            part = topo.parts[st["name"]]
            st["dhcp"] = {
                "server": "dnsmasq",
                "vlans": {str(v): p.table() for v, p in sorted(part.dhcp.items()) if v != DEFAULT},
            }
            gateways = [h for h in topo.gateways if h.site == part.name]
            st["gateway"] = {
                str(v): {"address": h.default_address.split("/")[0], "port": 22, "user": "root"}
                for v, h in ((int(h.netns.rpartition("-")[2]), h) for h in gateways)
            }
            # the lab's own console: a node's network restarted from inside it, as an administrator's console would
            console = [sys.executable, "-m", "kavlan_tui.lab", "exec", "--state-dir", str(self.dir), "--host"]
            st["console"] = {"command": shlex.join(console) + " {node} -- /etc/init.d/networking restart"}
            st["reachable_nodes"] = (
                True  # the lab's nodes are hosts: kavlan brings them back, checks their DHCP
            )
            # no system to install; root's keys are the lab's one authorized_keys file (every node's sshd reads it)
            st["deploy"] = {"authorized_keys": str(self.dir / "ssh" / "authorized_keys")}
        comment = (
            f"kavlan lab: generated from {source} by kavlan-lab up (prefix {self.prefix}); removed by kavlan-lab down.\n"
            "[site.dhcp.vlans]: where each VLAN's DHCP server runs (netns, interface; server_ip: its address).\n"
            "[site.gateway]: where the SSH gateway kavlan-N of each local VLAN listens.\n"
            "[site.console]: how a node is brought back from its console ({node}: its name).\n"
            "[site.deploy]: where deploying installs root's keys (no system is installed)."
        )
        text = files.dump_toml(doc, comment)
        inventory_mod.parse(text, str(self.kavlan_inventory))  # what kavlan will read must load
        self.kavlan_inventory.write_text(text)
        if creds:
            path = self.dir / "kavlan" / "credentials.toml"
            path.write_text(files.dump_toml(creds, "kavlan lab: switch credentials"))
            path.chmod(0o600)  # kavlan refuses a credentials file others may read
        # each site's frontend runs its own kavlan (its site); one store, as one OAR serves the sites' jobs
        for site in topo.parts:
            config = files.kavlan_config(
                self.kavlan_inventory,
                self.kavlan_data,
                site,
                self.dir / "ssh" / "id_ed25519",
                self.dir / "ssh" / "known_hosts",
            )
            if creds:
                config += f"credentials = {tomlw.value(str(path))}\n"
            self.site_config(site).write_text(config)

    def _up_api(self, topo: Topology) -> None:
        if self.api:
            remote.start_servers(self, {site: self.site_config(site).read_text() for site in topo.parts})

    # --- DHCP servers (DEFAULT at up; others on demand, where [site.dhcp] places them) ----------------------------
    def dhcp_files(self, vid: int, site: str | None = None) -> dict[str, Path]:
        part = self.topology.part(site)
        base = self.dir / "dhcp" / f"vlan-{vlan_key(vid)}"
        if part is not self.topology.home:
            base = self.dir / "dhcp" / part.name / f"vlan-{vlan_key(vid)}"
        return {
            "conf": base / "dnsmasq.conf",
            "lease_file": base / "leases",
            "pid_file": base / "dnsmasq.pid",
            "log": base / "dnsmasq.log",
        }

    def dhcp_name(self, vid: int, site: str | None = None) -> str:
        part = self.topology.part(site)
        name = f"dnsmasq VLAN {vlan_key(vid)}"
        return name if part is self.topology.home else f"{name} {part.name}"

    def dhcp_server(self, vid: int, site: str | None = None) -> Proc | None:
        """The running dnsmasq of VLAN ``vid`` (of ``site``), if any."""
        name = self.dhcp_name(vid, site)
        return (
            next((p for p in self.state.processes if p.name == name and alive(p)), None)
            if self.state
            else None
        )

    def start_dhcp(self, vid: int, site: str | None = None) -> Proc:
        """Start the lab's dnsmasq for VLAN ``vid`` where the topology places it (fixed addresses for every node).

        The lab runs DEFAULT's; the other VLANs' servers are kavlan's (``kavlan -e``, core/dhcp): run one or the other.
        """
        assert self.state is not None
        running = self.dhcp_server(vid, site)
        if running is not None:
            return running
        topo = self.topology
        part = topo.part(site)
        placement: DhcpPlacement = part.dhcp[vid]
        paths = self.dhcp_files(vid, site)
        self.mkdir(self.dir / "dhcp")
        paths["conf"].parent.mkdir(parents=True, exist_ok=True)
        paths["pid_file"].unlink(missing_ok=True)
        inv = topo.inventory
        hosts = [
            (n.primary_nic.mac, str(inv.address(n, vid)), inv.hostname(inv.resolve(n.name), vid, fqdn=False))
            for n in inv.site_nodes(part.name)
        ]
        paths["conf"].write_text(
            files.dnsmasq_conf(
                placement,
                hosts,
                f"{part.name}.{inv.domain}",
                paths["lease_file"],
                paths["pid_file"],
                paths["log"],
            )
        )
        # in the foreground (-k), in a session of its own: its pid is the one spawned and recorded at once (a
        # daemonising dnsmasq would leave a moment where it runs unrecorded), like every other lab daemon
        child = system.spawn(
            ["ip", "netns", "exec", placement.netns, "dnsmasq", "-k", "-C", str(paths["conf"])],
            paths["log"].with_suffix(".out"),
        )
        proc = self.state.made_process(self.dhcp_name(vid, site), child.pid, placement.netns, child)
        system.wait_until(
            f"dnsmasq of VLAN {vlan_key(vid)} did not start",
            lambda: paths["pid_file"].exists() and child.poll() is None,
            10,
            detail=lambda: system.tail(paths["log"].with_suffix(".out")),
        )
        return proc

    # --- control plane runner (see control.Runner) -------------------------------------------------------------
    def ip(self, netns: str, *args: str) -> str:
        return system.ip(netns, *args)

    def spawn(
        self, name: str, cmd: list[str], netns: str, log: Path, env: dict[str, str] | None = None
    ) -> int:
        assert self.state is not None
        child = system.spawn(["ip", "netns", "exec", netns, *cmd], log, env)
        return self.state.made_process(name, child.pid, netns, child).pid

    def workdir(self, *parts: str) -> Path:
        first = self.mkdir(self.dir / parts[0])
        path = first.joinpath(*parts[1:])
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- down and status -----------------------------------------------------------------------------------------
    def addresses(self, host: Host) -> list[str]:
        out = []
        for link in system.ip_json(host.netns, "-4", "addr", "show", "dev", "eth0"):
            out += [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])]
        return out

    def down(self) -> DownReport:
        """Remove everything the lab made, from its state file, its prefix and its topology; safe to run twice."""
        report = teardown.down(self)
        self.state = None
        return report
