"""The monitoring budget: each switch's share of requests for monitoring. A read is charged with what its switch
was sent; the next read of that switch waits until the share has room; other switches and moves do not wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import run
from kavlan_core.budget import Budget
from kavlan_core.config import ConfigError
from kavlan_core.drivers.simulated import SimulatedDriver
from kavlan_core.model import Switch
from kavlan_core.service import KavlanService


class Steps:
    """A clock that only the budget's sleeps move: what the reads waited, exactly."""

    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.t += seconds


def driver(name: str = "sw1") -> SimulatedDriver:
    return SimulatedDriver(Switch(name, "sophia", "simulated"))


def test_a_read_waits_for_what_the_last_one_cost() -> None:
    steps = Steps()
    budget = Budget(5.0, clock=steps.clock, sleep=steps.sleep)  # 5 requests per second
    sw1, sw2 = driver("sw1"), driver("sw2")

    async def read(budget: Budget, drv: SimulatedDriver, requests: int) -> None:
        async with budget.spend(drv.switch.name, drv):
            drv.sent += requests

    async def go() -> None:
        await read(budget, sw1, 10)  # the first read never waits
        assert steps.slept == [] and budget.wait_for("sw1") == 2.0
        await read(budget, sw2, 1)  # another switch has its own share
        assert steps.slept == []
        await read(budget, sw1, 1)  # waits the 10 requests' 2 s
        assert steps.slept == [2.0]
        steps.t += 10  # idle time is not saved up beyond one read
        await read(budget, sw1, 0)  # a read the driver counts nothing for costs one request
        assert steps.slept == [2.0] and budget.wait_for("sw1") == pytest.approx(0.2)

    asyncio.run(go())
    assert budget.sent == {"sw1": 12, "sw2": 1} and budget.waited == 2.0


def test_monitoring_stays_within_its_share_of_each_switch(make_service: Any) -> None:
    # 20 requests a second, 10% of them for monitoring: 2 a second, one read of a simulated switch is one request
    svc: KavlanService = make_service(switch_request_rate=20.0, monitor_share=0.1)
    steps = Steps()
    svc.monitor.budget.clock, svc.monitor.budget.sleep = steps.clock, steps.sleep
    run(svc.port_loads(["suno-1", "suno-3"], interval=0))
    assert steps.slept == [] and svc.monitor.budget.sent == {"sw1": 1, "sw2": 1}
    run(svc.port_loads(["suno-1"], interval=0))
    assert steps.slept == [0.5], "sw1's second read waits for its share"
    report = run(svc.check_isolation())
    assert report.clean
    # the check reads every switch's table and ports: sw1 waited for its share again, the others did not
    assert steps.slept == [0.5, 0.5]
    assert svc.monitor.budget.sent == {"sw1": 4, "sw2": 3, "sw3": 2, "sw4": 2}


def test_a_move_never_waits_for_monitoring(make_service: Any) -> None:
    svc: KavlanService = make_service(admins="alice", switch_request_rate=1.0, monitor_share=0.01)
    run(svc.port_loads(["suno-1"], interval=0))
    assert svc.monitor.budget.wait_for("sw1") > 60, "monitoring spent sw1's share for a minute and more"
    report = run(asyncio.wait_for(svc.set_vlan(["suno-1"], 4), 10))
    assert report.ok


@pytest.mark.parametrize(
    ("name", "value"), [("monitor_share", 0.0), ("monitor_share", 1.5), ("switch_request_rate", 0.0)]
)
def test_a_budget_that_cannot_be_is_refused(make_service: Any, name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=name):
        make_service(**{name: value})
