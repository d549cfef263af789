"""The order in which a driver meets ports changes nothing: what one read learns is never a fact about the switch.

On real recordings served by snmpsim (writable copies in a temporary directory): a port without a dot1qPvid row
met before a normal one (the normal one's PVID still moves with it), a port that becomes a trunk after a first
read, a port that is down (absent from the current table) in one read with ports that are up; and, through the
service, one powered-off node that blocks no move of the others on its switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snmprec_truth as truth
from snmp_sweep import qbridge_copy
from snmpsim_fixture import (
    CORPUS,
    Sim,
    needs_snmpsim,
    recording_lines,
    run,
    running_snmpsim,
    write_recording,
)

from conftest import SUBNETS
from conftest import run as run_service
from kavlan_core import config
from kavlan_core.drivers import portlist
from kavlan_core.drivers.base import PortChange, PortState, SwitchDriver, SwitchError
from kavlan_core.reports import Outcome
from kavlan_core.service import KavlanService

pytestmark = needs_snmpsim

# comware: GigabitEthernet0/0/1 (bridge port 1) is an access port of VLAN 1 without a dot1qPvid row;
# GigabitEthernet0/0/4 (bridge port 4) is an access port of VLAN 1 with dot1qPvid 1; VLAN 27 exists.
COMWARE = "comware"
NO_PVID, WITH_PVID = "GigabitEthernet0/0/1", "GigabitEthernet0/0/4"
# datacom: eth-1/25 (bridge port 25) has dot1qPvid 25 but is in no VLAN of the current table (a port that is
# down leaves it); eth-1/1..eth-1/3 are access ports of VLAN 1. The writable copy adds VLAN 2, empty.
DATACOM = "datacom"
DOWN, UP = "eth-1/25", ["eth-1/1", "eth-1/2", "eth-1/3"]
PVID = truth.PVID


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    workdir = tmp_path_factory.mktemp("order")
    data = workdir / "data"
    for i, stem in enumerate((COMWARE, DATACOM)):
        lines = recording_lines(CORPUS / f"{stem}.snmprec")
        write_recording(data / f"{stem}.snmprec", lines)
        write_recording(data / f"{stem}-rw.snmprec", qbridge_copy(lines, f"order{i}"))
    with running_snmpsim(workdir, [data], variations=["order0", "order1"], probe=DATACOM) as responder:
        yield responder


def test_the_data_is_as_the_comments_say() -> None:
    comware = truth.Recording(CORPUS / f"{COMWARE}.snmprec")
    assert comware.ports()[NO_PVID] == truth.Port(NO_PVID, "access", 1)
    assert comware.ports()[WITH_PVID] == truth.Port(WITH_PVID, "access", 1)
    assert 1 not in comware.numbers(PVID) and comware.numbers(PVID)[4] == 1
    datacom = truth.Recording(CORPUS / f"{DATACOM}.snmprec")
    assert datacom.ports()[DOWN].kind == "unknown" and datacom.numbers(PVID)[25] == 25
    assert all(datacom.ports()[p] == truth.Port(p, "access", 1) for p in UP)


async def talk(driver: SwitchDriver, body: Any) -> Any:
    try:
        return await body(driver)
    finally:
        await driver.close()


async def move(driver: SwitchDriver, change: PortChange) -> PortState:
    """As the core moves a port: in a batch, read, apply, read back."""
    async with driver.batch():
        await driver.read_ports([change.port])
        await driver.apply([change])
        return (await driver.read_ports([change.port]))[change.port]


def test_a_port_without_pvid_then_a_normal_one(sim: Sim) -> None:
    # the same driver meets first a port that has no dot1qPvid row: the next port's PVID is still read, written
    # and read back (a driver that concluded "no dot1qPvid on this switch" left the port half-moved: its lists
    # in VLAN 27, its PVID in VLAN 1, and read it back as a success)
    community = f"{COMWARE}-rw"

    async def conversation(d: SwitchDriver) -> tuple[Any, ...]:
        first = await d.read_ports([NO_PVID])
        moved = await move(d, PortChange(WITH_PVID, 1, 27))
        (pvid,) = await sim.get(community, (*PVID, 4))
        back = await move(d, PortChange(WITH_PVID, 27, 1))
        (pvid_back,) = await sim.get(community, (*PVID, 4))
        return first, moved, int(pvid), back, int(pvid_back)

    first, moved, pvid, back, pvid_back = run(talk(sim.driver(community), conversation))
    assert first == {NO_PVID: PortState(1)}
    assert (moved, pvid) == (PortState(27), 27)
    assert (back, pvid_back) == (PortState(1), 1)


def test_a_port_without_pvid_moves_by_its_lists_alone(sim: Sim) -> None:
    community = f"{COMWARE}-rw"

    async def conversation(d: SwitchDriver) -> tuple[Any, ...]:
        await d.read_ports([WITH_PVID])  # a port with a PVID first, this time
        moved = await move(d, PortChange(NO_PVID, 1, 27))
        lists = await sim.get(community, (*truth.STATIC_UNTAGGED, 27), (*truth.STATIC_UNTAGGED, 1))
        back = await move(d, PortChange(NO_PVID, 27, 1))
        return moved, [portlist.holds(bytes(v.asOctets()), 1) for v in lists], back

    moved, held, back = run(talk(sim.driver(community), conversation))
    assert moved == PortState(27) and held == [True, False] and back == PortState(1)


def test_a_trunk_on_the_second_read(sim: Sim) -> None:
    # detect_trunks = false (an option that once trusted dot1qPvid after a first read) changes nothing now
    community = f"{COMWARE}-rw"
    egress_27 = (*truth.STATIC_EGRESS, 27)

    async def conversation(d: SwitchDriver) -> tuple[Any, ...]:
        first = await d.read_ports([WITH_PVID])
        (octets,) = await sim.get(community, egress_27)
        original = bytes(octets.asOctets())
        await sim.set(community, egress_27, portlist.update(original, add=[4]))  # now also tagged in VLAN 27
        try:
            second = await d.read_ports([WITH_PVID])
            async with d.batch():
                in_batch = await d.read_ports([WITH_PVID])
                with pytest.raises(SwitchError) as err:
                    await d.apply([PortChange(WITH_PVID, 1, 27)])
        finally:
            await sim.set(community, egress_27, original)
        return first, second, in_batch, err.value

    first, second, in_batch, err = run(talk(sim.driver(community, detect_trunks=False), conversation))
    assert first == {WITH_PVID: PortState(1)}
    assert second == in_batch == {WITH_PVID: PortState(None, trunk=True)}
    assert "refusing to move trunk ports" in err.reason and err.ports == (WITH_PVID,)


def test_a_down_port_in_a_batch_with_up_ones(sim: Sim) -> None:
    states = run(talk(sim.driver(DATACOM), lambda d: d.read_ports([DOWN, *UP])))
    assert states == {
        DOWN: PortState(None, refused="has dot1qPvid 25 but is a member of no VLAN: its VLAN is unknown"),
        **{port: PortState(1) for port in UP},
    }
    # and the up ones move, in the same driver, after it met the down one
    community = f"{DATACOM}-rw"

    async def conversation(d: SwitchDriver) -> tuple[Any, ...]:
        first = await d.read_ports([DOWN, UP[0]])
        return first, await move(d, PortChange(UP[0], 1, 2)), await move(d, PortChange(UP[0], 2, 1))

    first, moved, back = run(talk(sim.driver(community), conversation))
    assert first[DOWN].refused and first[UP[0]] == PortState(1)
    assert (moved, back) == (PortState(2), PortState(1))


def _inventory(sim: Sim, path: Path) -> Path:
    """suno-1..3 on eth-1/1..3 of the datacom copy, suno-4 on eth-1/25 (down); DEFAULT is tag 1, VLAN 1 tag 2."""
    path.write_text(f"""
[[site]]
name = "sophia"
global_vlan = 18
default_subnet = "10.64.0.0/18"
global_subnet = "10.76.0.0/18"
default_tag = 1
tag_base = 1
{SUBNETS}
[[site.switch]]
name = "dc"
driver = "snmp_qbridge"
address = "127.0.0.1:{sim.port}"
credentials = "dc"
options = {{ timeout = 2, retries = 0 }}
[[site.cluster]]
name = "suno"
nodes = 4
[[site.cluster.cabling]]
nodes = "1-3"
switch = "dc"
port = "eth-1/{{k}}"
[[site.cluster.cabling]]
nodes = "4"
switch = "dc"
port = "eth-1/25"
""")
    return path


def test_one_powered_off_node_blocks_no_other_move(sim: Sim, kenv: dict[str, str], tmp_path: Path) -> None:
    creds = tmp_path / "credentials.toml"
    creds.write_text(f'[dc]\nversion = "2c"\ncommunity = "{DATACOM}-rw"\n')
    creds.chmod(0o600)  # a credentials file others may read is refused
    inv = _inventory(sim, tmp_path / "datacom.toml")
    settings = config.load(inventory=str(inv), credentials=str(creds), switch_retries=0, admins="alice")
    svc = KavlanService(settings)
    try:
        there = run_service(svc.set_vlan(["suno-1", "suno-2"], 1))
        assert there.ok, [(r.name, r.message) for r in there.results]
        # the powered-off node is refused with the driver's reason; the node with it is left alone
        both = run_service(svc.set_vlan(["suno-3", "suno-4"], 1))
        by = {r.name.split(".")[0]: r for r in both.results}
        assert by["suno-4"].status == Outcome.FAILURE
        assert by["suno-4"].message == (
            "port eth-1/25 of dc has dot1qPvid 25 but is a member of no VLAN: its VLAN is unknown"
        )
        assert by["suno-3"].status == Outcome.UNCHANGED
        # drift reads the whole switch: the powered-off port is reported unknown, the others are read
        drifts = run_service(svc.drift())
        assert [(d.node, d.actual) for d in drifts.drifts] == [("suno-4", None)]
        back = run_service(svc.set_vlan(["suno-1", "suno-2"], 0))
        assert back.ok, [(r.name, r.message) for r in back.results]
    finally:
        run_service(svc.close())


def test_reads_that_start_together_on_a_fresh_driver_share_one_session(sim: Sim) -> None:
    # two reads starting at once (a TUI poll beside a drift check) on a driver that has no session yet: the
    # second waited for nothing and used the session before its target existed (AttributeError)
    async def together(d: SwitchDriver) -> tuple[Any, ...]:
        return tuple(await asyncio.gather(d.read_ports(UP[:1]), d.read_ports(UP[1:])))

    first, second = run(talk(sim.driver(DATACOM), together))
    assert [first[p].tag for p in UP[:1]] == [1] and [second[p].tag for p in UP[1:]] == [1, 1]
