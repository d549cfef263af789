"""The quality gates, as tests so that CI's one command runs them: mypy as pyproject.toml configures it, and ruff's
lint and format check on the whole tree (the import contracts are in test_architecture.py)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from layers import LAYERS, MODULES, TESTS

ROOT = Path(__file__).resolve().parent.parent


def tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool of the test extras with this interpreter, from the project's root (where its config is)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def passes(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(proc.args[2:])} failed:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}", pytrace=False
        )


def test_mypy_as_configured() -> None:
    """No arguments: [tool.mypy] in pyproject.toml says what is checked, so that widening it widens CI."""
    passes(tool("mypy"))


def test_ruff_check() -> None:
    passes(tool("ruff", "check", "."))


def test_ruff_format_check() -> None:
    passes(tool("ruff", "format", "--check", "."))


def test_the_layer_tables_name_only_modules_and_tests_that_exist() -> None:
    """tests/layers.py names modules and tests by their names: a renamed one would silently change layer."""
    tests = ROOT / "tests"
    for module, layers in MODULES.items():
        assert (tests / module).is_file(), f"layers.MODULES names {module}, which is not in tests/"
        assert set(layers) <= set(LAYERS), (module, layers)
    defined: dict[str, set[str]] = {}
    for name, layers in TESTS.items():
        module, function = name.split("::")
        assert (tests / module).is_file(), f"layers.TESTS names {name}: there is no {module}"
        if module not in defined:
            tree = ast.parse((tests / module).read_text())
            defined[module] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in defined[module], f"layers.TESTS names {name}: {module} has no {function}"
        assert set(layers) <= set(LAYERS), (name, layers)


def _regex_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """The patterns given to ``re`` as string literals, with their lines."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_pattern_ends_in_a_dollar() -> None:
    """A check written ``^...$`` lets a value with one trailing newline through (``$`` matches before it):
    ``"alice\\n"`` was a user name, ``{"0\\n": 1}`` was written as a broken bare TOML key. Whole values are
    checked with ``fullmatch`` (or ``\\Z``)."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {pattern!r}"
        for top in ("core", "kavlan_tui")
        for path in sorted((ROOT / top).rglob("*.py"))
        for line, pattern in _regex_literals(ast.parse(path.read_text()))
        if pattern.rstrip().endswith("$") and not pattern.rstrip().endswith("\\$")
    ]
    assert not found, "\n".join(found)
