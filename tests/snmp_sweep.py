"""Every switch recording through the SNMP drivers, against the ground truth of ``snmprec_truth``: each port read
right, refused, or wrong; on a writable copy, one access port moved to another VLAN and back, checked from the
responder's data (raw pysnmp, none of the drivers' code); and the table of verdicts.

The test that runs it is ``test_snmp_corpus.py``; this module only builds copies, sweeps and tabulates.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import snmprec_truth as truth
from pysnmp.hlapi.v3arch import asyncio as hlapi
from snmpsim_fixture import Sim, community_of, line_oid, oid_text, recording_lines, writable, write_recording

from kavlan_core.drivers.base import PortChange, PortState, SwitchDriver, SwitchError
from kavlan_core.drivers.snmp_session import shared_mib_view

Oid = tuple[int, ...]
RW = "-rw"  # a recording's writable copy is served as STEM-rw
RESERVED = range(1002, 1006)


# --- writable copies -------------------------------------------------------------------------------------------


def _is(oid: Oid, column: Oid, index: int) -> bool:
    return oid[: len(column)] == column and len(oid) == len(column) + index


STATIC = {"egress": truth.STATIC_EGRESS, "untagged": truth.STATIC_UNTAGGED}
CURRENT = {"egress": truth.CURRENT_EGRESS, "untagged": truth.CURRENT_UNTAGGED}


def qbridge_copy(lines: Sequence[str], variation: str) -> list[str]:
    """A Q-BRIDGE recording whose static member lists and PVIDs are writable; where it has no static table, one
    built from the current table (each VLAN's row at its latest time mark): LibreNMS did not walk the static
    table of these switches, and snmpsim can only write objects a recording holds. A switch with one VLAN gets a
    second one, empty, for a port to move to."""
    static = _rows(lines, STATIC, 1)
    out = [
        writable(x, variation) if _is(line_oid(x), truth.PVID, 1) or _in(line_oid(x), STATIC, 1) else x
        for x in lines
    ]
    added = {} if static else _rows(lines, CURRENT, 2)
    rows = static or added
    vids = {vid for _, vid in rows}
    text = any(tag == "4" and re.fullmatch(r"[0-9,]+", value) for tag, value in rows.values())
    if len(vids) == 1 and not (text and static):
        (only,) = vids
        length = max(len(truth._octets(tag, value)) for tag, value in rows.values())
        added.update({(kind, 2 if only != 2 else 3): ("4x", "00" * length) for kind in STATIC})
    for (kind, vid), (tag, value) in added.items():
        out.append(writable(f"{oid_text((*STATIC[kind], vid))}|{tag}|{value}", variation))
    for kind in STATIC:  # a VLAN with only one of its two lists gets the other, empty
        for vid in vids - {v for k, v in added if k == kind} - {v for k, v in static if k == kind}:
            out.append(writable(f"{oid_text((*STATIC[kind], vid))}|4|", variation))
    return out


def _in(oid: Oid, columns: dict[str, Oid], index: int) -> bool:
    return any(_is(oid, column, index) for column in columns.values())


def _rows(
    lines: Sequence[str], columns: dict[str, Oid], index: int
) -> dict[tuple[str, int], tuple[str, str]]:
    """(egress or untagged, vid) -> (tag, value) of a table's lines; the latest time mark's row of a VLAN."""
    found: dict[tuple[str, int], tuple[int, str, str]] = {}
    for line in lines:
        oid = line_oid(line)
        for kind, column in columns.items():
            if _is(oid, column, index):
                _, tag, value = line.split("|", 2)
                mark = oid[-2] if index == 2 else 0
                if (kind, oid[-1]) not in found or mark > found[(kind, oid[-1])][0]:
                    found[(kind, oid[-1])] = (mark, tag, value)
    return {key: (tag, value) for key, (_, tag, value) in found.items()}


def cisco_copy(lines: Sequence[str], variation: str) -> list[str]:
    """A Cisco recording whose vmVlan lines are writable. Where the VTP table has fewer than two operational VLANs
    that can take ports, it gets one more (operational, empty) for a port to move to: several recordings hold
    VLAN 1 and the reserved 1002-1005 only."""
    out = [writable(x, variation) if _is(line_oid(x), truth.VM_VLAN, 1) else x for x in lines]
    states = {
        oid[-1]: value
        for oid, value in ((line_oid(x), x.rsplit("|", 1)[1]) for x in lines)
        if _is(oid, truth.VTP_VLAN_STATE, 2) and oid[-2] == 1
    }
    usable = [vid for vid, state in states.items() if state == "1" and vid not in RESERVED]
    if states and len(usable) < 2:
        vid = min(v for v in range(2, 1002) if v not in states)
        out.append(f"{oid_text((*truth.VTP_VLAN_STATE, 1, vid))}|2|1")
    return out


def write_copies(paths: Sequence[Path], directory: Path) -> list[str]:
    """A writable copy of each recording in ``directory`` (``STEM-rw.snmprec``); the writecache instances they use."""
    variations = []
    for i, path in enumerate(paths):
        variation = f"wc{i}"
        lines = recording_lines(path)
        copy = cisco_copy(lines, variation) if truth.recording(path).cisco else qbridge_copy(lines, variation)
        write_recording(directory / f"{path.stem}{RW}.snmprec", copy)
        variations.append(variation)
    return variations


# --- verdicts -------------------------------------------------------------------------------------------------


def verdict(expected: truth.Port, got: PortState | None) -> str:
    """``right``: the driver reads the access VLAN (or the trunk) the data says; ``refused``: it refuses, with
    its reason, a port whose VLAN the data does not tell (or an aggregation); ``overcautious``: it refuses a port
    the data decides; ``wrong``: it claims what the data does not say."""
    # getattr: the sweep also measures drivers from before PortState.refused
    if got is None or getattr(got, "refused", None):
        return "refused" if expected.kind in ("unknown", "lag") else "overcautious"
    if got.trunk:
        return "right" if expected.kind == "trunk" else "wrong"
    return "right" if expected.kind == "access" and got.tag == expected.vlan else "wrong"


def reason_group(reason: str) -> str:
    """A refusal reason with its numbers and names taken out, to group alike ones."""
    text = re.sub(r"\b\d+\b", "N", reason)
    return re.sub(r"\(ifIndex [N, ]+\)|\(N(, N)+\)", "(...)", text)[:110]


@dataclass
class Result:
    """One recording's sweep."""

    name: str
    driver: str
    ports: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    move: str = ""
    move_ok: bool = True
    error: str = ""
    """Why the driver could not read the switch at all."""
    crash: str = ""
    """An exception that is no SwitchError, out of the driver or the sweep."""
    seconds: float = 0.0


# --- reads ---------------------------------------------------------------------------------------------------


async def read_sweep(sim: Sim, path: Path, result: Result) -> None:
    """Every port of the recording through its driver, each compared with the truth."""
    rec = truth.recording(path)
    expected = rec.ports()
    result.ports = len(expected)
    if not expected:
        return
    driver = sim.driver(community_of(path), result.driver, timeout=1.5)
    try:
        states = await driver.read_ports(list(expected))
    except SwitchError as exc:
        result.error = exc.reason
        for port in expected.values():
            result.counts[verdict(port, None)] += 1
        result.refusals[reason_group(f"switch: {exc.reason}")] += len(expected)
        return
    finally:
        await driver.close()
    for name, port in expected.items():
        state = states.get(name)
        kind = verdict(port, state)
        result.counts[kind] += 1
        refused = getattr(state, "refused", None)
        if refused:
            result.refusals[reason_group(refused)] += 1
        if kind == "wrong":
            result.wrong.append(f"{name}: data says {port.kind} {port.vlan or port.why}, driver says {state}")


# --- moves -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    port: str
    old: int
    new: int
    expect_refusal: str = ""
    """Words the driver's refusal must hold, when the move must be refused."""


def choose_move(rec: truth.Recording) -> Move | str:
    """The move to try on a writable copy: an access port to another VLAN the switch has; or why there is none."""
    ports = rec.ports()
    access = {n: p for n, p in ports.items() if p.kind == "access" and p.vlan is not None}
    if not access:
        return "no access port"
    if rec.cisco:
        return _cisco_move(rec, access)
    vids = sorted({vid for vid, *_ in truth.vlan_rows(rec) if 1 <= vid <= 4094})
    lived = Counter(p.vlan for p in access.values())
    for name, port in sorted(access.items(), key=lambda item: _has_pvid(rec, item[0])):
        assert port.vlan is not None
        others = sorted((v for v in vids if v != port.vlan), key=lambda v: -lived[v])
        if others:
            return Move(name, port.vlan, others[0])
    return "one VLAN only"


def _has_pvid(rec: truth.Recording, name: str) -> int:
    """0 for a port with a dot1qPvid row (tried first: its PVID must move too), else 1."""
    bp = truth.bridge_port_of(rec, name)
    return 0 if bp is not None and bp in rec.numbers(truth.PVID) else 1


def _cisco_move(rec: truth.Recording, access: dict[str, truth.Port]) -> Move:
    operational = {v for v, state in truth.vtp_states(rec).items() if state == 1 and v not in RESERVED}
    for name, port in sorted(access.items()):
        assert port.vlan is not None
        if port.vlan in operational and operational - {port.vlan}:
            return Move(name, port.vlan, min(operational - {port.vlan}))
    name, port = sorted(access.items())[0]
    assert port.vlan is not None
    return Move(name, port.vlan, 1002, expect_refusal="reserved VLANs 1002-1005")


class RawClient:
    """A bare pysnmp client of the responder, for what the tests check without the drivers: one engine for a
    whole sweep (an engine costs tens of milliseconds of CPU to build)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.engine: Any = None
        self.target: Any = None

    async def __aenter__(self) -> RawClient:
        self.engine = hlapi.SnmpEngine()
        self.engine.cache["mibViewController"] = shared_mib_view()
        self.target = await hlapi.UdpTransportTarget.create(
            ("127.0.0.1", self.sim.port), timeout=5, retries=1
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.engine.close_dispatcher()

    async def walk(self, community: str, column: Oid, reps: int) -> dict[Oid, bytes | int]:
        """A column straight from the responder, with pysnmp's own walk."""
        out: dict[Oid, bytes | int] = {}
        async for indication, status, _, varbinds in hlapi.bulk_walk_cmd(
            self.engine,
            hlapi.CommunityData(community, mpModel=1),
            self.target,
            hlapi.ContextData(),
            0,
            reps,
            hlapi.ObjectType(hlapi.ObjectIdentity(column)),
            lookupMib=False,
            lexicographicMode=False,
        ):
            assert not indication and not int(status), (community, column, indication, status)
            for name, value in varbinds:
                oid = tuple(name)[len(column) :]
                out[oid] = bytes(value.asOctets()) if hasattr(value, "asOctets") else int(value)
        return out


async def placing_objects(raw: RawClient, community: str, rec: truth.Recording) -> dict[str, dict[Oid, Any]]:
    """Every object that places a port, as the responder serves it now."""
    if rec.cisco:
        return {"vmVlan": await raw.walk(community, truth.VM_VLAN, 32)}
    longest = max((len(e) + len(u) for _, _, e, u in truth.vlan_rows(rec)), default=1)
    reps = max(1, 20000 // max(1, longest))
    egress, untagged, pvid = await asyncio.gather(
        raw.walk(community, truth.STATIC_EGRESS, reps),
        raw.walk(community, truth.STATIC_UNTAGGED, reps),
        raw.walk(community, truth.PVID, 32),
    )
    return {"egress": egress, "untagged": untagged, "pvid": pvid}


def recorded_objects(rec: truth.Recording) -> dict[str, dict[Oid, Any]]:
    """Every object that places a port, as the (writable copy of the) recording holds it before any write."""
    if rec.cisco:
        return {"vmVlan": {(i,): v for i, v in rec.numbers(truth.VM_VLAN).items()}}
    return {
        "egress": {k: v.octets for k, v in rec.column(truth.STATIC_EGRESS).items() if len(k) == 1},
        "untagged": {k: v.octets for k, v in rec.column(truth.STATIC_UNTAGGED).items() if len(k) == 1},
        "pvid": {(bp,): v for bp, v in rec.numbers(truth.PVID).items()},
    }


def _bit(octets: bytes, port: int) -> bool:
    i = (port - 1) // 8
    return i < len(octets) and bool(octets[i] & (0x80 >> ((port - 1) % 8)))


def _without(octets: bytes, port: int) -> bytes:
    """``octets`` with ``port``'s bit cleared and trailing zeros dropped: the rest of the list, to compare."""
    out = bytearray(octets)
    i = (port - 1) // 8
    if i < len(out):
        out[i] &= ~(0x80 >> ((port - 1) % 8)) & 0xFF
    return bytes(out).rstrip(b"\x00")


def qbridge_placed(
    before: dict[str, dict[Oid, Any]], now: dict[str, dict[Oid, Any]], bp: int, vid: int
) -> list[str]:
    """What disagrees with bridge port ``bp`` being an access port of ``vid`` alone, every other bit unchanged."""
    problems = []
    for column in ("egress", "untagged"):
        if set(now[column]) != set(before[column]):
            problems.append(f"{column}: rows changed")
        for key, octets in now[column].items():
            held = _bit(octets, bp)
            if held != (key == (vid,)):
                problems.append(f"{column} of VLAN {key[0]} {'holds' if held else 'lacks'} the port")
            if _without(octets, bp) != _without(before[column].get(key, b""), bp):
                problems.append(f"{column} of VLAN {key[0]}: other bits changed")
            if len(octets) < len(before[column].get(key, b"")):
                problems.append(f"{column} of VLAN {key[0]}: shortened")
    if (bp,) in before["pvid"] and now["pvid"].get((bp,)) != vid:
        problems.append(f"dot1qPvid is {now['pvid'].get((bp,))}")
    others = {k: v for k, v in now["pvid"].items() if k != (bp,)}
    if others != {k: v for k, v in before["pvid"].items() if k != (bp,)}:
        problems.append("other PVIDs changed")
    return problems


def cisco_placed(
    before: dict[str, dict[Oid, Any]], now: dict[str, dict[Oid, Any]], if_index: int, vid: int
) -> list[str]:
    problems = []
    if now["vmVlan"].get((if_index,)) != vid:
        problems.append(f"vmVlan is {now['vmVlan'].get((if_index,))}")
    if {k: v for k, v in now["vmVlan"].items() if k != (if_index,)} != {
        k: v for k, v in before["vmVlan"].items() if k != (if_index,)
    }:
        problems.append("other vmVlan changed")
    return problems


async def _one_way(driver: SwitchDriver, change: PortChange) -> tuple[PortState | None, str]:
    """A move as the core makes it: in a batch, read, ensure the VLAN, apply, read back; (read back, error)."""
    async with driver.batch():
        try:
            await driver.read_ports([change.port])
            await driver.ensure_vlan(change.new_tag, f"kavlan-{change.new_tag}")
            await driver.apply([change])
        except SwitchError as exc:
            return None, exc.reason
        after = await driver.read_ports([change.port])
    return after[change.port], ""


async def move_sweep(sim: Sim, raw: RawClient, copy: Path, result: Result) -> None:
    """One access port of the writable copy to another VLAN and back, each step checked from the responder."""
    rec = truth.Recording(copy)
    move = choose_move(rec)
    if isinstance(move, str):
        result.move = f"none ({move})"
        return
    community = community_of_copy(copy)
    driver = sim.driver(community, result.driver, timeout=1.5)
    try:
        result.move = await _move_and_back(raw, community, rec, driver, move)
        if rec.cisco:
            result.move += await _cisco_refusals(raw, community, rec, driver, move)
    finally:
        await driver.close()
    result.move_ok = "FAILED" not in result.move


def cisco_unusable(rec: truth.Recording) -> list[tuple[int, str]]:
    """VLANs the Cisco driver must refuse to move a port to, with words its refusal must hold: a reserved one
    (whatever the VTP table says of it), one absent from the VTP table, one that is there but not operational."""
    states = truth.vtp_states(rec)
    out = [(1002, "reserved VLANs 1002-1005")]
    absent = min(v for v in range(2, 1002) if v not in states)
    out.append((absent, "does not exist on the switch"))
    out += [
        (v, "not operational") for v, state in sorted(states.items()) if state != 1 and v not in RESERVED
    ][:1]
    return out


async def _cisco_refusals(
    raw: RawClient, community: str, rec: truth.Recording, driver: SwitchDriver, move: Move
) -> str:
    """Each VLAN of ``cisco_unusable`` refused for ``move``'s port, nothing written: '' or what went wrong."""
    original = await placing_objects(raw, community, rec)
    wrong = []
    for vid, words in cisco_unusable(rec):
        after, error = await _one_way(driver, PortChange(move.port, move.old, vid))
        if words not in error or not _same(await placing_objects(raw, community, rec), original):
            wrong.append(f"{vid} must be refused ({words}), driver said {error or after}")
    if wrong:
        return "; FAILED: " + "; ".join(wrong)
    return f"; {len(cisco_unusable(rec))} unusable VLANs refused"


def community_of_copy(copy: Path) -> str:
    return copy.stem


async def _move_and_back(
    raw: RawClient, community: str, rec: truth.Recording, driver: SwitchDriver, move: Move
) -> str:
    original = recorded_objects(rec)
    placed = cisco_placed if rec.cisco else qbridge_placed
    where = truth.if_index_of(rec, move.port) if rec.cisco else truth.bridge_port_of(rec, move.port)
    assert where is not None
    forward, back = PortChange(move.port, move.old, move.new), PortChange(move.port, move.new, move.old)
    after, error = await _one_way(driver, forward)
    if move.expect_refusal:
        unchanged = _same(await placing_objects(raw, community, rec), original)
        if error and move.expect_refusal in error and unchanged:
            return f"refused as it must be: {reason_group(error)}"
        return f"FAILED: {move.new} must be refused, driver said {error or after}"
    if error or after != PortState(move.new):
        restored = await _put_back(raw, community, rec, driver, back, original)
        why = error or f"read back {after}"
        return ("" if restored else "FAILED (not restored): ") + f"refused: {reason_group(why)}"
    problems = placed(original, await placing_objects(raw, community, rec), where, move.new)
    if problems:
        return f"FAILED: {move.port} {move.old}->{move.new} reads back right but {'; '.join(problems[:3])}"
    after, error = await _one_way(driver, back)
    problems = placed(original, await placing_objects(raw, community, rec), where, move.old)
    if error or after != PortState(move.old) or problems:
        return f"FAILED: back {move.port} {move.new}->{move.old}: {error or after} {'; '.join(problems[:3])}"
    return f"{move.port} {move.old}->{move.new} and back"


async def _put_back(
    raw: RawClient,
    community: str,
    rec: truth.Recording,
    driver: SwitchDriver,
    back: PortChange,
    original: Any,
) -> bool:
    """As the core does after a failed move: put the port back if anything changed; whether all is as it was."""
    if _same(await placing_objects(raw, community, rec), original):
        return True
    await _one_way(driver, back)
    return _same(await placing_objects(raw, community, rec), original)


def _same(now: dict[str, dict[Oid, Any]], before: dict[str, dict[Oid, Any]]) -> bool:
    """Whether every placing object is as it was (a list may have grown by trailing zeros)."""

    def norm(objects: dict[str, dict[Oid, Any]]) -> dict[str, dict[Oid, Any]]:
        return {
            kind: {k: v.rstrip(b"\x00") if isinstance(v, bytes) else v for k, v in values.items()}
            for kind, values in objects.items()
        }

    return norm(now) == norm(before)


# --- the table --------------------------------------------------------------------------------------------------


def table(results: Sequence[Result], seconds: float) -> str:
    """The devices with their verdicts, then the refusal reasons grouped."""
    lines = [
        f"{'recording':32} {'driver':12} {'ports':>5} {'right':>5} {'refus':>5} {'over':>4} {'wrong':>5} {'s':>5}  move"
    ]
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for r in results:
        totals.update(r.counts)
        reasons.update(r.refusals)
        lines.append(
            f"{r.name[:32]:32} {r.driver:12} {r.ports:5} {r.counts['right']:5} {r.counts['refused']:5} "
            f"{r.counts['overcautious']:4} {r.counts['wrong']:5} {r.seconds:5.1f}  {r.move[:100]}"
        )
    lines.append(
        f"{len(results)} recordings, {sum(r.ports for r in results)} ports: {totals['right']} right (access VLAN or "
        f"trunk as the data says), {totals['refused']} refused with the reason (the data does not tell, or an "
        f"aggregation), {totals['overcautious']} refused though the data tells, {totals['wrong']} wrong; moves: "
        f"{sum(1 for r in results if ' and back' in r.move)} there and back, "
        f"{sum(1 for r in results if r.move.startswith('refused'))} refused, "
        f"{sum(1 for r in results if r.move.startswith('none'))} without a candidate, "
        f"{sum(1 for r in results if not r.move_ok)} failed; "
        f"{sum(1 for r in results if r.error)} unreadable, {sum(1 for r in results if r.crash)} crashed; {seconds:.1f} s"
    )
    lines.append("refusal reasons (ports):")
    lines += [f"  {n:5}  {why}" for why, n in reasons.most_common()]
    return "\n".join(lines)
