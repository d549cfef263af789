"""The ssh_cli driver against fake Cisco IOS, Junos and Dell OS10 switches served by asyncssh on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, TypeVar

import asyncssh
import pytest

from kavlan_core.drivers.base import PortChange, PortState, SwitchError, SwitchTimeout, driver_class
from kavlan_core.drivers.cli_dialects import (
    CISCO_IOS,
    DELL_OS10,
    DIALECTS,
    JUNOS,
    error_reason,
    load_errors,
    mentions,
    parse_ports,
)
from kavlan_core.drivers.cli_shell import Line, Load, Record, Records, Shell, Typed
from kavlan_core.drivers.ssh_cli import CliError, SshCliDriver
from kavlan_core.model import Switch

try:
    from fakes.cli_switch import FakeCliSwitch
except ImportError:  # tests/ imported as a package
    from tests.fakes.cli_switch import FakeCliSwitch  # type: ignore[no-redef]

T = TypeVar("T")

PORTS = {
    "cisco_ios": [f"GigabitEthernet1/0/{i}" for i in range(1, 7)],
    "junos": [f"ge-0/0/{i}" for i in range(1, 7)],
    "dell_os10": [f"ethernet1/1/{i}" for i in range(1, 7)],
}
TAGS = (10, 10, 20, 20, 10, 10)
FAST = {"command_timeout": 2, "connect_timeout": 2, "commit_timeout": 2, "lock_backoff": 0.01}
ALL = sorted(DIALECTS)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Every test is bounded: a hang fails in 20 s instead of blocking the suite."""
    return asyncio.run(asyncio.wait_for(coro, 20))


@contextlib.asynccontextmanager
async def lab(
    dialect: str, *, trunks: dict[str, tuple[int, ...]] | None = None, **options: Any
) -> AsyncIterator[tuple[FakeCliSwitch, SshCliDriver]]:
    async with FakeCliSwitch(dialect, dict(zip(PORTS[dialect], TAGS, strict=True)), trunks=trunks) as fake:
        driver = SshCliDriver(fake.switch(**{**FAST, **options}), fake.credentials)
        try:
            yield fake, driver
        finally:
            await driver.close()


def moves(dialect: str, tag: int, *indexes: int) -> list[PortChange]:
    return [PortChange(PORTS[dialect][i], TAGS[i], tag) for i in indexes]


async def raises(exc: type[BaseException], awaitable: Awaitable[Any]) -> Any:
    with pytest.raises(exc) as info:
        await awaitable
    return info.value


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL)
def test_read_ports_one_by_one_and_all_at_once(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect) as (fake, driver):
            ports = PORTS[dialect]
            assert await driver.read_ports(ports[:2]) == {ports[0]: PortState(10), ports[1]: PortState(10)}
            every = await driver.read_ports(ports)  # more than show_all_above: one "show" for all
            assert every == {p: PortState(t) for p, t in zip(ports, TAGS, strict=True)}
            assert DIALECTS[dialect].show_all[0] in fake.commands
            assert (fake.connections, fake.sessions) == (1, 1)

    run(go())


@pytest.mark.parametrize("dialect", ["cisco_ios", "dell_os10"])
def test_several_shows_are_typed_ahead_in_one_round_trip(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect) as (fake, driver):
            ports = PORTS[dialect]
            await driver.read_ports(ports[:1])
            before = fake.waits
            assert await driver.read_ports(ports[1:4]) == {
                p: PortState(t) for p, t in zip(ports[1:4], TAGS[1:4], strict=True)
            }
            assert fake.waits - before == 1 and fake.commands[-3:] == [
                DIALECTS[dialect].show_port[0].format(port=p) for p in ports[1:4]
            ]

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_trunk_ports_are_reported_as_trunks(dialect: str) -> None:
    async def go() -> None:
        trunk = (
            "GigabitEthernet1/0/9"
            if dialect == "cisco_ios"
            else {"junos": "ge-0/0/9", "dell_os10": "ethernet1/1/9"}[dialect]
        )
        async with lab(dialect, trunks={trunk: (20, 30)}) as (_, driver):
            states = await driver.read_ports([trunk, PORTS[dialect][0]])
            assert states[trunk] == PortState(None, trunk=True)
            assert states[PORTS[dialect][0]] == PortState(10)

    run(go())


def test_junos_members_given_by_vlan_name_are_resolved() -> None:
    async def go() -> None:
        async with lab("junos") as (fake, driver):
            fake.members_by_name = True
            fake.vlans[20] = "kavlan-4"
            states = await driver.read_ports(PORTS["junos"])
            assert [s.tag for s in states.values()] == list(TAGS)

    run(go())


def test_parse_matches_short_and_long_interface_names() -> None:
    cisco = "Name: Gi1/0/1\nAdministrative Mode: static access\nAccess Mode VLAN: 12 (VLAN0012)\n"
    assert parse_ports(CISCO_IOS, cisco) == {"Gi1/0/1": PortState(12)}
    dell = "Name: ethernet1/1/4\n802.1QTagged: Hybrid\nVlan membership:\nQ       Vlans\nU       1\nT       20-30\n"
    assert parse_ports(DELL_OS10, dell) == {"ethernet1/1/4": PortState(None, trunk=True)}

    async def go() -> None:
        async with lab("cisco_ios") as (_, driver):  # the fake prints Gi1/0/1 for GigabitEthernet1/0/1
            assert (await driver.read_ports(["Gi1/0/3"]))["Gi1/0/3"] == PortState(20)

    run(go())


def test_reading_an_unknown_port_names_it() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (_, driver):
            err = await raises(CliError, driver.read_ports(["GigabitEthernet1/0/1", "GigabitEthernet1/0/48"]))
            assert err.reason == "% Invalid input detected at '^' marker."
            assert err.ports == ("GigabitEthernet1/0/48",)

    run(go())


def test_error_messages_name_ports_exactly() -> None:
    assert mentions("Interface ge-0/0/1.0 is not present", "ge-0/0/1")
    assert not mentions("Interface ge-0/0/10 is not present", "ge-0/0/1")
    assert not mentions("Interface xge-0/0/1 is not present", "ge-0/0/1")


# --- writing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL)
def test_apply_a_batch_in_one_connection_and_one_session(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect) as (fake, driver):
            ports = PORTS[dialect]
            before = await driver.read_ports(ports[:3])
            await driver.ensure_vlan(30, "kavlan-4")
            await driver.apply(moves(dialect, 30, 0, 1, 2))
            after = await driver.read_ports(ports[:3])
            assert before == {p: PortState(t) for p, t in zip(ports[:3], TAGS, strict=False)}
            assert after == {p: PortState(30) for p in ports[:3]}
            assert [fake.ports[p] for p in ports] == [30, 30, 30, 20, 10, 10]
            # read, create the VLAN, apply, read back: one SSH connection, one interactive session
            assert (fake.connections, fake.sessions) == (1, 1)

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_describe_is_exactly_what_apply_sends(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect, save_config=True) as (fake, driver):
            await driver.read_ports(
                PORTS[dialect][:1]
            )  # opens the session: its set-up is not part of the batch
            changes = moves(dialect, 20, 0, 1, 4)
            planned = driver.describe(changes)
            sent_before = len(fake.commands)
            await driver.apply(changes)
            assert fake.commands[sent_before:] == planned
            assert fake.saves == (0 if dialect == "junos" else 1)  # a Junos commit is its own save
            assert driver.describe([]) == []

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_ensure_vlan_creates_a_missing_vlan_only(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect) as (fake, driver):
            await driver.ensure_vlan(30, "kavlan-4")
            assert fake.vlans[30] == "kavlan-4"
            sent_before = len(fake.commands)
            await driver.ensure_vlan(30, "kavlan-4")
            assert fake.commands[sent_before:] == [DIALECTS[dialect].show_vlan.format(vlan=30)]

    run(go())


def test_save_config_is_off_by_default() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            await driver.apply(moves("cisco_ios", 20, 0))
            assert fake.saves == 0 and "write memory" not in driver.describe(moves("cisco_ios", 20, 0))

    run(go())


# --- the switch says no ----------------------------------------------------------------------------------------


def test_cisco_unknown_port_is_the_switchs_own_error_and_the_session_survives() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            bad = PortChange("GigabitEthernet1/0/48", 10, 30)
            err = await raises(CliError, driver.apply([*moves("cisco_ios", 30, 0), bad]))
            assert err.reason == "% Invalid input detected at '^' marker."
            assert (
                err.ports == ("GigabitEthernet1/0/48",) and err.command == "interface GigabitEthernet1/0/48"
            )
            # IOS applies line by line: what came before the error stays; the caller reads back and rolls back
            assert fake.ports["GigabitEthernet1/0/1"] == 30
            assert fake.commands[-1] == "end"  # left configuration mode
            assert (await driver.read_ports(["GigabitEthernet1/0/1"]))["GigabitEthernet1/0/1"] == PortState(
                30
            )
            assert fake.connections == 1

    run(go())


def test_cisco_refused_vlan() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            fake.refuse_vlans.add(1002)
            err = await raises(SwitchError, driver.apply(moves("cisco_ios", 1002, 2)))
            assert err.reason == "Command rejected: Bad VLAN list - VLAN 1002 is reserved"
            assert fake.ports["GigabitEthernet1/0/3"] == 20

    run(go())


def test_error_patterns_tell_refusals_from_notices() -> None:
    assert error_reason(CISCO_IOS, "% Incomplete command.") == "% Incomplete command."
    assert error_reason(CISCO_IOS, "% Access VLAN does not exist. Creating vlan 30") is None
    assert error_reason(CISCO_IOS, "Building configuration...\n[OK]") is None
    assert error_reason(JUNOS, "warning: statement not found\n\n[edit]") is None
    assert error_reason(JUNOS, "          ^\nunknown command.") == "unknown command."
    assert error_reason(DELL_OS10, "% Error: Illegal parameter.") == "% Error: Illegal parameter."


def test_junos_commit_failure_is_rolled_back() -> None:
    async def go() -> None:
        async with lab("junos") as (fake, driver):
            bad = PortChange("ge-0/0/47", 10, 20)
            err = await raises(CliError, driver.apply([*moves("junos", 20, 0), bad]))
            assert err.reason.startswith("error: configuration check-out failed")
            assert "ge-0/0/47" in err.reason and err.ports == ("ge-0/0/47",)
            assert fake.commands[-3:] == ["commit and-quit", "rollback 0", "exit configuration-mode"]
            assert fake.candidate == []  # nothing left for someone else's commit
            assert fake.ports["ge-0/0/1"] == 10  # a Junos batch is all or nothing
            assert (await driver.read_ports(["ge-0/0/1"]))["ge-0/0/1"] == PortState(10)
            assert fake.connections == 1

    run(go())


def test_dell_missing_vlan_is_the_switchs_own_error() -> None:
    async def go() -> None:
        async with lab("dell_os10") as (fake, driver):
            err = await raises(CliError, driver.apply(moves("dell_os10", 30, 0)))
            assert err.reason == "% Error: VLAN 30 does not exist."
            assert err.ports == ("ethernet1/1/1",)
            assert fake.commands[-1] == "end"

    run(go())


def test_junos_locked_database_is_retried_until_the_commit_passes() -> None:
    async def go() -> None:
        async with lab("junos", commit_retries=5) as (fake, driver):
            fake.locked_commits = 2
            await driver.apply(moves("junos", 20, 0, 1))
            assert fake.commands.count("commit and-quit") == 3
            assert fake.ports["ge-0/0/1"] == fake.ports["ge-0/0/2"] == 20

    run(go())


def test_junos_locked_database_gives_up_clearly() -> None:
    async def go() -> None:
        async with lab("junos", commit_retries=2) as (fake, driver):
            fake.locked_commits = 10
            started = time.perf_counter()
            err = await raises(CliError, driver.apply(moves("junos", 20, 0)))
            assert time.perf_counter() - started < 2
            assert err.reason.startswith("error: configuration database locked by:")
            assert "netops terminal pts/1" in err.reason and err.reason.endswith(
                "still locked after 3 commits"
            )
            assert fake.commands.count("commit and-quit") == 3 and "rollback 0" in fake.commands
            assert fake.candidate == [] and fake.ports["ge-0/0/1"] == 10

    run(go())


# --- typed ahead ---------------------------------------------------------------------------------------------


def changes_to(dialect: str, tags: dict[int, int]) -> list[PortChange]:
    """Port index -> new tag."""
    return [PortChange(PORTS[dialect][i], TAGS[i], tag) for i, tag in tags.items()]


@pytest.mark.parametrize("dialect", ALL)
def test_a_batch_costs_the_same_round_trips_for_one_port_or_six(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect) as (fake, driver):
            await driver.read_ports(PORTS[dialect][:1])  # the session and its set-up are not part of a batch
            waits = []
            for tag, indexes in ((20, (0,)), (10, (0, 1, 2, 3, 4, 5))):
                before = fake.waits
                await driver.apply(moves(dialect, tag, *indexes))
                waits.append(fake.waits - before)  # each wait of the CLI for the client: a round trip
            # Junos: configure, the load command, its lines, ^D, the commit; IOS and OS10: every line at once
            assert waits == ([5, 5] if dialect == "junos" else [1, 1])
            assert [fake.ports[p] for p in PORTS[dialect]] == [10] * 6
            assert not driver.lost_type_ahead and fake.comments == []

    run(go())


@pytest.mark.parametrize("dialect", ALL)
def test_line_by_line_when_asked_or_when_the_cli_does_not_echo(dialect: str) -> None:
    async def go() -> None:
        for options, echoes in (({"type_ahead": 0}, True), ({}, False)):
            async with lab(dialect, **options) as (fake, driver):
                fake.echoes = echoes  # without echoes, type-ahead could not be checked: the set-up tells
                await driver.read_ports(PORTS[dialect][:1])
                before = fake.waits
                changes = moves(dialect, 20, 0, 1)
                await driver.apply(changes)
                lines = len([c for c in driver.describe(changes) if c not in DIALECTS[dialect].load])
                assert fake.waits - before == lines
                assert [fake.ports[p] for p in PORTS[dialect][:2]] == [20, 20]

    run(go())


def test_type_ahead_option_is_checked() -> None:
    for bad in (-1, "1024", True, 2**21):
        with pytest.raises(SwitchError, match="type_ahead"):
            SshCliDriver(
                Switch("sw", "test", "ssh_cli", "127.0.0.1", options={"dialect": "junos", "type_ahead": bad})
            )
    off = SshCliDriver(
        Switch("sw", "test", "ssh_cli", "127.0.0.1", options={"dialect": "junos", "type_ahead": 0})
    )
    assert not off.typing_ahead and "load set terminal" not in off.describe(moves("junos", 20, 0))
    on = SshCliDriver(Switch("sw", "test", "ssh_cli", "127.0.0.1", options={"dialect": "junos"}))
    assert on.describe(moves("junos", 20, 0))[:2] == ["configure", "load set terminal"]


def test_a_refusal_typed_ahead_names_its_own_line_and_port() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            fake.refuse_vlans.add(1002)
            ports = PORTS["cisco_ios"]
            err = await raises(
                CliError, driver.apply(changes_to("cisco_ios", {0: 30, 1: 1002, 2: 30, 3: 1002}))
            )
            assert err.reason == "Command rejected: Bad VLAN list - VLAN 1002 is reserved"
            assert err.command == "switchport access vlan 1002" and err.ports == (ports[1],)
            # every refused line, each with its port: the lines typed ahead after the first ran too
            assert [(r.command, r.port) for r in err.refusals] == [
                ("switchport access vlan 1002", ports[1]),
                ("switchport access vlan 1002", ports[3]),
            ]
            assert [fake.ports[p] for p in ports[:4]] == [30, 10, 30, 20]  # the caller reads back, rolls back
            assert fake.commands[-1] == "end" and fake.connections == 1

    run(go())


def test_an_unknown_port_typed_ahead_is_named_even_when_what_follows_logs_out() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            ports = PORTS["cisco_ios"]
            bad = PortChange("GigabitEthernet1/0/48", 10, 30)
            err = await raises(
                CliError, driver.apply([*moves("cisco_ios", 30, 0), bad, *moves("cisco_ios", 30, 2, 3)])
            )
            assert err.reason == "% Invalid input detected at '^' marker."
            assert (
                err.ports == ("GigabitEthernet1/0/48",) and err.command == "interface GigabitEthernet1/0/48"
            )
            # refused: its interface, then its VLAN line at the wrong level; its "exit" left configuration mode,
            # so the next port's lines were refused at the exec prompt, and that port's "exit" logged out
            assert [r.port for r in err.refusals[:2]] == ["GigabitEthernet1/0/48"] * 2
            assert fake.ports[ports[0]] == 30 and fake.ports[ports[2]] == 20 and fake.ports[ports[3]] == 20
            assert (await driver.read_ports(ports[:1]))[ports[0]] == PortState(30)
            assert fake.connections == 2  # the logged-out session was replaced

    run(go())


def test_junos_refusals_in_a_load_name_every_line_and_nothing_is_committed() -> None:
    async def go() -> None:
        async with lab("junos") as (fake, driver):
            fake.refuse_vlans.add(1002)
            err = await raises(CliError, driver.ensure_vlan(1002, "kavlan-9"))
            assert (
                err.reason == "error: vlan-id 1002 is reserved"
                and err.command == "set vlans kavlan-9 vlan-id 1002"
            )
            assert fake.commands[-2:] == ["rollback 0", "exit configuration-mode"]
            assert fake.candidate == [] and fake.commits == 0 and 1002 not in fake.vlans
            await driver.apply(moves("junos", 20, 0))  # the session is back at the operational prompt
            assert fake.ports["ge-0/0/1"] == 20

    run(go())


@contextlib.asynccontextmanager
async def shell_on(fake: FakeCliSwitch) -> AsyncIterator[Shell]:
    """A CLI session on the fake, for the engines' own tests."""
    async with asyncssh.connect(
        "127.0.0.1",
        fake.port,
        username=fake.username,
        password=fake.password,
        known_hosts=str(fake.known_hosts),
        client_keys=None,
        agent_path=None,
        config=None,
    ) as conn:
        process = await conn.create_process(term_type="vt100", term_size=(511, 24), encoding="utf-8")
        shell = Shell(process, DIALECTS[fake.dialect])
        await shell.start(2)
        yield shell


def test_a_load_attributes_each_error_to_the_line_it_numbers() -> None:
    async def go() -> None:
        async with lab("junos") as (fake, _), shell_on(fake) as shell:
            await shell.run("configure", 2)
            shell.write("load set terminal\n")
            assert (await shell.expect(JUNOS.load_ready, 1, 2))[0]
            lines = [
                Line("set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members 20", "ge-0/0/1"),
                Line("sett interfaces ge-0/0/2", "ge-0/0/2"),
                Line("set interfaces ge-0/0/3 unit 0 family ethernet-switching vlan members 20", "ge-0/0/3"),
                Line("set vlans v9 vlan-id 9"),
                Line("frobnicate ge-0/0/5", "ge-0/0/5"),
            ]
            loaded = await Load(shell, lines, 1024, 2).run()
            assert not loaded.lost
            assert [(r.port, r.reason) for r in loaded.refusals] == [
                ("ge-0/0/2", "syntax error: sett ([edit] 'sett interfaces ge-0/0/2' syntax error)"),
                ("ge-0/0/5", "syntax error: frobnicate ([edit] 'frobnicate ge-0/0/5' syntax error)"),
            ]
            assert len(fake.candidate) == 3  # what load set takes, it keeps: the driver rolls back

    run(go())


def test_a_slow_switch_gets_sync_lines_not_a_fallback() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            await driver.read_ports(PORTS["cisco_ios"][:1])  # a quick answer: silences soon look long
            fake.line_time = 0.12
            await driver.apply(moves("cisco_ios", 30, 0))
            assert fake.comments and all(c.startswith("! kavlan sync") for c in fake.comments)
            assert not driver.lost_type_ahead and fake.ports["GigabitEthernet1/0/1"] == 30
            assert "!" not in "".join(fake.commands)

    run(go())


# --- lost type-ahead -------------------------------------------------------------------------------------------


def test_a_misread_line_is_caught_by_its_echo_and_named_with_what_it_left() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            ports = PORTS["cisco_ios"]
            # the tail of one line met the rest of another: the CLI entered a port nobody asked for
            fake.misread["interface GigabitEthernet1/0/2"] = "interface GigabitEthernet1/0/5"
            err = await raises(CliError, driver.apply(moves("cisco_ios", 30, 0, 1)))
            assert "ran lines never sent: `interface GigabitEthernet1/0/5`" in err.reason
            assert "GigabitEthernet1/0/5 is in VLAN 30" in err.reason  # read back after the batch was redone
            assert driver.lost_type_ahead and not driver.typing_ahead
            assert [fake.ports[p] for p in ports[:2]] == [30, 30]  # the batch, again line by line
            before = fake.waits
            await driver.apply(moves("cisco_ios", 20, 0))
            assert fake.waits - before == 5  # line by line from now on
            assert fake.connections == 1

    run(go())


def test_a_switch_that_hangs_up_after_lost_type_ahead_gets_the_batch_again_on_a_new_session() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            ports = PORTS["cisco_ios"]
            # a cut line the switch refuses; the "exit" lines after it walk out of configuration mode, then log out
            fake.misread["interface GigabitEthernet1/0/2"] = "interface GigabitEthernet1/0/9"
            await driver.apply(moves("cisco_ios", 30, 0, 1, 2, 3))
            assert [fake.ports[p] for p in ports[:4]] == [30] * 4
            assert driver.lost_type_ahead and fake.connections == 2
            assert "interface GigabitEthernet1/0/9" in fake.commands

    run(go())


@pytest.mark.parametrize("buffer", [40, 64, 100, 250])
def test_type_ahead_the_switch_drops_is_redone_and_nothing_else_changes_unnamed(buffer: int) -> None:
    """Whatever the switch makes of a stream it cut: the batch ends applied, and a port outside it that changed is
    named in the error."""

    async def go() -> None:
        names = [f"GigabitEthernet1/0/{i}" for i in range(1, 49)]
        async with FakeCliSwitch("cisco_ios", dict.fromkeys(names, 10), vlans={10: "v", 20: "w"}) as fake:
            fake.input_buffer, fake.line_time = buffer, 0.001
            driver = SshCliDriver(fake.switch(**FAST), fake.credentials)
            batch = [PortChange(p, 10, 20) for p in names[:24]]
            try:
                await driver.apply(batch)
                reason = ""
            except CliError as exc:
                reason = exc.reason
            finally:
                await driver.close()
            assert fake.dropped and driver.lost_type_ahead
            assert all(fake.ports[p] == 20 for p in names[:24])
            changed = [p for p in names[24:] if fake.ports[p] != 10]
            assert all(f"interface {p}`" in reason for p in changed), (changed, reason)
            assert not reason or "ran lines never sent" in reason

    run(go())


def test_junos_lost_echo_rolls_back_the_load_and_goes_line_by_line() -> None:
    async def go() -> None:
        async with lab("junos") as (fake, driver):
            await driver.read_ports(PORTS["junos"][:1])
            fake.input_buffer = 64
            await driver.apply(moves("junos", 20, 0, 1, 2))
            assert driver.lost_type_ahead and fake.dropped
            assert "rollback 0" in fake.commands and fake.candidate == [] and fake.commits == 1
            assert [fake.ports[p] for p in PORTS["junos"][:3]] == [20, 20, 20]

    run(go())


# --- the pieces, without a switch ------------------------------------------------------------------------------


def test_records_split_an_echoed_stream_at_prompts() -> None:
    host = "sw1"

    def prompt_at(text: str, whole: bool) -> int | None:
        m = (re.fullmatch if whole else re.match)(CISCO_IOS.prompt, text)
        return m.end() if m and m["host"] == host else None

    records = Records(prompt_at)
    stream = "interface Gi1/0/1\nsw1(config-if)#switchport access vlan 9\n% Invalid input\nsw1(conf"
    done = records.feed(stream)
    assert [(r.prompt, r.echo, r.answer) for r in done] == [("", "interface Gi1/0/1", [])]
    done = records.feed("ig-if)#")  # a prompt alone ends the record before it
    assert [(r.prompt, r.echo, r.answer) for r in done] == [
        ("sw1(config-if)#", "switchport access vlan 9", ["% Invalid input"])
    ]
    assert records.feed("exit\nsw2#not ours\nsw1(config)#") == [
        Record("sw1(config-if)#", "exit", ["sw2#not ours"])
    ]


def test_unexpected_lines_are_the_accepted_ones_never_sent() -> None:
    typed = Typed(
        lost=True,
        strays=[
            Record("#", "interface GigabitEthernet1/0/5"),  # accepted, never sent
            Record("#", "switchport access vlan 3"),  # sent: the batch is redone anyway
            Record("#", "switchport acce! kavlan sync 1", ["% Invalid input detected at '^' marker."]),
            Record("#", ""),
        ],
    )
    lines = [Line("interface GigabitEthernet1/0/2", "GigabitEthernet1/0/2"), Line("switchport access vlan 3")]
    assert typed.unexpected(CISCO_IOS, lines) == ["interface GigabitEthernet1/0/5"]


def test_load_errors_read_junos_own_words() -> None:
    answer = (
        "^Dterminal:1:(41) syntax error: topology\nload complete\n\n[edit]\n"
        "terminal:3:(16) syntax error: topology\n  [edit protocols ospf3]\n    'topology default {'\n      syntax error\n"
        "terminal:5:(9) warning: statement has no contents; ignored\nload complete (1 errors)"
    )
    assert load_errors(JUNOS, answer) == {
        0: "syntax error: topology",
        2: "syntax error: topology ([edit protocols ospf3] 'topology default {' syntax error)",
    }


def test_dialects_are_checked_when_defined() -> None:
    with pytest.raises(ValueError, match="type-ahead needs a sync line"):
        dataclasses.replace(CISCO_IOS, sync="")
    with pytest.raises(ValueError, match="not a regular expression"):
        dataclasses.replace(CISCO_IOS, tag="(")
    with pytest.raises(ValueError, match="group 'host'"):
        dataclasses.replace(CISCO_IOS, prompt=r"\S+#")
    with pytest.raises(ValueError, match="load needs"):
        dataclasses.replace(JUNOS, load_error="")
    assert dataclasses.replace(CISCO_IOS, sync="", type_ahead=0).type_ahead == 0


# --- silence and hang-ups --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL)
def test_a_switch_that_stops_answering_mid_batch_times_out_quickly(dialect: str) -> None:
    async def go() -> None:
        async with lab(dialect, command_timeout=0.3) as (fake, driver):
            changes = moves(dialect, 20, 0, 1, 4)
            second = DIALECTS[dialect].set_access[0].format(port=PORTS[dialect][1], vlan=20)
            fake.stall_on = second
            started = time.perf_counter()
            err = await raises(SwitchTimeout, driver.apply(changes))
            assert time.perf_counter() - started < 1.5
            assert second in err.reason and err.ports == (PORTS[dialect][1],)
            fake.stall_on = None
            await driver.apply(changes)  # the session in an unknown state was dropped: a fresh one is opened
            assert fake.connections == 2
            assert [fake.ports[PORTS[dialect][i]] for i in (0, 1, 4)] == [20, 20, 20]

    run(go())


def test_a_server_that_never_speaks_ssh_times_out() -> None:
    async def go() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(), 5)
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            sw = Switch(
                "mute",
                "test",
                "ssh_cli",
                f"127.0.0.1:{port}",
                options={"dialect": "cisco_ios", "connect_timeout": 0.3},
            )
            driver = SshCliDriver(sw, {"username": "admin", "password": "secret"})
            started = time.perf_counter()
            await raises(SwitchTimeout, driver.read_ports(["Gi1/0/1"]))
            assert time.perf_counter() - started < 1.5
            await driver.close()
        finally:
            server.close()
            await server.wait_closed()

    run(go())


def test_a_dropped_connection_is_reopened() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            await driver.read_ports(PORTS["cisco_ios"][:1])
            fake.drop_connections()  # idle timeout or reload on the switch's side
            assert (await driver.read_ports(PORTS["cisco_ios"][:1]))[PORTS["cisco_ios"][0]] == PortState(10)
            assert fake.connections == 2

    run(go())


def test_a_cancelled_call_does_not_leave_its_answer_to_the_next() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            await driver.read_ports(PORTS["cisco_ios"][:1])
            fake.line_time = 0.2
            sent = len(fake.commands)
            task = asyncio.ensure_future(driver.read_ports(PORTS["cisco_ios"][2:3]))
            # until the switch has the command, its answer held back (run() bounds the wait)
            while len(fake.commands) == sent:
                await asyncio.sleep(0.005)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            fake.line_time = 0
            assert await driver.read_ports(PORTS["cisco_ios"][:1]) == {PORTS["cisco_ios"][0]: PortState(10)}
            assert fake.connections == 2

    run(go())


# --- what never reaches a command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "port, tag",
    [
        ("GigabitEthernet1/0/1; reload", 20),
        ("GigabitEthernet1/0/1\nreload", 20),
        ("GigabitEthernet1/0/1\n", 20),
        ("Gi 1/0/1", 20),
        ("", 20),
        ("GigabitEthernet1/0/1", 0),
        ("GigabitEthernet1/0/1", 4095),
        ("GigabitEthernet1/0/1", True),
        ("GigabitEthernet1/0/1", "20"),
    ],
)
def test_injection_attempts_are_refused_before_anything_is_sent(port: str, tag: Any) -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            change = PortChange(port, 10, tag)
            with pytest.raises(SwitchError):
                driver.describe([change])
            await raises(SwitchError, driver.apply([PortChange("GigabitEthernet1/0/2", 10, 20), change]))
            if tag == 20:
                await raises(SwitchError, driver.read_ports(["GigabitEthernet1/0/2", port]))
            else:
                await raises(SwitchError, driver.ensure_vlan(tag, "kavlan-4"))
            await raises(SwitchError, driver.ensure_vlan(20, "kavlan-4\nreload"))
            assert (fake.connections, fake.commands) == (0, [])

    run(go())


# --- logging in ------------------------------------------------------------------------------------------------


def test_host_keys_are_checked() -> None:
    async def go() -> None:
        async with lab("cisco_ios") as (fake, driver):
            other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
            fake.known_hosts.write_text(f"[127.0.0.1]:{fake.port} {other}\n")
            err = await raises(SwitchError, driver.read_ports(PORTS["cisco_ios"][:1]))
            assert "host key" in err.reason and not isinstance(err, SwitchTimeout)
            assert fake.sessions == 0
            # host-key checking off is for loopback tests only, and only when asked for by name
            loose = SshCliDriver(fake.switch(known_hosts="none", **FAST), fake.credentials)
            assert (await loose.read_ports(PORTS["cisco_ios"][:1]))[PORTS["cisco_ios"][0]] == PortState(10)
            await loose.close()

    run(go())


def test_client_key_login_and_refused_password() -> None:
    async def go() -> None:
        async with lab("dell_os10") as (fake, _):
            keyed = SshCliDriver(
                fake.switch(**FAST), {"username": "admin", "client_keys": [fake.client_key()]}
            )
            assert (await keyed.read_ports(["ethernet1/1/3"]))["ethernet1/1/3"] == PortState(20)
            await keyed.close()
            wrong = SshCliDriver(fake.switch(**FAST), {"username": "admin", "password": "nope"})
            err = await raises(SwitchError, wrong.read_ports(["ethernet1/1/3"]))
            assert "refused" in err.reason and not isinstance(err, SwitchTimeout)
            nothing = SshCliDriver(fake.switch(**FAST), {"username": "admin"})
            await raises(SwitchError, nothing.read_ports(["ethernet1/1/3"]))

    run(go())


# the first loop ends with the connection open, as a careless caller would leave it: its transport is reported unclosed
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_driver_survives_successive_event_loops() -> None:
    """A driver kept from one event loop to the next must not reuse the dead loop's connection."""
    with FakeCliSwitch("junos", dict(zip(PORTS["junos"], TAGS, strict=True))).in_thread() as fake:
        driver = SshCliDriver(fake.switch(**FAST), fake.credentials)
        assert run(driver.read_ports(["ge-0/0/1"]))["ge-0/0/1"] == PortState(10)

        async def again() -> PortState:
            try:
                await driver.apply(moves("junos", 20, 0))
                return (await driver.read_ports(["ge-0/0/1"]))["ge-0/0/1"]
            finally:
                await driver.close()

        assert run(again()) == PortState(20)
        assert fake.connections == 2


def test_registry_and_unknown_dialect() -> None:
    assert driver_class("ssh_cli") is SshCliDriver
    with pytest.raises(SwitchError, match="unknown CLI dialect 'procurve'"):
        SshCliDriver(Switch("sw", "test", "ssh_cli", "127.0.0.1", options={"dialect": "procurve"}), {})
