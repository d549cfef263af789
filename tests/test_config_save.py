"""config.save_setting: one setting written back into config.toml, the rest of the file left as it was."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from kavlan_core import config
from kavlan_core.config import ConfigError


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KAVLAN_CONFIG": str(tmp_path / "kavlan" / "config.toml")}


def path_of(env: dict[str, str]) -> Path:
    return Path(env["KAVLAN_CONFIG"])


def test_a_missing_file_is_made_with_the_one_setting(env: dict[str, str]) -> None:
    assert config.save_setting("theme", "kavlan-light", env) == path_of(env)
    assert path_of(env).read_text() == 'theme = "kavlan-light"\n'
    assert config.load(env).theme == "kavlan-light"


def test_the_settings_line_is_replaced_and_every_other_line_kept(env: dict[str, str]) -> None:
    text = (
        "# my kavlan settings\n"
        'user = "alice"   # not root\n'
        'theme = "kavlan-dark"  # the dark one\n'
        "admins = [\n"
        '    "root",\n'
        '    "bob",  # theme = "not this one"\n'
        "]\n"
        "\n"
        "[keys]\n"
        'help = "f2"\n'
    )
    path_of(env).parent.mkdir()
    path_of(env).write_text(text)
    os.chmod(path_of(env), 0o600)
    config.save_setting("theme", "kavlan-high-contrast", env)
    out = path_of(env).read_text()
    assert out == text.replace(
        'theme = "kavlan-dark"  # the dark one', 'theme = "kavlan-high-contrast"  # the dark one'
    )
    assert path_of(env).stat().st_mode & 0o777 == 0o600, "the file keeps its mode"
    settings = config.load(env)
    assert (settings.theme, settings.user, settings.admins) == (
        "kavlan-high-contrast",
        "alice",
        ("root", "bob"),
    )
    assert settings.keys == {"help": "f2"}


def test_a_new_setting_goes_among_the_top_level_ones_not_into_a_table(env: dict[str, str]) -> None:
    path_of(env).parent.mkdir()
    path_of(env).write_text('user = "alice"\n\n[keys]\nhelp = "f2"\n')
    config.save_setting("theme", "kavlan-light", env)
    assert path_of(env).read_text() == 'user = "alice"\ntheme = "kavlan-light"\n\n[keys]\nhelp = "f2"\n'
    # a file with only a table, and one without a final newline
    path_of(env).write_text('[keys]\nhelp = "f2"')
    config.save_setting("poll_interval", 2, env)
    assert tomllib.loads(path_of(env).read_text()) == {"poll_interval": 2.0, "keys": {"help": "f2"}}
    assert path_of(env).read_text().startswith("poll_interval = 2.0\n")


def test_values_are_written_as_toml_and_read_back(env: dict[str, str]) -> None:
    config.save_setting("restart_command", 'echo "a\\b" # not a comment', env)
    config.save_setting("admins", "root, bob", env)
    config.save_setting("restart_delay", "5", env)
    settings = config.load(env)
    assert settings.restart_command == 'echo "a\\b" # not a comment'
    assert settings.admins == ("root", "bob") and settings.restart_delay == 5
    config.save_setting("restart_command", "true", env)
    assert config.load(env).restart_command == "true"
    assert path_of(env).read_text().count("restart_command") == 1


def test_bad_keys_values_and_files_are_refused_and_change_nothing(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="'colour' is not a setting"):
        config.save_setting("colour", "red", env)
    with pytest.raises(ConfigError, match="'keys' is not a setting that can be saved"):
        config.save_setting("keys", {"help": "f2"}, env)  # tables are edited by hand
    with pytest.raises(ConfigError, match="must be an integer"):
        config.save_setting("restart_delay", "soon", env)
    assert not path_of(env).exists()
    path_of(env).parent.mkdir()
    path_of(env).write_text("theme = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.save_setting("theme", "kavlan-light", env)
    assert path_of(env).read_text() == "theme = \n"
    assert [p.name for p in path_of(env).parent.iterdir()] == ["config.toml"], "no temporary file left"
