"""Reads that adapt to what a switch can answer, without a network: an agent behind ``SnmpSession.request`` whose
answers must fit a message size. A GETBULK too big for it (tooBig, or no answer at all) is asked again with
fewer rows, then column by column; a GET too big is split; the size that fit is remembered per switch and
table; a switch that answers nothing at all still fails as a timeout, quickly."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pysnmp.proto import errind, rfc1902, rfc1905

from kavlan_core.drivers.base import SwitchTimeout
from kavlan_core.drivers.snmp_qbridge import SnmpQBridgeDriver
from kavlan_core.drivers.snmp_session import SYS_UP_TIME, SnmpSession
from kavlan_core.model import Switch

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

EGRESS = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 4)
UNTAGGED = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 2, 1, 5)
PVID = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)
TOO_BIG = rfc1905.errorStatus.clone(1)


def oid_of(varbind: Any) -> tuple[int, ...]:
    """The OID a request varbind was built from (pysnmp keeps it unresolved: the session asks lookupMib=False)."""
    return tuple(varbind._ObjectType__args[0]._ObjectIdentity__args[0])


class Agent:
    """A switch that holds ``objects`` and answers only what fits ``limit`` octets: beyond, it says tooBig, or
    (``silent``) nothing at all, as snmpsim does. ``dead``: it answers nothing, ever."""

    def __init__(self, objects: dict[tuple[int, ...], Any], limit: int, *, silent: bool = False) -> None:
        self.objects = dict(sorted({**objects, SYS_UP_TIME: rfc1902.TimeTicks(1)}.items()))
        self.oids = list(self.objects)
        self.limit, self.silent, self.dead = limit, silent, False
        self.requests: list[tuple[str, int, int]] = []
        """(command, rows per GETBULK or 1, answered: 1 or 0)."""

    def _next(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
        i = bisect.bisect_right(self.oids, oid)
        return (
            (self.oids[i], self.objects[self.oids[i]]) if i < len(self.oids) else (oid, rfc1905.endOfMibView)
        )

    def _fits(self, varbinds: list[tuple[Any, Any]]) -> bool:
        size = sum(len(v.asOctets()) if hasattr(v, "asOctets") else 4 for _, v in varbinds)
        return size <= self.limit

    async def request(self, command: Any, auth: Any, *args: Any) -> Any:
        name = command.__name__
        if name == "bulk_cmd":
            non_repeaters, reps, asked = args[0], args[1], [oid_of(v) for v in args[2:]]
            answer = [(rfc1902.ObjectName(o), v) for o, v in map(self._next, asked[:non_repeaters])]
            cursors = asked[non_repeaters:]
            for _ in range(reps):
                for i, cursor in enumerate(cursors):
                    oid, value = self._next(cursor)
                    answer.append((rfc1902.ObjectName(oid), value))
                    cursors[i] = oid
        else:
            reps, asked = 1, [oid_of(v) for v in args]
            answer = [(rfc1902.ObjectName(o), self.objects.get(o, rfc1905.noSuchInstance)) for o in asked]
        fits = not self.dead and self._fits(answer)
        self.requests.append((name, reps, int(fits)))
        if fits:
            return None, 0, 0, answer
        if self.dead or self.silent:
            return errind.RequestTimedOut(), 0, 0, []
        return None, TOO_BIG, 0, []


def big_table(rows: int, octets: int) -> dict[tuple[int, ...], Any]:
    """A current VLAN table of ``rows`` VLANs whose PortLists are ``octets`` long, and 4 PVIDs."""
    out: dict[tuple[int, ...], Any] = {}
    for vid in range(1, rows + 1):
        out[(*EGRESS, 0, vid)] = rfc1902.OctetString(b"\x80" + bytes(octets - 1))
        out[(*UNTAGGED, 0, vid)] = rfc1902.OctetString(b"\x80" + bytes(octets - 1))
    out.update({(*PVID, bp): rfc1902.Gauge32(1) for bp in range(1, 5)})
    return out


Body = Callable[[SnmpSession], Awaitable[Any]]


def session_with(agent: Agent, **options: Any) -> Callable[[Body], Any]:
    """A runner of ``body(session)`` against ``agent``: (what the body returned, the driver)."""

    def runner(body: Body) -> Any:
        async def conversation() -> Any:
            switch = Switch(
                name="sw",
                site="lab",
                driver="snmp_qbridge",
                address="127.0.0.1:9",
                options={"timeout": 0.1, **options},
            )
            driver = SnmpQBridgeDriver(switch, {"version": "2c", "community": "x"})
            session = SnmpSession(driver, asyncio.get_running_loop(), "127.0.0.1", 9, None, None)
            session.request = agent.request  # type: ignore[method-assign]
            try:
                return await body(session), driver
            finally:
                session.close()

        return asyncio.run(asyncio.wait_for(conversation(), 10))

    return runner


@pytest.mark.parametrize("silent", [False, True])
def test_a_getbulk_too_big_is_asked_again_smaller_and_the_size_is_remembered(silent: bool) -> None:
    # 40 VLANs of 3,000-octet lists; the switch answers at most 20,000 octets: 3 rows of both columns
    agent = Agent(big_table(40, 3000), 20_000, silent=silent)

    async def twice(session: SnmpSession) -> tuple[Any, list[tuple[str, int, int]], Any]:
        first = await session.walk([EGRESS, UNTAGGED])
        asked = list(agent.requests)
        agent.requests.clear()
        return first, asked, await session.walk([EGRESS, UNTAGGED], rows_hint=40)

    (first, asked, second), driver = session_with(agent, max_answer_octets=18_000)(twice)
    assert len(first[EGRESS]) == len(first[UNTAGGED]) == 40 == len(second[EGRESS])
    # the first walk's first ask (8 rows) did not fit: then one row, then as many as fit, never 8 again
    probe = [("get_cmd", 1, 1)] if silent else []  # no answer at all: a small GET tells the switch is there
    assert asked[: 2 + len(probe)] == [("bulk_cmd", 8, 0), *probe, ("bulk_cmd", 1, 1)]
    assert all(answered for _, _, answered in asked[2:])
    # the second walk asks what fit, from its first request
    assert all(answered for _, _, answered in agent.requests)
    assert {reps for name, reps, _ in agent.requests if name == "bulk_cmd"} == {2}
    assert driver.read_sizes["dot1qVlanCurrentEgressPorts dot1qVlanCurrentUntaggedPorts"] == 2


def test_a_row_too_big_for_both_columns_is_walked_column_by_column() -> None:
    agent = Agent(big_table(3, 6000), 10_000)

    async def walk(session: SnmpSession) -> Any:
        return await session.walk([EGRESS, UNTAGGED])

    rows, _ = session_with(agent)(walk)
    assert len(rows[EGRESS]) == len(rows[UNTAGGED]) == 3
    assert ("bulk_cmd", 1, 0) in agent.requests  # one row of both columns did not fit either


def test_a_get_too_big_is_split() -> None:
    agent = Agent(big_table(8, 3000), 10_000)
    oids = [(*EGRESS, 0, vid) for vid in range(1, 9)]

    async def get(session: SnmpSession) -> Any:
        return await session.get(oids)

    values, driver = session_with(agent)(get)
    assert all(values[oid] is not None for oid in oids)
    assert [r for r in agent.requests if r[0] == "get_cmd" and r[2]]  # answered, in smaller pieces
    assert driver.read_sizes["get dot1qVlanCurrentEgressPorts.0.1"] <= 3


def test_a_switch_that_answers_nothing_is_a_timeout_not_a_long_shrinking() -> None:
    agent = Agent(big_table(4, 10), 10_000)
    agent.dead = True

    async def walk(session: SnmpSession) -> Any:
        return await session.walk([EGRESS, UNTAGGED])

    with pytest.raises(SwitchTimeout):
        session_with(agent)(walk)
    # the walk, then one small GET that told the switch is gone
    assert [(name, reps) for name, reps, _ in agent.requests] == [("bulk_cmd", 8), ("get_cmd", 1)]


def test_scalars_ride_on_a_walk_s_first_getbulk() -> None:
    # the PVIDs of bridge ports 2 and 9 (9 has no row: its GETNEXT answers the next object, someone else's)
    agent = Agent(big_table(3, 10), 10_000)

    async def walk(session: SnmpSession) -> Any:
        return await session.walk([EGRESS, UNTAGGED], successors=[(*PVID, 1), (*PVID, 8)])

    rows, _ = session_with(agent)(walk)
    assert len(rows[EGRESS]) == 3
    assert rows[(*PVID, 1)] == [((*PVID, 2), rfc1902.Gauge32(1))]
    assert rows[(*PVID, 8)] == [((*PVID, 8), None)]  # past the end of this agent's objects: no PVID.9
    assert [name for name, _, _ in agent.requests] == ["bulk_cmd"]  # one request for all of it
