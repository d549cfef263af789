"""Settings: defaults, then ``config.toml`` in the user's config dir, then ``KAVLAN_*`` environment variables."""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from . import textfile, tomlw
from .errors import Misconfigured

APP = "kavlan-tui"


class ConfigError(Misconfigured, ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True)
class Settings:
    user: str = ""
    """Who runs the commands. The login user by default."""
    site: str = ""
    """The site this frontend belongs to; empty means the inventory's first site."""
    inventory: str = "demo"
    """Path of a testbed description (TOML), or ``demo`` for the built-in demo testbed."""
    database: str = ""
    """SQLAlchemy URL; empty means a SQLite file in the data dir."""
    data_dir: str = ""
    admins: tuple[str, ...] = ("root",)
    """Users who may act on every job and node."""
    switch_concurrency: int = 8
    """How many switches one move drives at once."""
    switch_retries: int = 2
    """How often a switch that timed out is tried again, with jittered backoff."""
    retry_backoff: float = 0.2
    """Base backoff in seconds between tries."""
    credentials: str = ""
    """Path of the switch credentials file (TOML, tables named by the inventory's credentials references)."""
    strict_credentials: bool = True
    """Refuse a credentials file that group or others may read (as OpenSSH refuses such a private key)."""
    stop_deadline: float = 30.0
    """Seconds a move stopped by SIGTERM or Ctrl-C gets to finish or roll back before the command exits anyway,
    leaving its intent in the database for the next command to complete or roll back."""
    default_walltime: int = 3600
    """Seconds, for reservations that name none (OAR's default is one hour)."""
    ssh_user: str = "root"
    """Who kavlan logs in as on nodes and gateways (the tutorial's root)."""
    ssh_identity: str = ""
    """Private key for nodes and gateways; empty: the SSH defaults (~/.ssh keys, agent)."""
    ssh_known_hosts: str = ""
    """known_hosts file(s), comma-separated; empty: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts."""
    ssh_concurrency: int = 32
    """Nodes reached at once by commands run on many nodes."""
    restart_command: str = "/etc/init.d/networking restart"
    """What the staged move schedules with at on every node (the tutorial's)."""
    restart_delay: int = 60
    """Seconds between scheduling the restart and its firing (the tutorial's one minute)."""
    verify_timeout: int = 120
    """Seconds to wait, after the restart, for every node to answer from its new VLAN."""
    poll_interval: float = 10.0
    """Seconds between the TUI's background polls of switches, DHCP leases and jobs; 0: never."""
    monitor_interval: float = 2.0
    """Seconds between the TUI monitoring view's reads of its nodes' ports (link, counters); read only while the
    view is open."""
    isolation_interval: float = 10.0
    """Seconds between the TUI monitoring view's isolation checks (every switch's forwarding table of the site)."""
    switch_request_rate: float = 100.0
    """Requests per second one switch is taken to answer (SNMP PDUs, CLI commands, ip/bridge calls)."""
    monitor_share: float = 0.1
    """The most of each switch's request rate that monitoring may use (0 to 1): a monitoring read of a switch
    waits while the share is spent; moves never wait for it."""
    fdb_ageing: float = 300.0
    """Seconds a switch keeps a MAC it learned (its ageing time): for that long after a NIC moved, its MAC still
    seen on an uplink in the VLAN it left is reported as stale by the isolation check, not as a leak."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """Key bindings of the TUI, by binding id."""
    theme: str = "kavlan-dark"
    api: str = ""
    """Remote mode: the base URL of the KaVLAN API server (``https://host:port/``); empty: embedded (the default)."""
    api_sites: Mapping[str, str] = field(default_factory=dict)
    """Remote mode with several sites: each site's server, by site name; ``api`` serves the sites not named."""
    ca_cert: str = ""
    """CA certificate (PEM) that the API server's certificate must chain to (``-C/--ca-cert``)."""
    client_cert: str = ""
    """Client certificate (PEM) presented to the API server; its CN is the user (``-c/--client-cert``)."""
    client_key: str = ""
    """Private key of the client certificate (``-k/--client-key``)."""
    api_password: str = ""
    """HTTP Basic password for the API server, for clients without a certificate (better in KAVLAN_API_PASSWORD)."""
    api_timeout: float = 60.0
    """Seconds a request to the API server may take before the client gives up."""
    source: str = "defaults"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_path / 'kavlan.db'}"


_ENV = {
    "user": "KAVLAN_USER",
    "site": "KAVLAN_SITE",
    "inventory": "KAVLAN_INVENTORY",
    "database": "KAVLAN_DATABASE",
    "data_dir": "KAVLAN_DATA_DIR",
    "admins": "KAVLAN_ADMINS",
    "switch_concurrency": "KAVLAN_SWITCH_CONCURRENCY",
    "switch_retries": "KAVLAN_SWITCH_RETRIES",
    "retry_backoff": "KAVLAN_RETRY_BACKOFF",
    "credentials": "KAVLAN_CREDENTIALS",
    "strict_credentials": "KAVLAN_STRICT_CREDENTIALS",
    "stop_deadline": "KAVLAN_STOP_DEADLINE",
    "default_walltime": "KAVLAN_DEFAULT_WALLTIME",
    "theme": "KAVLAN_THEME",
    "ssh_user": "KAVLAN_SSH_USER",
    "ssh_identity": "KAVLAN_SSH_IDENTITY",
    "ssh_known_hosts": "KAVLAN_SSH_KNOWN_HOSTS",
    "ssh_concurrency": "KAVLAN_SSH_CONCURRENCY",
    "restart_command": "KAVLAN_RESTART_COMMAND",
    "restart_delay": "KAVLAN_RESTART_DELAY",
    "verify_timeout": "KAVLAN_VERIFY_TIMEOUT",
    "poll_interval": "KAVLAN_POLL_INTERVAL",
    "monitor_interval": "KAVLAN_MONITOR_INTERVAL",
    "isolation_interval": "KAVLAN_ISOLATION_INTERVAL",
    "fdb_ageing": "KAVLAN_FDB_AGEING",
    "switch_request_rate": "KAVLAN_SWITCH_REQUEST_RATE",
    "monitor_share": "KAVLAN_MONITOR_SHARE",
    "api": "KAVLAN_API",
    "ca_cert": "KAVLAN_CA_CERT",
    "client_cert": "KAVLAN_CLIENT_CERT",
    "client_key": "KAVLAN_CLIENT_KEY",
    "api_password": "KAVLAN_API_PASSWORD",
    "api_timeout": "KAVLAN_API_TIMEOUT",
}


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("KAVLAN_CONFIG"):
        return Path(env["KAVLAN_CONFIG"]).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "tuple[str, ...]": "a list of names",
    "Mapping[str, str]": "a table of strings",
}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _coerce(name: str, value: Any, where: str, *, typed: bool = False) -> Any:
    """A setting's value checked against its type. Text (the environment, the command line) is parsed; a value
    the TOML file typed (``typed``) is taken only with the right type: ``switch_retries = 2.5`` is refused, not
    rounded, and ``strict_credentials = "no"`` is no boolean."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if typed and isinstance(value, str) and kind in ("int", "float", "bool"):
            raise ValueError
        return _typed(kind, value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{where}: setting '{name}' must be {_KIND_WORDS.get(str(kind), kind)}, not {_shown(value)}"
        ) from None


def _shown(value: Any) -> str:
    """A value as the file wrote it (``true``, not Python's ``True``)."""
    try:
        return tomlw.value(value)
    except TypeError:
        return repr(value)


def _typed(kind: Any, value: Any) -> Any:
    if kind == "bool":
        return _boolean(value)
    if kind in ("int", "float"):
        return _number(kind, value)
    if kind == "tuple[str, ...]":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError
    if kind == "Mapping[str, str]":
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
        raise ValueError
    if not isinstance(value, str):
        raise ValueError
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError


def _number(kind: str, value: Any) -> int | float:
    """A non-negative int or float: parsed from text; from TOML, an int for an int (a float for a float may be
    written as an int)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        out: int | float = int(value) if kind == "int" else float(value)
    elif kind == "int" and isinstance(value, int) or kind == "float" and isinstance(value, (int, float)):
        out = value if kind == "int" else float(value)
    else:
        raise ValueError
    if out < 0 or out != out:  # negative, or NaN
        raise ValueError
    return out


def _read_config(path: Path) -> dict[str, Any]:
    """The configuration file's settings; one sentence when it is not a readable TOML text file."""
    text = textfile.read_text(path, "the configuration", ConfigError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc}") from None


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the one validated settings object."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_path(env)
    source = "defaults"
    if path.exists():
        doc = _read_config(path)
        known = {f.name for f in fields(Settings)} - {"source"}
        for key, value in doc.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting '{key}' (known: {', '.join(sorted(known))})")
            values[key] = _coerce(key, value, str(path), typed=True)
        source = str(path)
    for name, var in _ENV.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], f"environment variable {var}")
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, "command line")
    settings = Settings(**values, source=source)
    if not settings.user:
        settings = replace(settings, user=_login_user())
    if not settings.data_dir:
        settings = replace(settings, data_dir=platformdirs.user_data_dir(APP))
    if settings.switch_concurrency < 1:
        raise ConfigError("setting 'switch_concurrency' must be at least 1")
    if not 0 < settings.monitor_share <= 1:
        raise ConfigError(
            "setting 'monitor_share' must be above 0 and at most 1 (a share of a switch's requests)"
        )
    if settings.switch_request_rate <= 0:
        raise ConfigError("setting 'switch_request_rate' must be above 0 (requests per second)")
    for name in ("monitor_interval", "isolation_interval"):
        if getattr(settings, name) < 0.5:
            raise ConfigError(
                f"setting '{name}' must be at least 0.5 seconds (every read costs the switches)"
            )
    return settings


def _login_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


# --- writing one setting back -------------------------------------------------------------------------------

_KEY_LINE = re.compile(r"""^\s*(?:([A-Za-z0-9_-]+)|"([^"\\]*)"|'([^']*)')\s*=""")
_TABLE_LINE = re.compile(r"^\s*\[")


def _toml_value(value: Any) -> str:
    try:
        return tomlw.value(value)
    except TypeError:
        raise ConfigError(f"cannot write {value!r} in a configuration file") from None


def _extent(lines: list[str], start: int) -> int:
    """The line after the assignment starting at ``start`` (a value may span lines: arrays, long strings)."""
    for end in range(start + 1, len(lines) + 1):
        try:
            tomllib.loads("".join(lines[start:end]))
        except tomllib.TOMLDecodeError:
            continue
        return end
    return len(lines)


def save_setting(key: str, value: Any, env: Mapping[str, str] | None = None) -> Path:
    """Write one setting into ``config.toml`` (made if missing): its line is replaced, or added among the
    top-level settings; every other line, comments included, stays as it was. Returns the file's path."""
    known = {f.name for f in fields(Settings) if f.name != "source" and not str(f.type).startswith("Mapping")}
    if key not in known:
        raise ConfigError(
            f"'{key}' is not a setting that can be saved (settings: {', '.join(sorted(known))})"
        )
    value = _coerce(key, value, "save_setting")
    path = config_path(env)
    try:
        text = path.read_text() if path.exists() else ""
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from None
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot save '{key}' in {path}: the file is not valid TOML ({exc}); fix it first"
        ) from None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    line = f"{key} = {_toml_value(value)}\n"
    found: tuple[int, int] | None = None
    insert_at = 0
    i = 0
    while i < len(lines):
        if _TABLE_LINE.match(lines[i]):
            break  # the top-level settings end at the first table
        match = _KEY_LINE.match(lines[i])
        if match is None:
            i += 1
            continue
        end = _extent(lines, i)
        if key in match.groups():
            found = (i, end)
        insert_at = end
        i = end
    if found is not None:
        start, end = found
        if end == start + 1:
            line = _keep_comment(lines[start], line)
        lines[start:end] = [line]
    elif insert_at == 0:  # no top-level setting yet: before the first table, or at the end
        lines[i:i] = [line, "\n"] if i < len(lines) else [line]
    else:
        lines[insert_at:insert_at] = [line]
    out = "".join(lines)
    after = tomllib.loads(out)
    if after.get(key) != _coerce_back(value) or {k: v for k, v in after.items() if k != key} != {
        k: v for k, v in before.items() if k != key
    }:
        raise ConfigError(f"cannot save '{key}' in {path}: the file's layout is too unusual to edit safely")
    _write_atomically(path, out)
    return path


def _coerce_back(value: Any) -> Any:
    """The value as tomllib reads it back (tuples are TOML arrays, read as lists)."""
    return list(value) if isinstance(value, tuple) else value


def _keep_comment(old: str, new: str) -> str:
    """``new`` with the comment that ended the old line of the setting, if it had one."""
    for k, char in enumerate(old):
        if char == "#":
            try:
                tomllib.loads(old[:k])
            except tomllib.TOMLDecodeError:
                continue  # a # inside the value
            return new.rstrip("\n") + "  " + old[k:].rstrip("\n").lstrip() + "\n"
    return new


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write the configuration {path}: {exc.strerror}") from None
