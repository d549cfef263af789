"""The TUI's themes: data (``themes/themes.toml`` and ``kavlan.tcss``), found beside the package or in a checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme


def themes_dir() -> Path:
    """``themes/``: the package ``kavlan_tui.themes`` once installed (beside this file), or beside ``kavlan_tui``
    in a checkout; looked for on disk first (importlib.resources is slower to import than that)."""
    here = Path(__file__).resolve().parent
    for path in (here / "themes", here.parent / "themes"):
        if (path / "themes.toml").is_file():
            return path
    from importlib.resources import files

    return Path(str(files("kavlan_tui.themes")))


def load_themes(directory: Path | None = None) -> list[Theme]:
    """The themes described in ``themes.toml``: one table per theme, its ``variables`` a sub-table."""
    doc = tomllib.loads(((directory or themes_dir()) / "themes.toml").read_text())
    out = []
    for name, table in doc.items():
        fields = {k: v for k, v in table.items() if k != "variables"}
        out.append(Theme(name=name, variables=dict(table.get("variables", {})), **fields))
    return out
