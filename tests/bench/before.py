"""An earlier commit of this repository, laid out as installed, for the benchmarks' "before" column in the same run.

``git archive REV core kavlan_tui themes`` is unpacked into a directory of its own and arranged as the packages
``kavlan_core`` and ``kavlan_tui`` (with ``kavlan_tui.themes``): put it first on ``PYTHONPATH`` and this
interpreter runs that commit's code, with the same libraries as this tree's. Nothing in the repository changes.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def export(rev: str, into: Path) -> Path:
    """The directory to put on PYTHONPATH to run commit ``rev``."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "core", "kavlan_tui", "themes"],
        capture_output=True,
        check=True,
    ).stdout
    src = into / "src"
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(src, filter="data")
    pkgs = into / "pkgs"
    pkgs.mkdir()
    (pkgs / "kavlan_core").symlink_to(src / "core")
    (pkgs / "kavlan_tui").symlink_to(src / "kavlan_tui")
    (src / "kavlan_tui" / "themes").symlink_to(src / "themes")
    return pkgs


def commit_of(rev: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", rev],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()[:72]


def bytecode_env(env: dict[str, str], cache: Path) -> dict[str, str]:
    """Bytecode written and reused (as once installed), kept out of the trees."""
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env
