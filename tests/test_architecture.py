"""The layers hold: the core stays free of every face, drivers stay below the engine, faces never reach a driver,
the remote client loads no engine, and the CLI starts without UI libraries.

Two kinds of check: the import contracts of pyproject.toml (``[tool.importlinter]``, read statically by
lint-imports, lazy imports included), and what a fresh interpreter actually loads."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACES = ("textual", "prompt_toolkit", "kavlan_tui", "rich")
CONTRACTS = [
    c["id"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
]
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
)


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract(contract: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One test per contract of pyproject.toml, so that a broken one is named; lint-imports says which import
    chain breaks it."""
    cache = (
        tmp_path_factory.getbasetemp() / "import-linter-cache"
    )  # one graph for every contract of the session
    proc = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-logo", "--cache-dir", str(cache), "--contract", contract],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"the import contract {contract!r} is broken:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )


def test_core_source_imports_no_face() -> None:
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
    """The modules a fresh interpreter holds after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(out.split())


def _packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


EVERY_CORE_MODULE = """
import importlib, pkgutil, kavlan_core
for m in pkgutil.walk_packages(kavlan_core.__path__, "kavlan_core."):
    if m.name.rsplit(".", 1)[-1] != "__main__":  # a package's command line runs when imported
        importlib.import_module(m.name)
"""


def test_importing_the_core_loads_no_face() -> None:
    loaded = _packages(_loaded_after(EVERY_CORE_MODULE))
    assert not loaded & set(FACES), loaded & set(FACES)


def test_the_kavlan_command_loads_no_ui_library() -> None:
    loaded = _packages(_loaded_after("import kavlan_tui.cli, kavlan_tui.commands, kavlan_tui.oar"))
    assert not loaded & {"textual", "prompt_toolkit", "rich"}


def test_the_remote_client_loads_no_store_and_no_service() -> None:
    """A remote face starts without the engine (``import kavlan_core.api.client`` leaves ``sqlalchemy`` out of
    ``sys.modules``), whatever the client's shape: one module or a package."""
    loaded = _loaded_after("import kavlan_core.api.client")
    engine = {"kavlan_core.store", "kavlan_core.service"}
    assert "sqlalchemy" not in _packages(loaded)
    assert not loaded & engine, loaded & engine


def test_core_installs_as_kavlan_core_not_core() -> None:
    import kavlan_core

    assert Path(kavlan_core.__file__).resolve().parent == ROOT / "core"
    proc = subprocess.run([sys.executable, "-c", "import core"], capture_output=True, cwd="/", timeout=60)
    assert proc.returncode != 0, "a bare top-level 'core' module must not be installed"
