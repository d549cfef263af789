"""The SNMP drivers' monitoring reads on every switch recording (``shared/snmprec/`` and its corpus) under one
snmpsim process: each switch's forwarding table (Q-BRIDGE dot1qTpFdbTable, its filtering databases mapped to VLANs
by dot1qVlanFdbId, its bridge ports to ifNames) read as the file says, or refused with the reason; each port's
link (ifOperStatus) as the file says, and the counters the recordings were trimmed of read as unknown, never as 0.

The truth is read from the files here and in ``snmprec_truth``, with none of the drivers' code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snmprec_truth as truth
from snmpsim_fixture import CORPUS, SHARED, Sim, needs_snmpsim, running_snmpsim

from kavlan_core.drivers.base import FdbEntry, PortCounters, SwitchDriver

pytestmark = needs_snmpsim

ALL = sorted(SHARED.glob("*.snmprec")) + sorted(CORPUS.glob("*.snmprec")) if SHARED.is_dir() else []
AT_ONCE = 6
FDB_PORT = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2)
FDB_STATUS = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 3)
VLAN_FDB_ID = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 3)
OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with running_snmpsim(tmp_path_factory.mktemp("monitor"), [SHARED], probe="tplink_tplink_sg2008") as s:
        yield s


def expected_fdb(rec: truth.Recording) -> set[FdbEntry]:
    """The file's dot1qTpFdbTable: a filtering database is the VLAN dot1qVlanFdbId maps alone to it (the fdb id
    itself where the file has no dot1qVlanFdbId); the port is the ifName of the bridge port."""
    names = truth._Names(rec)
    bridge = truth.bridge_ports(rec)
    served: dict[int, set[int]] = {}
    for (_, vid), value in ((k, v) for k, v in rec.column(VLAN_FDB_ID).items() if len(k) == 2):
        served.setdefault(int(value.octets), set()).add(vid)
    status = {k: int(v.octets) for k, v in rec.column(FDB_STATUS).items()}
    out = set()
    for index, value in rec.column(FDB_PORT).items():
        if len(index) != 7 or status.get(index) in (2, 4):
            continue
        vids = served.get(index[0], set()) if served else {index[0]}
        tag = min(vids) if len(vids) == 1 else None
        port = names.name(bridge.get(int(value.octets), 0)) or ""
        out.add(FdbEntry(":".join(f"{b:02x}" for b in index[1:]), tag, port))
    return out


def unique_names(rec: truth.Recording) -> dict[str, int]:
    names = truth._Names(rec)
    out = {}
    for if_index in set(names.if_name) | set(names.if_descr):
        name = names.name(if_index)
        if name and names.holders(name) == {if_index}:
            out[name] = if_index
    return out


async def check_one(sim: Sim, path: Path) -> list[str]:
    """What this recording's reads got wrong (nothing when right)."""
    rec = truth.recording(path)
    community = path.relative_to(SHARED).with_suffix("").as_posix()
    driver: SwitchDriver = sim.driver(community, "snmp_cisco" if rec.cisco else "snmp_qbridge", timeout=5.0)
    wrong = []
    try:
        table = await driver.read_fdb()
        expected = expected_fdb(rec)
        if expected:
            if table.missing or set(table.entries) != expected:
                got = set(table.entries)
                wrong.append(
                    f"{path.stem}: FDB {table.missing or ''} missing {sorted(expected - got)[:3]} "
                    f"extra {sorted(got - expected, key=str)[:3]}"
                )
        elif not table.missing and table.entries:
            wrong.append(f"{path.stem}: FDB entries where the file has none: {table.entries[:3]}")
        names = unique_names(rec)
        status = rec.numbers(OPER_STATUS)
        counters = await driver.read_counters(sorted(names))
        for name, if_index in names.items():
            got_c = counters[name]
            want = status.get(if_index)
            if want is None:
                if got_c.refused is None:
                    wrong.append(f"{path.stem}: {name} has no ifOperStatus yet reads {got_c}")
            elif got_c != PortCounters(up=want == 1):
                wrong.append(f"{path.stem}: {name} reads {got_c}, the file says ifOperStatus {want}")
    finally:
        await driver.close()
    return wrong


def test_every_recording_fdb_and_link_read_as_the_file_says(sim: Sim) -> None:
    assert len(ALL) >= 115

    async def sweep() -> list[str]:
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(path: Path) -> list[str]:
            async with gate:
                return await check_one(sim, path)

        return [w for ws in await asyncio.gather(*(one(p) for p in ALL)) for w in ws]

    wrong = asyncio.run(asyncio.wait_for(sweep(), 240))
    assert not wrong, "\n".join(wrong[:30])


def test_a_switch_without_fdb_objects_says_so(sim: Sim) -> None:
    """A recording with no forwarding table: the read says it cannot tell, rather than an empty (clean) table."""
    path = next(p for p in ALL if not expected_fdb(truth.recording(p)))
    rec = truth.recording(path)

    async def read() -> str | None:
        driver = sim.driver(
            path.relative_to(SHARED).with_suffix("").as_posix(), "snmp_cisco" if rec.cisco else "snmp_qbridge"
        )
        try:
            return (await driver.read_fdb()).missing
        finally:
            await driver.close()

    missing = asyncio.run(asyncio.wait_for(read(), 30))
    assert missing and "dot1qTpFdbTable" in missing


def test_reads_that_start_together_share_one_session(sim: Sim) -> None:
    """A check's FDB walk and a view's counter read starting together on a fresh driver: both answered (the
    session is opened once, neither uses it before its target exists)."""

    async def both() -> None:
        driver = sim.driver("tplink_tplink_sg2008")
        try:
            table, counters = await asyncio.gather(
                driver.read_fdb(), driver.read_counters(["port 1: Gigabit Copper"])
            )
            assert table.entries or table.missing
            assert counters["port 1: Gigabit Copper"].up is not None
        finally:
            await driver.close()

    asyncio.run(asyncio.wait_for(both(), 30))


# --- Cisco: one BRIDGE-MIB table per VLAN, through community string indexing ------------------------------------

C3560 = SHARED / "cisco_ios_c3560.snmprec"
TP_FDB = "1.3.6.1.2.1.17.4.3.1"
BASE_PORT_IFINDEX = "1.3.6.1.2.1.17.1.4.1.2"


def vlan_context(bridge: dict[int, int], learned: list[tuple[str, int, int]]) -> str:
    """A per-VLAN context's recording: its bridge-port map and dot1dTpFdbTable (MAC, bridge port, status), sorted
    as snmpsim reads them."""
    lines = [(f"{BASE_PORT_IFINDEX}.{bp}", f"2|{if_index}") for bp, if_index in bridge.items()]
    for mac, bp, status in learned:
        index = ".".join(str(int(b, 16)) for b in mac.split(":"))
        lines += [
            (f"{TP_FDB}.1.{index}", f"4x|{mac.replace(':', '')}"),
            (f"{TP_FDB}.2.{index}", f"2|{bp}"),
            (f"{TP_FDB}.3.{index}", f"2|{status}"),
        ]
    lines.sort(key=lambda line: tuple(int(x) for x in line[0].split(".")))
    return "".join(f"{oid}|{value}\n" for oid, value in lines)


@pytest.fixture(scope="module")
def cisco_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """The 3560's recording (its VTP table: VLANs 1 and 2 operational) as ``c3560``, VLAN 1 and 2's contexts as
    ``c3560@1`` and ``c3560@2``; ``lone`` is the same switch with VLAN 1's context only."""
    data = tmp_path_factory.mktemp("cisco-contexts")
    recording = C3560.read_bytes()
    vlan1 = vlan_context(
        {1: 10101, 2: 10102},
        [("00:25:90:00:00:01", 1, 3), ("00:25:90:00:00:02", 2, 3), ("00:25:90:00:00:ff", 0, 4)],
    )
    vlan2 = vlan_context({1: 10103}, [("00:25:90:00:00:03", 1, 3)])  # bridge port 1 is another port here
    for name in ("c3560", "lone"):
        (data / f"{name}.snmprec").write_bytes(recording)
        (data / f"{name}@1.snmprec").write_text(vlan1)
    (data / "c3560@2.snmprec").write_text(vlan2)
    with running_snmpsim(tmp_path_factory.mktemp("cisco-sim"), [data], probe="c3560") as s:
        yield s


def read_fdb(sim: Sim, community: str) -> Any:
    async def read() -> Any:
        driver = sim.driver(community, "snmp_cisco")
        try:
            return await driver.read_fdb()
        finally:
            await driver.close()

    return asyncio.run(asyncio.wait_for(read(), 30))


def test_cisco_reads_each_vlans_table_through_its_community(cisco_sim: Sim) -> None:
    table = read_fdb(cisco_sim, "c3560")
    assert table.missing is None
    assert set(table.entries) == {
        FdbEntry("00:25:90:00:00:01", 1, "Gi0/1"),
        FdbEntry("00:25:90:00:00:02", 1, "Gi0/2"),
        FdbEntry("00:25:90:00:00:03", 2, "Gi0/3"),  # VLAN 2's own bridge-port map
    }


def test_cisco_without_a_vlans_context_says_which(cisco_sim: Sim) -> None:
    table = read_fdb(cisco_sim, "lone")
    assert not table.entries and table.missing
    assert "VLAN 2's table through community indexing (community@2) cannot be read" in table.missing


def test_the_3560_recording_alone_is_refused_with_the_reason(sim: Sim) -> None:
    """The recordings hold the 3560's default context only (its per-VLAN files were not copied): refused."""
    table = read_fdb(sim, "cisco_ios_c3560")
    assert not table.entries and table.missing
    assert "dot1dTpFdbTable" in table.missing and "community@1" in table.missing
