"""Typed events (node moved, switch operation started/finished, DHCP changed, drift found, job ended, an unfinished
move settled, a link changed, a leak found) and their bus."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveStarted(Event):
    user: str
    vlan: int
    nodes: tuple[str, ...]
    switches: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchStarted(Event):
    switch: str
    ports: int
    action: str = "apply"


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchFinished(Event):
    switch: str
    ok: bool
    seconds: float
    action: str = "apply"
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeMoved(Event):
    node: str
    nic: str
    old: int
    new: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveFinished(Event):
    vlan: int
    ok: int
    failed: int
    unchanged: int
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DhcpChanged(Event):
    site: str
    vlan: int
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftFound(Event):
    switch: str
    port: str
    node: str
    expected: int
    actual: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSubmitted(Event):
    job: int
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEnded(Event):
    job: int
    user: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeguardStep(Event):
    """A stage of a staged move: preflight, schedule, switch, verify, back (one node answered), rollback, warning."""

    stage: str
    nodes: int
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeUnavailable(Event):
    """A real node a job's end could not bring back (it answers nowhere): no new job gets it until an administrator
    clears it."""

    node: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentSettled(Event):
    """An unfinished move or job's end that a stopped or dead process left, found and settled (or not yet)."""

    intent: int
    kind: str
    """``move`` or ``end``."""
    what: str
    """``move of 3 port(s) into VLAN 4 by alice, job 1000``, ``end of job 1000``."""
    outcome: str
    """``completed``, ``rolled back``, ``finished`` (a job's end), or ``not settled: REASON`` (tried again later)."""
    owner: str = ""
    """``host:pid`` of the process that left it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkChanged(Event):
    """A node's port went down or came up, as monitoring read it."""

    switch: str
    port: str
    node: str
    nic: str
    up: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LeakFound(Event):
    """The isolation check found a MAC where it must not be (see ``kavlan_core.monitoring.Leak``)."""

    kind: str
    mac: str
    vlan: int | None
    switch: str
    port: str
    node: str
    detail: str


Subscriber = Callable[[Event], None]


class EventBus:
    """Publish to callbacks and to asyncio queues; a slow subscriber never blocks a move."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock
        """When given (the service's clock), every published event is stamped with it: a face shows the times
        the service reasons with, also under a test's clock."""
        self._callbacks: list[Subscriber] = []
        self._queues: list[asyncio.Queue[Event]] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def queue(self, maxsize: int = 10_000) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    def unqueue(self, q: asyncio.Queue[Event]) -> None:
        if q in self._queues:
            self._queues.remove(q)

    def publish(self, event: Event) -> None:
        if self.clock is not None:
            event = dataclasses.replace(event, at=self.clock())
        for cb in list(self._callbacks):
            cb(event)
        for q in self._queues:
            if not q.full():
                q.put_nowait(event)
