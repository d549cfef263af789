"""The core stays free of every face; the CLI starts without UI libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACES = ("textual", "prompt_toolkit", "kavlan_tui", "rich")


def test_core_source_imports_no_face():
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                assert mod.split(".")[0] not in FACES, f"{path.relative_to(ROOT)} imports {mod}"


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {m.split(".")[0] for m in out.split()}


def test_importing_the_core_loads_no_face():
    loaded = _loaded_after(
        "import kavlan_core.service, kavlan_core.reservations, kavlan_core.drivers.simulated"
    )
    assert not loaded & set(FACES), loaded & set(FACES)


def test_the_kavlan_command_loads_no_ui_library():
    loaded = _loaded_after("import kavlan_tui.cli, kavlan_tui.commands, kavlan_tui.oar")
    assert not loaded & {"textual", "prompt_toolkit", "rich"}


def test_core_installs_as_kavlan_core_not_core():
    import kavlan_core

    assert Path(kavlan_core.__file__).resolve().parent == ROOT / "core"
    proc = subprocess.run([sys.executable, "-c", "import core"], capture_output=True, cwd="/", timeout=60)
    assert proc.returncode != 0, "a bare top-level 'core' module must not be installed"
