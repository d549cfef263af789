"""Monitoring through the vendor CLIs: the ssh_cli driver reads the MAC address table and each port's link and
counters of fake Cisco IOS, Junos and Dell OS10 switches (asyncssh on loopback), ports named as the inventory names
them; a port the switch refuses is refused alone."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from kavlan_core.drivers.base import DriverContext, FdbEntry, PortChange
from kavlan_core.drivers.cli_dialects import DIALECTS
from kavlan_core.drivers.cli_monitor import MONITORS, mac_of
from kavlan_core.drivers.ssh_cli import SshCliDriver

try:
    from fakes.cli_switch import FakeCliSwitch, short_name
except ImportError:  # tests/ imported as a package
    from tests.fakes.cli_switch import FakeCliSwitch, short_name  # type: ignore[no-redef]

T = TypeVar("T")

PORTS = {
    "cisco_ios": [f"GigabitEthernet1/0/{i}" for i in range(1, 5)],
    "junos": [f"ge-0/0/{i}" for i in range(1, 5)],
    "dell_os10": [f"ethernet1/1/{i}" for i in range(1, 5)],
}
UPLINK = {"cisco_ios": "TenGigabitEthernet1/1/1", "junos": "xe-0/1/0", "dell_os10": "ethernet1/1/49"}
TAGS = (100, 100, 704, 705)
MACS = [f"02:00:00:00:00:0{i}" for i in range(1, 5)]
FAST = {"command_timeout": 2, "connect_timeout": 2}
ALL = sorted(DIALECTS)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 20))


def fake_switch(dialect: str) -> FakeCliSwitch:
    ports: dict[str, int | None] = dict(zip(PORTS[dialect], TAGS, strict=True))
    ports[UPLINK[dialect]] = None
    fake = FakeCliSwitch(dialect, ports, trunks={UPLINK[dialect]: (100, 704, 705)})
    fake.cabled = dict(zip(PORTS[dialect], MACS, strict=True))
    return fake


def driver_of(fake: FakeCliSwitch, dialect: str, **options: Any) -> SshCliDriver:
    # the inventory names the ports in full; Cisco prints them short in its tables
    context = DriverContext(cabled=dict(zip(PORTS[dialect], MACS, strict=True)))
    return SshCliDriver(fake.switch(**{**FAST, **options}), fake.credentials, context)


def test_every_dialect_has_its_monitoring_commands() -> None:
    assert sorted(MONITORS) == ALL
    assert mac_of("0025.9066.1A2B") == mac_of("00:25:90:66:1a:2b") == "00:25:90:66:1a:2b"


@pytest.mark.parametrize("dialect", ALL)
def test_the_mac_table_follows_the_ports(dialect: str) -> None:
    async def go() -> None:
        fake = fake_switch(dialect)
        async with fake:
            driver = driver_of(fake, dialect)
            try:
                uplink = UPLINK[dialect]
                fake.learned = [("02:00:00:00:00:99", 704, uplink)]  # a host behind the uplink
                table = await driver.read_fdb()
                assert table.missing is None
                expected = {FdbEntry(m, t, p) for m, t, p in zip(MACS, TAGS, PORTS[dialect], strict=True)}
                # a port the inventory does not name keeps the switch's own name for it
                printed = short_name(uplink) if dialect == "cisco_ios" else uplink
                expected.add(FdbEntry("02:00:00:00:00:99", 704, printed))
                assert set(table.entries) == expected
                # a port moved: its host is learned in its new VLAN; a link down: forgotten
                await driver.apply([PortChange(PORTS[dialect][0], 100, 705)])
                fake.down = {PORTS[dialect][1]}
                entries = set((await driver.read_fdb()).entries)
                assert FdbEntry(MACS[0], 705, PORTS[dialect][0]) in entries
                assert not any(e.mac == MACS[1] for e in entries)
                assert driver.requests_sent() > 0
            finally:
                await driver.close()

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_link_speed_and_counters_of_each_port(dialect: str) -> None:
    async def go() -> None:
        fake = fake_switch(dialect)
        async with fake:
            driver = driver_of(fake, dialect)
            try:
                first, second = PORTS[dialect][:2]
                fake.octets = {first: (2**40 + 5, 1234)}
                fake.in_errors = {first: 3}
                fake.down = {second}
                other = {
                    "cisco_ios": "GigabitEthernet9/0/9",
                    "junos": "ge-9/0/9",
                    "dell_os10": "ethernet9/9/9",
                }
                read = await driver.read_counters([first, second, other[dialect]])
                one = read[first]
                assert (one.up, one.in_octets, one.out_octets, one.in_errors) == (True, 2**40 + 5, 1234, 3)
                assert one.speed_mbps == (10_000 if dialect == "dell_os10" else 1000)
                assert read[second].up is False and read[second].refused is None
                refused = read[other[dialect]].refused
                assert refused is not None and refused.startswith("cannot be shown by the switch: ")
            finally:
                await driver.close()

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_counters_one_line_at_a_time(dialect: str) -> None:
    """A switch driven line by line (type_ahead 0) answers the same."""

    async def go() -> None:
        fake = fake_switch(dialect)
        async with fake:
            driver = driver_of(fake, dialect, type_ahead=0)
            try:
                fake.octets = {p: (i * 1000, i) for i, p in enumerate(PORTS[dialect])}
                read = await driver.read_counters(PORTS[dialect])
                assert [read[p].in_octets for p in PORTS[dialect]] == [0, 1000, 2000, 3000]
            finally:
                await driver.close()

    run(go())
