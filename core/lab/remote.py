"""The lab in remote mode (``kavlan-lab up --api``): each site's frontend runs its own ``kavlan-api``, and the kavlan
configured on that frontend works against it (its certificates from a lab CA of the site's own)."""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import tomlw
from ..api import ca
from . import system
from .topology import LabError

if TYPE_CHECKING:
    from .builder import Lab

API_PORT = 8443
LAB_USER = "root"
"""The lab's user, the CN of its client certificate: the same user as in embedded mode."""
CERT_DAYS = 30


def server_name(lab: Lab, site: str) -> str:
    return f"api.{site}.{lab.topology.inventory.domain}"


def url(lab: Lab, site: str) -> str:
    return f"https://{server_name(lab, site)}:{API_PORT}"


def start_servers(lab: Lab, server_configs: dict[str, str]) -> None:
    """One kavlan-api per site, on its frontend's address in the API network, with the settings
    ``server_configs[site]`` (kavlan's configuration of that frontend); then every frontend's kavlan is pointed at
    its own site's server, and at the other sites' through ``[api_sites]``."""
    topo = lab.topology
    _api_network(lab)
    started = []
    for site, config in server_configs.items():
        part = topo.part(site)
        pki = _certificates(lab, site)
        server_config = pki / "server.toml"
        server_config.write_text(config)
        cmd = [
            sys.executable,
            "-m",
            "kavlan_core.api.server",
            "serve",
            "--listen",
            f"{part.api_address.split('/')[0]}:{API_PORT}",
            "--tls-cert",
            str(pki / "server.pem"),
            "--tls-key",
            str(pki / "server.key"),
            "--client-ca",
            str(pki / "ca.pem"),
            "--site",
            site,
            "--audit-log",
            str(pki / "audit.log"),
        ]
        env = {"KAVLAN_CONFIG": str(server_config), "PYTHONUNBUFFERED": "1"}
        lab.spawn(f"kavlan-api {site}", cmd, part.frontend, pki / "kavlan-api.log", env)
        started.append((site, part.frontend, pki))
    servers = "[api_sites]\n" + "".join(f"{s} = {tomlw.value(url(lab, s))}\n" for s in server_configs)
    for site, frontend, pki in started:
        system.wait_until(
            f"kavlan-api of {site} did not listen on port {API_PORT}",
            functools.partial(_listening, frontend),
            30,
            detail=functools.partial(system.tail, pki / "kavlan-api.log"),
        )
        client = {
            "api": url(lab, site),
            "ca_cert": str(pki / "ca.pem"),
            "client_cert": str(pki / f"{LAB_USER}.pem"),
            "client_key": str(pki / f"{LAB_USER}.key"),
        }
        path = lab.site_config(site)
        lines = "".join(f"{k} = {tomlw.value(v)}\n" for k, v in client.items())
        path.write_text(path.read_text() + lines + servers)


def _api_network(lab: Lab) -> None:
    """A bridge in the home site's core and a leg of every frontend on it (its address in API_NET): the
    frontends reach each other's servers there, and nothing else (no router; frontends do not forward)."""
    topo = lab.topology
    core = topo.home.core
    lab.ip(core, "link", "add", "api", "type", "bridge")
    lab.ip(core, "link", "set", "api", "up")
    for k, part in enumerate(topo.parts.values(), start=1):
        lab.ip(core, "link", "add", f"api{k}", "type", "veth", "peer", "name", "api", "netns", part.frontend)
        lab.ip(core, "link", "set", f"api{k}", "master", "api", "up")
        lab.ip(part.frontend, "addr", "add", part.api_address, "dev", "api")
        lab.ip(part.frontend, "link", "set", "api", "up")


def _certificates(lab: Lab, site: str) -> Path:
    """The site's server certificate and the lab user's, from one lab CA (every frontend trusts every server)."""
    first = lab.workdir("api", "ca")
    pki = lab.workdir("api", site)
    try:
        ca.make_all(first, server_name(lab, site), days=CERT_DAYS)  # the CA, made once
        for name in ("ca.pem", "ca.key"):
            shutil.copyfile(first / name, pki / name)
        (pki / "ca.key").chmod(0o600)
        ca.make_all(pki, server_name(lab, site), [LAB_USER], days=CERT_DAYS)
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot make the lab's certificates for {site}'s kavlan-api: {exc}") from None
    return pki


def _listening(netns: str) -> bool:
    return f":{API_PORT} " in system.run(["ip", "netns", "exec", netns, "ss", "-Hltn"], check=False)
