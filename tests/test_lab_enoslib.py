"""EnOSlib, the tool most Grid'5000 experimenters use, end to end against kavlan-api and the lab (root): its G5k
provider reserves two nodes and a routed VLAN as their primary network, deploys them into it, runs a command on
both and pings one from the other by in-VLAN name (examples/enoslib_kavlan.py), then destroys the job, after which
both answer under their default names. EnOSlib runs in a virtual environment of its own (it pins libraries the TUI
cannot share): ``KAVLAN_ENOSLIB_VENV``, else ``~/.cache/kavlan-tui/enoslib-venv``, made with ``pip install
enoslib`` when missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_lab import SITE, lab_exec, needs_lab, pings, running_lab
from test_lab_deploy import PASSWORD, serve_in_lab

from kavlan_core.lab.builder import Lab

pytestmark = [needs_lab]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "enoslib_kavlan.py"
INSTALL_TIMEOUT = 900


def enoslib_python() -> str:
    """The interpreter of EnOSlib's own virtual environment, made once (cached across runs)."""
    venv = Path(
        os.environ.get("KAVLAN_ENOSLIB_VENV") or Path.home() / ".cache" / "kavlan-tui" / "enoslib-venv"
    )
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import enoslib"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=120).returncode == 0:
        return str(python)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "enoslib"],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    # a failure, not a skip: CI reaches PyPI, and a run that did not test EnOSlib must not look green
    if pip.returncode != 0:
        pytest.fail(f"EnOSlib could not be installed in {venv}: {pip.stderr.strip()[-300:]}")
    return str(python)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("enoslib")) as the_lab:
        yield the_lab


def test_enoslib_reserves_deploys_into_a_vlan_and_destroys(lab: Lab, tmp_path: Path) -> None:
    python = enoslib_python()
    home = tmp_path / "home"
    home.mkdir()
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    key = lab.dir / "ssh" / "id_ed25519.pub"
    with serve_in_lab(lab, tmp_path) as url:
        proc = lab_exec(
            lab,
            "env",
            f"HOME={home}",
            # the lab's nodes share this machine's files: Ansible's interpreter discovery finds pyenv's shims,
            # which answer nothing there; any Python 3 runs its modules
            f"ANSIBLE_PYTHON_INTERPRETER={os.path.realpath(sys.executable)}",
            python,
            str(EXAMPLE),
            "--api",
            url,
            "--user",
            "root",
            "--password-file",
            str(password),
            "--key",
            str(key),
            timeout=600,
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    hosts = summary["hosts"]
    assert len(hosts) == 2 and all("-kavlan-" in h and h.endswith(f".{SITE}.grid5000.fr") for h in hosts), (
        summary
    )
    assert summary["ping"] and set(summary["hostnames"].values()) == {h.split(".")[0] for h in hosts}
    # destroyed: both answer under their default names again
    for host in hosts:
        default = host.split("-kavlan-")[0]
        assert pings(lab, default), f"{default} answers in DEFAULT after provider.destroy()"
