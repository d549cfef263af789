"""EnOSlib's KaVLAN experiment against kavlan-api: two nodes deployed into a routed VLAN as their primary network,
a command run on both, one pinged from the other by its in-VLAN name, then the job destroyed.

Run it where the nodes are reached (the lab's frontend: ``kavlan-lab exec -- ...``), with EnOSlib installed in a
virtual environment of its own (``python -m venv venv && venv/bin/pip install enoslib``: EnOSlib pins libraries
kavlan-tui does not share), and ``HOME`` a directory of its own (the script writes ``~/.python-grid5000.yaml``
there, as EnOSlib reads it):

    kavlan-lab exec -- env HOME=/tmp/enos venv/bin/python examples/enoslib_kavlan.py \\
        --api http://127.0.0.1:8080 --user root --password-file pw --key ~/.ssh/id_ed25519.pub

The settings it needs (README, "EnOSlib"): ``g5k_auto_jump=False`` (no jump through access.grid5000.fr: the nodes
are reached from here), the API's ``uri`` with a user and a password in ``~/.python-grid5000.yaml``, a public key
file (``key=``: EnOSlib would otherwise send every ``~/.ssh/*.pub``), ``job_type=["deploy"]`` (the deployment is
what puts the nodes into the VLAN) and a routed VLAN (``type="kavlan"``; a local one is reached through its
``kavlan-N`` gateway, which EnOSlib names ``kavlan-N.SITE.grid5000.fr``). The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path


def _client_config(api: str, user: str, password: str) -> None:
    """EnOSlib's API client reads ``~/.python-grid5000.yaml`` (python-grid5000's ``Grid5000.from_yaml``)."""
    path = Path(os.environ["HOME"]) / ".python-grid5000.yaml"
    path.write_text(f"uri: {api}\nusername: {user}\npassword: {password}\nverify_ssl: false\n")
    path.chmod(0o600)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True, help="kavlan-api's URL")
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True, help="a file whose first line is the user's password")
    p.add_argument("--key", required=True, help="the public key installed for root on the nodes")
    p.add_argument("--site", default="sophia")
    p.add_argument("--cluster", default="suno")
    p.add_argument("--env", default="debian12-min")
    p.add_argument("--job-name", default="enoslib-kavlan")
    args = p.parse_args()
    _client_config(args.api, args.user, Path(args.password_file).read_text().splitlines()[0])

    import enoslib as en  # after the client's configuration: EnOSlib reads it when it first calls the API

    logging.basicConfig(level=logging.INFO)
    en.set_config(g5k_auto_jump=False, ansible_stdout="noop")
    network = en.G5kNetworkConf(type="kavlan", roles=["my_network"], site=args.site)
    conf = (
        en.G5kConf.from_settings(
            job_type=["deploy"], env_name=args.env, job_name=args.job_name, walltime="00:30:00", key=args.key
        )
        .add_network_conf(network)
        .add_machine(roles=["kavlan"], cluster=args.cluster, nodes=2, primary_network=network)
        .finalize()
    )
    provider = en.G5k(conf)
    started = time.monotonic()
    roles, networks = provider.init()
    init_seconds = time.monotonic() - started
    hosts = roles["kavlan"]
    names = [h.address for h in hosts]
    hostnames = {r.host: r.stdout.strip() for r in en.run_command("hostname", roles=hosts)}
    first, second = hosts
    pinged = en.run_command(f"ping -c1 -W2 {second.address}", roles=first, on_error_continue=True)
    ping_ok = all(r.rc == 0 for r in pinged)
    vlan_networks = [str(n.network) for n in networks["my_network"]]
    started = time.monotonic()
    provider.destroy()
    destroy_seconds = time.monotonic() - started
    summary = {
        "hosts": names,
        "hostnames": hostnames,
        "ping": ping_ok,
        "networks": vlan_networks,
        "init_seconds": round(init_seconds, 1),
        "destroy_seconds": round(destroy_seconds, 1),
    }
    print(json.dumps(summary))
    return 0 if ping_ok and len(hostnames) == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
