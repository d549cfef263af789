"""A Q-BRIDGE-MIB switch behind net-snmp's pass_persist: ifName, bridge ports, PVIDs and static VLANs in a JSON file;
in the lab (``--live``), each port's link state and counters and the bridges' forwarding table, read from the kernel."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..drivers import portlist

Oid = tuple[int, ...]

IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
BRIDGE: Oid = (1, 3, 6, 1, 2, 1, 17)
DOT1D_BASE_NUM_PORTS: Oid = (*BRIDGE, 1, 2, 0)
DOT1D_BASE_PORT: Oid = (*BRIDGE, 1, 4, 1, 1)
DOT1D_BASE_PORT_IFINDEX: Oid = (*BRIDGE, 1, 4, 1, 2)
VLAN_STATIC: Oid = (*BRIDGE, 7, 1, 4, 3, 1)
FDB_PORT: Oid = (*BRIDGE, 7, 1, 2, 2, 1, 2)
IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_IN_ERRORS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 14)
IF_HC_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
IF_HC_OUT_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10)
LIVE_SECONDS = 1.0
"""How long the lab's live reads (links' counters, the bridges' forwarding tables) answer before being read again:
a walk is one request per object through snmpd."""
PVID: Oid = (*BRIDGE, 7, 1, 4, 5, 1, 1)

COL_NAME, COL_EGRESS, COL_FORBIDDEN, COL_UNTAGGED, COL_ROW_STATUS = 1, 2, 3, 4, 5
LIST_COLUMNS = {COL_EGRESS: "egress", COL_FORBIDDEN: "forbidden", COL_UNTAGGED: "untagged"}
ACTIVE, NOT_IN_SERVICE, NOT_READY, CREATE_AND_GO, CREATE_AND_WAIT, DESTROY = 1, 2, 3, 4, 5, 6
MAX_VID = 4094
NAME_MAX = 32  # SnmpAdminString (SIZE (0..32)) in Q-BRIDGE-MIB

# pass_persist answers. A GET answered with an unknown type reaches the SNMP client as noSuchInstance, yet
# lets snmpd forward a SET to the same OID (snmpd GETs every object before a SET and refuses on NONE):
# that is how a row that does not exist yet can be created.
CREATABLE = "creatable"
DONE = "DONE"

DEFAULT_NAME_FORMAT = "ge-0/0/{i}"
DEFAULT_IF_INDEX_BASE = 1000


class Refused(Exception):
    """A SET the agent refuses; the argument is the pass_persist error word snmpd turns into an SNMP error status."""


# --- the state file ----------------------------------------------------------------------------------------------


def initial_state(
    ports: int = 48,
    *,
    name_format: str = DEFAULT_NAME_FORMAT,
    if_index_base: int = DEFAULT_IF_INDEX_BASE,
    default_vid: int = 1,
    extra_interfaces: dict[int, str] | None = None,
) -> dict[str, Any]:
    """A switch with every port an access port of ``default_vid``; ``name_format`` gets ``i`` (0-based) and ``port``."""
    if ports < 1:
        raise ValueError("a switch needs at least one port")
    members = list(range(1, ports + 1))
    return {
        "ports": ports,
        "if_index_base": if_index_base,
        "names": {str(p): name_format.format(i=p - 1, port=p) for p in members},
        # interfaces that are not bridge ports (management), so that ifName holds more than the bridge
        "other_interfaces": {
            str(k): v for k, v in (extra_interfaces if extra_interfaces is not None else {1: "me0"}).items()
        },
        "pvid": {str(p): default_vid for p in members},
        "vlans": {
            str(default_vid): {
                "name": "default",
                "egress": members,
                "forbidden": [],
                "untagged": members,
                "status": ACTIVE,
            }
        },
    }


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write the state so that a reader sees either the old file or the new one, never a half-written one."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """The lock every writer of the state file holds (agents of several subtrees, tests, the lab)."""
    with open(f"{os.fspath(path)}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def edit_state(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Read, change in place, write back atomically, under the writers' lock."""
    with locked(path):
        state = load_state(path)
        yield state
        save_state(path, state)


def ensure_state(path: str | os.PathLike[str], ports: int, name_format: str = DEFAULT_NAME_FORMAT) -> None:
    """Create the state file when it does not exist yet (agents started together race for it)."""
    with locked(path):
        if not os.path.exists(path):
            save_state(path, initial_state(ports, name_format=name_format))


def access_vlans(state: dict[str, Any]) -> dict[int, int | None]:
    """Each bridge port's access VLAN: the VLAN whose untagged list holds it (None when none does)."""
    out: dict[int, int | None] = {p: None for p in range(1, int(state["ports"]) + 1)}
    for vid, vlan in state["vlans"].items():
        for port in vlan["untagged"]:
            out[int(port)] = int(vid)
    return out


# --- the agent -----------------------------------------------------------------------------------------------------


def parse_oid(text: str) -> Oid | None:
    try:
        return tuple(int(part) for part in text.strip().strip(".").split("."))
    except ValueError:
        return None


def format_oid(oid: Oid) -> str:
    return "." + ".".join(str(x) for x in oid)


def parse_value(text: str) -> tuple[str, int | bytes | str]:
    """A value as snmpd writes it for a SET: ``gauge 10``, ``integer 6``, ``string "@"``, ``octet "80 00"``."""
    kind, _, rest = text.rstrip("\r\n").partition(" ")
    kind = kind.lower()
    if kind in ("integer", "gauge", "counter", "timeticks", "unsigned"):
        return kind, int(rest)
    if kind in ("string", "octet", "objectid"):
        # snmpd quotes without escaping: the value is everything between the first and the last quote
        if len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
            raise ValueError(f"unquoted {kind} value {rest!r}")
        body = rest[1:-1]
        if kind == "octet":
            return kind, portlist.from_hex(body)
        if kind == "string":
            return kind, body.encode("latin-1")
        return kind, body
    return kind, rest


class QBridgeAgent:
    """Answers pass_persist requests for the objects under ``base``, reading and writing the state file."""

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        *,
        base: Oid = BRIDGE,
        drop_ports: Iterable[int] = (),
        keep_pvid_ports: Iterable[int] = (),
        pvid: bool = True,
        trim_portlists: bool = False,
        bridge_prefix: str | None = None,
        live: bool = False,
    ) -> None:
        self.state_path = Path(state_path)
        self.bridge_prefix = bridge_prefix
        """In the lab: move each port's link to the Linux bridge ``<prefix><vid>`` of its access VLAN."""
        self.base = base
        self.drop_ports = frozenset(drop_ports)
        self.keep_pvid_ports = frozenset(keep_pvid_ports)
        """Ports whose dot1qPvid no write changes (acknowledged, ignored) while their member lists change: a switch
        that leaves a port half-moved."""
        self.serve_pvid = pvid
        self.trim_portlists = trim_portlists
        self.live = live
        """In the lab: serve each port's link state and counters, and the bridges' forwarding table, read live."""
        self._live_at = 0.0
        self._raw: bytes | None = None
        self._state: dict[str, Any] = {}
        self._objects: dict[Oid, tuple[str, str]] = {}
        self._order: list[Oid] = []
        # columns written to a row that does not exist yet, waiting for the RowStatus of the same PDU
        self._pending: dict[int, dict[int, Any]] = {}

    # the state is re-read for every request: other processes (the agent of another subtree, tests) change it
    def _refresh(self) -> None:
        raw = self.state_path.read_bytes()
        stale = self.live and time.monotonic() - self._live_at > LIVE_SECONDS
        if raw == self._raw and not stale:
            return
        self._raw = raw
        self._state = json.loads(raw)
        self._objects = self._build(self._state)
        self._order = sorted(self._objects)

    def _build(self, state: dict[str, Any]) -> dict[Oid, tuple[str, str]]:
        objects: dict[Oid, tuple[str, str]] = {}
        ports = int(state["ports"])
        base = int(state["if_index_base"])
        length = portlist.octets_for(ports)
        for if_index, name in state.get("other_interfaces", {}).items():
            objects[(*IF_NAME, int(if_index))] = ("string", name)
        for port in range(1, ports + 1):
            objects[(*IF_NAME, base + port)] = ("string", state["names"][str(port)])
            objects[(*DOT1D_BASE_PORT, port)] = ("integer", str(port))
            objects[(*DOT1D_BASE_PORT_IFINDEX, port)] = ("integer", str(base + port))
            pvid = state["pvid"].get(str(port))
            if self.serve_pvid and pvid is not None:
                objects[(*PVID, port)] = ("gauge", str(pvid))
        objects[DOT1D_BASE_NUM_PORTS] = ("integer", str(ports))
        for vid_text, vlan in state["vlans"].items():
            vid = int(vid_text)
            objects[(*VLAN_STATIC, COL_NAME, vid)] = ("string", vlan["name"])
            for column, key in LIST_COLUMNS.items():
                octets = portlist.encode(vlan[key], length)
                if self.trim_portlists:  # like switches that send no trailing zero octets
                    octets = portlist.strip(octets)
                objects[(*VLAN_STATIC, column, vid)] = ("octet", portlist.to_hex(octets))
            objects[(*VLAN_STATIC, COL_ROW_STATUS, vid)] = ("integer", str(vlan["status"]))
        if self.live:
            objects.update(self._live_objects(state))
            self._live_at = time.monotonic()
        return {oid: v for oid, v in objects.items() if oid[: len(self.base)] == self.base}

    def _live_objects(self, state: dict[str, Any]) -> dict[Oid, tuple[str, str]]:
        """Each port's ifDescr, ifOperStatus, ifInErrors and 64-bit octet counters from its link, and the
        forwarding table of the VLAN bridges (filtering database = VLAN id) from the kernel, in this namespace."""
        base = int(state["if_index_base"])
        port_of = {str(name): int(port) for port, name in state["names"].items()}
        objects: dict[Oid, tuple[str, str]] = {}
        for link in _json_of(["ip", "-s", "-j", "link", "show"]):
            port = port_of.get(str(link.get("ifname")))
            if port is None:
                continue
            stats = link.get("stats64") or {}
            rx, tx = stats.get("rx") or {}, stats.get("tx") or {}
            index = base + port
            objects[(*IF_DESCR, index)] = ("string", str(link["ifname"]))
            objects[(*IF_OPER_STATUS, index)] = ("integer", "1" if link.get("operstate") == "UP" else "2")
            objects[(*IF_IN_ERRORS, index)] = ("counter", str(int(rx.get("errors", 0)) % 2**32))
            objects[(*IF_HC_IN_OCTETS, index)] = ("counter64", str(int(rx.get("bytes", 0))))
            objects[(*IF_HC_OUT_OCTETS, index)] = ("counter64", str(int(tx.get("bytes", 0))))
        prefix = self.bridge_prefix or "vlan"
        for row in _json_of(["bridge", "-j", "fdb", "show"]):
            master, port = str(row.get("master", "")), port_of.get(str(row.get("ifname")))
            vid = master[len(prefix) :]
            if (
                port is None
                or not master.startswith(prefix)
                or not vid.isdigit()
                or row.get("state") == "permanent"
            ):
                continue
            mac = tuple(int(b, 16) for b in str(row["mac"]).split(":"))
            objects[(*FDB_PORT, int(vid), *mac)] = ("integer", str(port))
        return objects

    def _creatable(self, oid: Oid) -> bool:
        return (
            len(oid) == len(VLAN_STATIC) + 2
            and oid[: len(VLAN_STATIC)] == VLAN_STATIC
            and COL_NAME <= oid[-2] <= COL_ROW_STATUS
            and 1 <= oid[-1] <= MAX_VID
            and oid[: len(self.base)] == self.base
        )

    # --- requests

    def get(self, oid: Oid) -> tuple[Oid, str, str] | str | None:
        """The object, ``CREATABLE`` for a column of a VLAN row that does not exist, or None."""
        self._pending.clear()  # a GET starts a new PDU: snmpd GETs every varbind before it SETs any
        self._refresh()
        found = self._objects.get(oid)
        if found is not None:
            return (oid, *found)
        return CREATABLE if self._creatable(oid) else None

    def getnext(self, oid: Oid) -> tuple[Oid, str, str] | None:
        self._pending.clear()
        self._refresh()
        index = bisect_right(self._order, oid)
        if index >= len(self._order):
            return None
        found = self._order[index]
        return (found, *self._objects[found])

    def set(self, oid: Oid, value_text: str) -> str:
        """``DONE`` or the error word for snmpd."""
        try:
            kind, value = parse_value(value_text)
        except ValueError:
            return "wrong-type"
        try:
            with locked(self.state_path):
                state = load_state(self.state_path)
                before = access_vlans(state) if self.bridge_prefix is not None else {}
                self._apply(state, oid, kind, value)
                save_state(self.state_path, state)
                if self.bridge_prefix is not None:
                    self._move_links(state, before)
        except Refused as refusal:
            return str(refusal.args[0])
        return DONE

    def _move_links(self, state: dict[str, Any], before: dict[int, int | None]) -> None:
        """Make the lab's bridges follow the MIB: a port whose access VLAN changed moves to that VLAN's bridge
        (a port between VLANs, in no untagged list for a moment within one PDU, stays where it is)."""
        for port, vid in access_vlans(state).items():
            if vid is None or vid == before.get(port):
                continue
            link = str(state["names"][str(port)])
            bridge = f"{self.bridge_prefix}{vid}"
            done = subprocess.run(
                ["ip", "link", "set", link, "master", bridge], capture_output=True, timeout=10
            )
            if done.returncode != 0:
                raise Refused("commit-failed")  # e.g. no bridge for that VLAN on this switch

    # --- SET semantics

    def _apply(self, state: dict[str, Any], oid: Oid, kind: str, value: Any) -> None:
        if oid[: len(self.base)] != self.base:
            raise Refused("not-writable")
        ports = int(state["ports"])
        if len(oid) == len(PVID) + 1 and oid[:-1] == PVID and self.serve_pvid:
            if kind not in ("gauge", "unsigned"):
                raise Refused("wrong-type")
            self._set_pvid(state, oid[-1], int(value))
            return
        if len(oid) == len(VLAN_STATIC) + 2 and oid[: len(VLAN_STATIC)] == VLAN_STATIC:
            column, vid = oid[-2], oid[-1]
            if not 1 <= vid <= MAX_VID:
                raise Refused("no-creation")
            vlan = state["vlans"].get(str(vid))
            if column == COL_ROW_STATUS:
                if kind != "integer":
                    raise Refused("wrong-type")
                self._set_row_status(state, vid, int(value))
                return
            if column == COL_NAME:
                if kind not in ("string", "octet"):
                    raise Refused("wrong-type")
                name = _admin_string(value)
                if vlan is None:
                    self._pending.setdefault(vid, {})[column] = name
                else:
                    vlan["name"] = name
                return
            if column in LIST_COLUMNS:
                if kind not in ("string", "octet"):
                    raise Refused("wrong-type")
                members = portlist.decode(value)
                if any(p > ports for p in members):
                    raise Refused("wrong-value")
                if vlan is None:
                    self._pending.setdefault(vid, {})[column] = members
                else:
                    self._set_list(state, vid, column, members)
                return
        raise Refused("not-writable")

    def _set_pvid(self, state: dict[str, Any], port: int, vid: int) -> None:
        if str(port) not in state["names"]:
            raise Refused("no-creation")
        vlan = state["vlans"].get(str(vid))
        if vlan is None or vlan["status"] != ACTIVE:
            raise Refused("inconsistent-value")
        if port in self.drop_ports or port in self.keep_pvid_ports:
            return
        state["pvid"][str(port)] = vid
        # a port has one access VLAN: the PVID and the one untagged membership move together
        self._make_access(state, port, vid)

    def _make_access(self, state: dict[str, Any], port: int, vid: int) -> None:
        for other_vid, other in state["vlans"].items():
            if int(other_vid) != vid and port in other["untagged"]:
                other["untagged"].remove(port)
                if port in other["egress"]:
                    other["egress"].remove(port)
        vlan = state["vlans"][str(vid)]
        for key in ("untagged", "egress"):
            if port not in vlan[key]:
                vlan[key] = sorted([*vlan[key], port])
        if port in vlan["forbidden"]:
            vlan["forbidden"].remove(port)
        if port not in self.keep_pvid_ports:
            state["pvid"][str(port)] = vid

    def _set_list(self, state: dict[str, Any], vid: int, column: int, members: frozenset[int]) -> None:
        vlan = state["vlans"][str(vid)]
        key = LIST_COLUMNS[column]
        old = set(vlan[key])
        # a dropped port keeps what it had, whatever the write says
        new = (set(members) - self.drop_ports) | (old & self.drop_ports)
        if column == COL_FORBIDDEN:
            if new & set(vlan["egress"]):
                raise Refused("inconsistent-value")
            vlan[key] = sorted(new)
            return
        if new & set(vlan["forbidden"]):
            raise Refused("inconsistent-value")
        vlan[key] = sorted(new)
        if column == COL_EGRESS:
            # untagged members are a subset of the egress members
            vlan["untagged"] = sorted(set(vlan["untagged"]) & new)
            return
        for port in sorted(new - old):
            self._make_access(state, port, vid)

    def _set_row_status(self, state: dict[str, Any], vid: int, status: int) -> None:
        vlans = state["vlans"]
        vlan = vlans.get(str(vid))
        if vlan is None:
            if status == DESTROY:
                self._pending.pop(vid, None)
                return
            if status not in (CREATE_AND_GO, CREATE_AND_WAIT):
                raise Refused("inconsistent-value")
            pending = self._pending.pop(vid, {})
            vlans[str(vid)] = {
                "name": pending.get(COL_NAME, f"VLAN{vid:04d}"),
                "egress": [],
                "forbidden": sorted(pending.get(COL_FORBIDDEN, ())),
                "untagged": [],
                "status": ACTIVE if status == CREATE_AND_GO else NOT_IN_SERVICE,
            }
            for column in (COL_EGRESS, COL_UNTAGGED):
                if column in pending:
                    self._set_list(state, vid, column, pending[column])
            return
        if status in (CREATE_AND_GO, CREATE_AND_WAIT):
            raise Refused("inconsistent-value")
        if status in (ACTIVE, NOT_IN_SERVICE):
            vlan["status"] = status
            return
        if status == DESTROY:
            default = min(int(v) for v in vlans)
            if vid == default:
                raise Refused("inconsistent-value")  # the default VLAN stays
            # its access ports fall back to the default VLAN
            orphans = set(vlan["untagged"]) | {int(p) for p, v in state["pvid"].items() if v == vid}
            del vlans[str(vid)]
            for port in sorted(orphans):
                self._make_access(state, port, default)
            return
        raise Refused("wrong-value")

    # --- the pass_persist loop

    def serve(self, stdin: IO[bytes], stdout: IO[bytes], log: IO[str] | None = None) -> None:
        def reply(*lines: str) -> None:
            data = "".join(f"{line}\n" for line in lines).encode("utf-8")
            if log is not None:
                log.write(f"> {lines!r}\n")
                log.flush()
            stdout.write(data)
            stdout.flush()

        def read() -> str | None:
            line = stdin.readline()
            if not line:
                return None
            text = line.decode("latin-1").rstrip("\r\n")
            if log is not None:
                log.write(f"< {text!r}\n")
            return text

        while True:
            command = read()
            if command is None:
                return
            command = command.strip()
            if not command:
                continue  # net-snmp 5.9.3 sends a blank line after each set: skip it, or the pipe desynchronises
            if command == "PING":
                reply("PONG")
                continue
            if command not in ("get", "getnext", "set"):
                continue
            oid_text = read()
            if oid_text is None:
                return
            value_text = read() if command == "set" else ""
            if value_text is None:
                return
            oid = parse_oid(oid_text)
            try:
                if command == "set":
                    reply(self.set(oid, value_text) if oid is not None else "not-writable")
                    continue
                found = None if oid is None else (self.get(oid) if command == "get" else self.getnext(oid))
            except Exception:  # answer, whatever went wrong: a silent agent stalls snmpd
                traceback.print_exc(file=sys.stderr)
                reply("commit-failed" if command == "set" else "NONE")
                continue
            if found is None:
                reply("NONE")
            elif found == CREATABLE:
                assert oid is not None
                reply(format_oid(oid), "absent", "")
            else:
                assert isinstance(found, tuple)
                reply(format_oid(found[0]), found[1], found[2])


def _json_of(cmd: list[str]) -> list[dict[str, Any]]:
    """An iproute2 command's JSON answer; nothing when it fails (a port read as absent, never a crash)."""
    done = subprocess.run(cmd, capture_output=True, timeout=10)
    if done.returncode != 0:
        return []
    try:
        answer = json.loads(done.stdout or b"[]")
    except ValueError:
        return []
    return answer if isinstance(answer, list) else []


def _admin_string(value: bytes | str) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    if len(text.encode("utf-8")) > NAME_MAX:
        raise Refused("wrong-length")
    if any(not ch.isprintable() for ch in text):
        raise Refused("wrong-value")
    return text


def _port_numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kavlan_core.lab.qbridge_agent",
        description="net-snmp pass_persist handler serving a Q-BRIDGE-MIB switch whose state lives in a JSON file",
    )
    parser.add_argument(
        "--state", required=True, help="JSON state file (created with every port in VLAN 1 if missing)"
    )
    parser.add_argument(
        "--ports", type=int, default=48, help="number of bridge ports when the state is created"
    )
    parser.add_argument(
        "--base-oid", default=".".join(map(str, BRIDGE)), help="the subtree snmpd passes to this handler"
    )
    parser.add_argument(
        "--name-format", default=DEFAULT_NAME_FORMAT, help="ifName of port i (0-based) / port (1-based)"
    )
    parser.add_argument(
        "--drop-writes-to-ports", default="", help="bridge ports whose writes are acknowledged and ignored"
    )
    parser.add_argument(
        "--keep-pvid-of-ports",
        default="",
        help="bridge ports whose dot1qPvid writes are acknowledged and ignored (their member lists still change)",
    )
    parser.add_argument("--no-pvid", action="store_true", help="serve no dot1qPvid, like switches without it")
    parser.add_argument(
        "--trim-portlists", action="store_true", help="serve PortLists without trailing zero octets"
    )
    parser.add_argument("--log", help="append every request and answer to this file")
    parser.add_argument(
        "--live",
        action="store_true",
        help="(the lab) serve the ports' link state and counters and the bridges' forwarding table, read live",
    )
    parser.add_argument(
        "--bridge-prefix", help="(the lab) move port links to the Linux bridge PREFIX<vid> of their VLAN"
    )
    args = parser.parse_args(argv)

    base = parse_oid(args.base_oid)
    if base is None:
        parser.error(f"bad --base-oid {args.base_oid!r}")
    ensure_state(args.state, args.ports, args.name_format)
    agent = QBridgeAgent(
        args.state,
        base=base,
        drop_ports=_port_numbers(args.drop_writes_to_ports),
        keep_pvid_ports=_port_numbers(args.keep_pvid_of_ports),
        pvid=not args.no_pvid,
        trim_portlists=args.trim_portlists,
        bridge_prefix=args.bridge_prefix,
        live=args.live,
    )
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115 - lives as long as the process
    try:
        agent.serve(sys.stdin.buffer, sys.stdout.buffer, log)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        if log is not None:
            log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
