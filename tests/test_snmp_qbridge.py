"""The snmp_qbridge driver against a real net-snmp snmpd on 127.0.0.1 serving the lab's Q-BRIDGE-MIB agent."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from snmpd_fixture import Snmpd, running_snmpd, set_access

from kavlan_core.drivers import portlist
from kavlan_core.drivers.base import PortChange, PortState, SwitchError, SwitchTimeout, driver_class
from kavlan_core.drivers.snmp_qbridge import SnmpQBridgeDriver, parse_address
from kavlan_core.drivers.snmp_session import SnmpSession
from kavlan_core.lab import qbridge_agent as agent
from kavlan_core.model import Switch

T = TypeVar("T")

# pysnmp calls pysmi's deprecated camelCase names when pysmi is installed: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"
STATIC = "1.3.6.1.2.1.17.7.1.4.3.1"
BRIDGE = (1, 3, 6, 1, 2, 1, 17)


def run(coro: Coroutine[Any, Any, T], seconds: float = 20.0) -> T:
    """Run one driver conversation, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, seconds)

    return asyncio.run(bounded())


async def with_driver(lab: Snmpd, kind: str, body: Any, **options: Any) -> Any:
    driver = SnmpQBridgeDriver(lab.switch(**options), lab.credentials(kind))
    try:
        return await body(driver)
    finally:
        await driver.close()


@pytest.fixture
def lab(snmpd: Snmpd) -> Snmpd:
    """The module's snmpd, its 48-port switch reset: every port in VLAN 1."""
    snmpd.reset()
    return snmpd


def names(lab: Snmpd, *bridge_ports: int) -> list[str]:
    return [lab.port_name(p) for p in bridge_ports]


# --- the driver against snmpd -----------------------------------------------------------------------------------------


def test_registered_under_its_name() -> None:
    assert driver_class("snmp_qbridge") is SnmpQBridgeDriver


def test_reads_every_port(lab: Snmpd) -> None:
    layout = {p: 1 for p in range(1, 49)} | {p: 10 for p in range(1, 13)} | {p: 20 for p in range(30, 37)}
    layout[48] = 4094
    lab.assign(layout)
    ports = names(lab, *range(1, 49))
    assert ports[0] == "ge-0/0/0" and ports[-1] == "ge-0/0/47"

    states = run(with_driver(lab, "rw", lambda d: d.read_ports(ports)))

    assert states == {lab.port_name(p): PortState(tag) for p, tag in layout.items()}


def test_reads_in_few_round_trips(lab: Snmpd, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = SnmpSession.request

    async def counting(self: SnmpSession, command: Any, auth: Any, *args: Any) -> Any:
        calls.append(command.__name__)
        return await original(self, command, auth, *args)

    monkeypatch.setattr(SnmpSession, "request", counting)
    ports = names(lab, *range(1, 49))

    async def twice(d: SnmpQBridgeDriver) -> None:
        await d.read_ports(ports)
        calls.clear()
        await d.read_ports(ports)  # the port map is cached now

    run(with_driver(lab, "rw", twice))
    # 48 PVIDs in one PDU of 48 varbinds, and the VLAN table in one GETBULK sized from the first walk
    assert calls.count("get_cmd") == 1
    assert calls.count("bulk_cmd") == 1


def test_moves_ports_between_vlans(lab: Snmpd) -> None:
    lab.assign({5: 10, 6: 10, 7: 10})
    moving = names(lab, 3, 6)

    async def move(d: SnmpQBridgeDriver) -> dict[str, PortState]:
        await d.ensure_vlan(100, "kavlan-4")
        await d.apply([PortChange(moving[0], 1, 100), PortChange(moving[1], 10, 100)])
        return await d.read_ports(names(lab, 3, 5, 6, 7))

    after = run(with_driver(lab, "rw", move))

    assert after == {
        moving[0]: PortState(100),
        lab.port_name(5): PortState(10),
        moving[1]: PortState(100),
        lab.port_name(7): PortState(10),
    }
    # the switch itself agrees: the agent's state, and net-snmp's own snmpget
    access = lab.access_vlans()
    assert (access[3], access[5], access[6], access[7], access[4]) == (100, 10, 100, 10, 1)
    assert lab.pvids()[3] == 100 and lab.pvids()[6] == 100
    vlans = lab.state()["vlans"]
    assert vlans["100"]["untagged"] == [3, 6] and vlans["100"]["egress"] == [3, 6]
    assert 3 not in vlans["1"]["egress"] and 6 not in vlans["10"]["egress"]
    assert lab.snmpget(f"{PVID}.3", f"{PVID}.6", f"{PVID}.5") == ["100", "100", "10"]
    untagged_100, untagged_1 = lab.snmpget(f"{STATIC}.4.100", f"{STATIC}.4.1", hex_strings=True)
    assert portlist.decode(portlist.from_hex(untagged_100.strip('"'))) == {3, 6}
    assert portlist.decode(portlist.from_hex(untagged_1.strip('"'))) == set(range(1, 49)) - {3, 5, 6, 7}


def test_one_batch_to_two_vlans_that_share_the_old_one(lab: Snmpd) -> None:
    lab.assign({1: 10, 2: 10, 3: 10, 4: 20, 5: 30})
    a, b, c = names(lab, 1, 2, 3)

    async def move(d: SnmpQBridgeDriver) -> dict[str, PortState]:
        await d.apply([PortChange(a, 10, 20), PortChange(b, 10, 30), PortChange(c, 10, 20)])
        return await d.read_ports([a, b, c])

    assert run(with_driver(lab, "rw", move)) == {a: PortState(20), b: PortState(30), c: PortState(20)}
    access = lab.access_vlans()
    assert (access[1], access[2], access[3], access[4], access[5]) == (20, 30, 20, 20, 30)
    assert lab.state()["vlans"]["10"]["untagged"] == []


def test_moves_back_and_forth(lab: Snmpd) -> None:
    port = lab.port_name(12)

    async def shuffle(d: SnmpQBridgeDriver) -> list[int | None]:
        seen = []
        for old, new in ((1, 7), (7, 8), (8, 1)):
            await d.ensure_vlan(new, f"v{new}")
            await d.apply([PortChange(port, old, new)])
            seen.append((await d.read_ports([port]))[port].tag)
        return seen

    assert run(with_driver(lab, "rw", shuffle)) == [7, 8, 1]
    assert lab.access_vlans()[12] == 1 and lab.pvids()[12] == 1


def test_creates_a_missing_vlan_once(lab: Snmpd) -> None:
    row_status, name = f"{STATIC}.5.300", f"{STATIC}.1.300"
    assert lab.snmpget(row_status) == ["No Such Instance currently exists at this OID"]

    async def create(d: SnmpQBridgeDriver) -> None:
        await d.ensure_vlan(300, "kavlan-7")
        await d.ensure_vlan(300, "kavlan-7")  # exists now: nothing to do
        await d.ensure_vlan(1, "default")

    run(with_driver(lab, "rw", create))
    vlan = lab.state()["vlans"]["300"]
    assert (vlan["name"], vlan["status"], vlan["untagged"]) == ("kavlan-7", 1, [])
    assert lab.snmpget(row_status, name) == ["1", '"kavlan-7"']


def test_move_to_a_vlan_the_switch_lacks_is_refused(lab: Snmpd) -> None:
    port = lab.port_name(2)
    with pytest.raises(SwitchError) as err:
        run(with_driver(lab, "rw", lambda d: d.apply([PortChange(port, 1, 999)])))
    assert "VLAN 999 does not exist" in err.value.reason and err.value.ports == (port,)
    assert lab.access_vlans()[2] == 1


def test_snmpv3_auth_priv(lab: Snmpd) -> None:
    port = lab.port_name(40)

    async def move(d: SnmpQBridgeDriver) -> tuple[PortState, PortState]:
        before = (await d.read_ports([port]))[port]
        await d.ensure_vlan(55, "kavlan-5")
        await d.apply([PortChange(port, 1, 55)])
        return before, (await d.read_ports([port]))[port]

    assert run(with_driver(lab, "v3", move)) == (PortState(1), PortState(55))
    assert lab.access_vlans()[40] == 55


def test_snmpv3_wrong_key_is_a_clear_error(lab: Snmpd) -> None:
    creds = lab.credentials("v3") | {"auth_key": "not-the-right-key"}
    driver = SnmpQBridgeDriver(lab.switch(), creds)

    async def read() -> Any:
        try:
            return await driver.read_ports([lab.port_name(1)])
        finally:
            await driver.close()

    with pytest.raises(SwitchError) as err:
        run(read())
    assert not isinstance(err.value, SwitchTimeout)
    assert "digest" in err.value.reason.lower() and err.value.switch == "sw1"


def test_read_only_community_is_refused_clearly(lab: Snmpd) -> None:
    port = lab.port_name(9)

    async def move(d: SnmpQBridgeDriver) -> None:
        assert (await d.read_ports([port]))[port] == PortState(1)  # reading is allowed
        await d.apply([PortChange(port, 1, 1)])

    with pytest.raises(SwitchError) as err:
        run(with_driver(lab, "ro", move))
    assert not isinstance(err.value, SwitchTimeout)
    assert "noAccess" in err.value.reason and "read-only" in err.value.reason
    assert str(err.value).startswith("switch sw1: ")
    assert err.value.ports == (port,)
    assert lab.state() == agent.initial_state(48)


def test_unknown_ports_are_refused_alone(lab: Snmpd) -> None:
    states = run(with_driver(lab, "rw", lambda d: d.read_ports(["ge-0/0/1", "xe-9/9/9", "me0"])))
    assert states["ge-0/0/1"] == PortState(1)  # read, next to the ports refused
    assert (
        states["xe-9/9/9"].refused == "does not exist on the switch (no interface has this ifName or ifDescr)"
    )
    # an interface that is not a bridge port (the management port)
    assert states["me0"].refused == "is not a bridge port (no dot1dBasePortIfIndex maps to it)"
    # a move of such a port is refused, naming it
    with pytest.raises(SwitchError) as err:
        run(with_driver(lab, "rw", lambda d: d.apply([PortChange("xe-9/9/9", 1, 1)])))
    assert "port xe-9/9/9 does not exist on the switch" in err.value.reason and err.value.ports == (
        "xe-9/9/9",
    )


def test_trunk_ports_are_reported(lab: Snmpd) -> None:
    with lab.edit() as state:
        set_access(state, 20, 10)
        state["vlans"]["1"]["egress"].append(20)  # also a tagged member of VLAN 1: a trunk
    trunk, access = names(lab, 20, 21)
    states = run(with_driver(lab, "rw", lambda d: d.read_ports([trunk, access])))
    assert states == {trunk: PortState(None, trunk=True), access: PortState(1)}


def test_bad_credentials_are_refused_before_any_traffic() -> None:
    switch = Switch(
        name="sw1", site="lab", driver="snmp_qbridge", address="127.0.0.1:9", options={"timeout": 0.5}
    )
    for creds, words in (
        ({"version": "2c"}, "community"),
        ({"version": "1", "community": "x"}, "not supported"),
        ({"version": "3"}, "user"),
        ({"version": "3", "user": "u", "auth_key": "k" * 8, "auth_protocol": "rot13"}, "auth_protocol"),
    ):
        driver = SnmpQBridgeDriver(switch, creds)
        with pytest.raises(SwitchError, match=words):
            run(driver.read_ports(["ge-0/0/0"]))


# --- switches that misbehave: each on an snmpd of its own --------------------------------------------------------


def test_a_stopped_agent_times_out_quickly(tmp_path: Path) -> None:
    with running_snmpd(tmp_path / "snmpd", ports=8) as lab:
        port = lab.port_name(3)
        driver = SnmpQBridgeDriver(lab.switch(), lab.credentials("rw"))

        async def conversation() -> tuple[PortState, SwitchTimeout, SwitchTimeout, float]:
            try:
                before = (await driver.read_ports([port]))[port]
                lab.stop()
                started = time.monotonic()
                with pytest.raises(SwitchTimeout) as read_err:
                    await driver.read_ports([port])
                with pytest.raises(SwitchTimeout) as apply_err:
                    await driver.apply([PortChange(port, 1, 1)])
                return before, read_err.value, apply_err.value, time.monotonic() - started
            finally:
                await driver.close()

        before, read_err, apply_err, seconds = run(conversation())

    assert before == PortState(1)
    assert read_err.reason == f"no answer from {lab.address} (timed out)"
    assert read_err.switch == "sw1" and apply_err.switch == "sw1"
    assert seconds < 3.0  # timeout=0.5, retries=0: a couple of timeouts, not a hang


def test_a_silently_dropped_write_shows_in_the_read_back(tmp_path: Path) -> None:
    with running_snmpd(tmp_path / "snmpd", ports=12, agent_args=["--drop-writes-to-ports", "5,6"]) as lab:
        kept, dropped = names(lab, 4, 5)

        async def move(d: SnmpQBridgeDriver) -> dict[str, PortState]:
            await d.ensure_vlan(20, "kavlan-4")
            await d.apply([PortChange(kept, 1, 20), PortChange(dropped, 1, 20)])  # acknowledged without error
            return await d.read_ports([kept, dropped])

        after = run(with_driver(lab, "rw", move))
        access = lab.access_vlans()

    assert after == {kept: PortState(20), dropped: PortState(1)}
    assert (access[4], access[5]) == (20, 1)


def test_a_switch_without_pvid_is_read_from_its_untagged_lists(tmp_path: Path) -> None:
    with running_snmpd(tmp_path / "snmpd", ports=12, agent_args=["--no-pvid"]) as lab:
        lab.assign({2: 10, 3: 10})
        a, b, c = names(lab, 1, 2, 3)
        assert lab.snmpget(f"{PVID}.1") == ["No Such Instance currently exists at this OID"]

        async def move(d: SnmpQBridgeDriver) -> tuple[dict[str, PortState], dict[str, PortState]]:
            before = await d.read_ports([a, b, c])
            await d.apply([PortChange(a, 1, 10), PortChange(b, 10, 1)])
            return before, await d.read_ports([a, b, c])

        before, after = run(with_driver(lab, "rw", move))
        assert before == {a: PortState(1), b: PortState(10), c: PortState(10)}
        assert after == {a: PortState(10), b: PortState(1), c: PortState(10)}

        # a port in no untagged list and without PVID: its VLAN is unknown, and the driver says so
        with lab.edit() as state:
            for vlan in state["vlans"].values():
                for key in ("egress", "untagged"):
                    if 3 in vlan[key]:
                        vlan[key].remove(3)
        states = run(with_driver(lab, "rw", lambda d: d.read_ports([a, c])))
        assert states[a] == PortState(10)  # refused alone: the other port still reads
        assert states[c].refused == "has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown"


def test_short_portlists_are_padded(tmp_path: Path) -> None:
    with running_snmpd(tmp_path / "snmpd", ports=24, agent_args=["--trim-portlists"]) as lab:
        lab.assign({3: 10})  # VLAN 10's lists come back as one octet, VLAN 1's as three
        assert lab.snmpget(f"{STATIC}.4.10", hex_strings=True) == ['"20 "']
        a, b = names(lab, 3, 20)

        async def move(d: SnmpQBridgeDriver) -> dict[str, PortState]:
            await d.apply([PortChange(b, 1, 10), PortChange(a, 10, 1)])
            return await d.read_ports([a, b])

        assert run(with_driver(lab, "rw", move)) == {a: PortState(1), b: PortState(10)}
        assert lab.state()["vlans"]["10"]["untagged"] == [20]
        assert lab.snmpget(f"{STATIC}.4.10", hex_strings=True) == ['"00 00 10 "']


# --- the pass_persist agent on its own ---------------------------------------------------------------------------


def converse(agent_: agent.QBridgeAgent, lines: list[str]) -> list[str]:
    out = io.BytesIO()
    agent_.serve(io.BytesIO("".join(f"{line}\n" for line in lines).encode()), out)
    return out.getvalue().decode().splitlines()


@pytest.fixture
def state_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "switch.json"
    agent.ensure_state(path, 12)
    yield path


def test_agent_speaks_pass_persist(state_file: Path) -> None:
    qb = agent.QBridgeAgent(state_file)
    answers = converse(
        qb,
        [
            "PING",
            "get",
            f".{PVID}.3",
            "set",
            f".{PVID}.3",
            "integer 5",
            "",  # the blank line net-snmp 5.9.3 sends after every set
            "set",
            f".{PVID}.3",
            "gauge 77",
            "",
            "get",
            f".{STATIC}.5.77",  # a row that does not exist but may be created
            "set",
            f".{STATIC}.1.77",
            'string "kavlan "x""',
            "",
            "set",
            f".{STATIC}.5.77",
            "integer 4",
            "",
            "set",
            f".{PVID}.3",
            "gauge 77",
            "",
            "get",
            f".{STATIC}.4.77",
            "get",
            f".{PVID}.13",
            "set",
            f".{STATIC}.5.1",
            "integer 6",
            "",
            "set",
            ".1.3.6.1.2.1.17.1.4.1.2.3",
            "integer 3",
            "",
            "PING",
        ],
    )
    assert answers == [
        "PONG",
        f".{PVID}.3",
        "gauge",
        "1",
        "wrong-type",
        "inconsistent-value",  # VLAN 77 does not exist yet
        f".{STATIC}.5.77",
        "absent",
        "",  # snmpd reports noSuchInstance, yet forwards a SET
        "DONE",
        "DONE",
        "DONE",
        f".{STATIC}.4.77",
        "octet",
        "20 00",
        "NONE",
        "inconsistent-value",  # the default VLAN stays
        "not-writable",
        "PONG",
    ]
    state = agent.load_state(state_file)
    assert state["vlans"]["77"] == {
        "name": 'kavlan "x"',
        "egress": [3],
        "forbidden": [],
        "untagged": [3],
        "status": 1,
    }
    assert state["pvid"]["3"] == 77 and 3 not in state["vlans"]["1"]["untagged"]


def test_agent_walks_in_oid_order(state_file: Path) -> None:
    with agent.edit_state(state_file) as state:
        set_access(state, 2, 300)
        set_access(state, 3, 20)
    for base in (BRIDGE, agent.IF_NAME):
        qb = agent.QBridgeAgent(state_file, base=base)
        seen: list[tuple[int, ...]] = []
        cursor: tuple[int, ...] = base
        for _ in range(1000):
            found = qb.getnext(cursor)
            if found is None:
                break
            cursor = found[0]
            seen.append(cursor)
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        assert all(oid[: len(base)] == base for oid in seen)
        if base == BRIDGE:
            vids = [oid[-1] for oid in seen if oid[: len(agent.VLAN_STATIC) + 1] == (*agent.VLAN_STATIC, 1)]
            assert vids == [1, 20, 300]  # numeric order, not string order
            assert len(seen) == 1 + 12 + 12 + 3 * 5 + 12
        else:
            assert len(seen) == 13 and qb.get((*agent.IF_NAME, 1001)) == (
                (*agent.IF_NAME, 1001),
                "string",
                "ge-0/0/0",
            )


def test_agent_drops_writes_to_chosen_ports(state_file: Path) -> None:
    qb = agent.QBridgeAgent(state_file, drop_ports=[2])
    with agent.edit_state(state_file) as state:
        set_access(state, 12, 9)
    assert qb.set((*agent.PVID, 2), "gauge 9") == "DONE"
    assert qb.set((*agent.PVID, 3), "gauge 9") == "DONE"
    everything = portlist.to_hex(portlist.encode(range(1, 13), 2))
    assert qb.set((*agent.VLAN_STATIC, 4, 9), f'octet "{everything}"') == "DONE"
    access = agent.access_vlans(agent.load_state(state_file))
    assert access[2] == 1 and access[3] == 9 and access[4] == 9


def test_agent_refuses_ports_it_does_not_have(state_file: Path) -> None:
    qb = agent.QBridgeAgent(state_file)
    too_far = portlist.to_hex(portlist.encode([13], 2))
    assert qb.set((*agent.VLAN_STATIC, 2, 1), f'octet "{too_far}"') == "wrong-value"
    assert qb.set((*agent.VLAN_STATIC, 1, 1), f'string "{"x" * 33}"') == "wrong-length"
    assert qb.get((*agent.PVID, 13)) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1", 161)),
        ("127.0.0.1:16161", ("127.0.0.1", 16161)),
        ("[::1]:1161", ("::1", 1161)),
        ("::1", ("::1", 161)),
        ("sw1.lab", ("sw1.lab", 161)),
    ],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected
