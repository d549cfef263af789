"""The staged move in the intent journal, and what recovery does with one its process left unfinished.

A staged move (:mod:`kavlan_core.access.safeguard`) has queued on each node the restart that adopts the new VLAN and
an undo restart that runs unless the node is confirmed. Once both are queued, before any port moves, it writes a
``staged`` intent: its ports (old and new tag), and when the first undo restart fires (the intent's note, ``undo at
T``). Each node confirmed marks its port ``confirmed``; the intent is deleted when the move has said where every node
is. Its process holds a lock of the intent's own from the write to the delete.

A staged intent still in the store whose lock nobody holds is one whose process died (kill -9, a power cut) between
the switch and its verdict. The next command (or the API server) puts back every port not confirmed, as the move
itself would have for a node not back: before the undo restart fires, so that it brings each node back where it was.
Past that time the undo restarts have run wherever the ports were: nothing is moved, and the sentence says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KavlanError
from .events import IntentSettled
from .inventory import NicRef
from .journal import CONFIRMED, STAGED, Intent, IntentPort
from .model import DEFAULT, vlan_label

if TYPE_CHECKING:
    from .locks import NamedLock
    from .service import KavlanService

UNDO_AT = "undo at "
RETRY = 2.0
"""Seconds before a put-back that failed (a switch down) is tried again: the undo restart does not wait."""


def undo_note(undo_at: float) -> str:
    return f"{UNDO_AT}{undo_at:.3f}"


def undo_time(note: str) -> float:
    """When the intent's first undo restart fires (its note's ``undo at T``, kept ahead of any reason added)."""
    word = note.removeprefix(UNDO_AT).split(";", 1)[0].strip()
    try:
        return float(word)
    except ValueError:
        return 0.0


def _lock(service: KavlanService, intent_id: int) -> NamedLock:
    lock_file: Path = service.settings.data_path / "locks" / f"staged-{intent_id}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    return service.store.lock(f"staged:{intent_id}", file=lock_file)


class HeldRecord:
    """A staged move's intent (a :class:`~kavlan_core.journal.StagedRecord`), held by its process: ``confirmed`` as nodes are, ``close`` at the verdict,
    ``release`` always (a dead process's lock goes with it)."""

    def __init__(self, service: KavlanService, intent_id: int, lock: NamedLock) -> None:
        self.service, self.intent_id, self.lock = service, intent_id, lock

    def confirmed(self, ports: Sequence[IntentPort]) -> None:
        """These nodes are confirmed in the new VLAN: recovery leaves their ports where they are."""
        by_switch: dict[str, dict[str, int | None]] = {}
        for p in ports:
            by_switch.setdefault(p.switch, {})[p.port] = p.new_tag
        with self.service.store.write() as tx:
            for switch, tags in by_switch.items():
                tx.intent_outcome(self.intent_id, switch, CONFIRMED, tags)

    def close(self) -> None:
        with self.service.store.write() as tx:
            tx.close_intent(self.intent_id)

    def release(self) -> None:
        self.lock.release()


async def open_record(
    service: KavlanService, ports: Sequence[IntentPort], vlan: int, user: str, undo_at: float
) -> HeldRecord:
    """Write the staged intent (after both restarts are queued, before any port moves) and hold its lock."""
    with service.store.write() as tx:
        intent_id = tx.open_intent(STAGED, user, vlan, None, ports, at=service.clock(), owner=service.owner)
        tx.defer_intent(intent_id, 0.0, undo_note(undo_at))  # its note (this counts as one attempt: harmless)
    lock = _lock(service, intent_id)
    await lock.acquire(timeout=0)  # new: nobody else knows its name yet
    return HeldRecord(service, intent_id, lock)


async def settle(service: KavlanService, intent: Intent) -> None:
    """Settle a staged move whose process is gone (nothing if it lives: it holds the intent's lock)."""
    lock = _lock(service, intent.id)
    if not await lock.acquire(timeout=0):
        return
    try:
        with service.store.read() as tx:
            still = tx.intents(intent.id)
        if still:
            await _settle(service, still[0])
    finally:
        lock.release()
    with contextlib.suppress(OSError):
        (service.settings.data_path / "locks" / f"staged-{intent.id}.lock").unlink()


async def _settle(service: KavlanService, intent: Intent) -> None:
    undo_at = undo_time(intent.note)
    pending = [p for p in intent.ports if p.state != CONFIRMED]
    if service.clock() >= undo_at:
        _done(
            service,
            intent,
            f"found after its undo time: the ports of {_names(pending)} were left as they are",
        )
        return
    names = {p.key: _name(service, p) for p in pending}
    by_old: dict[int, list[str]] = {}
    for p in pending:
        old = service._vlan_on(p.switch, p.old_tag if p.old_tag >= 0 else None)
        if names[p.key] and old is not None:
            by_old.setdefault(old, []).append(names[p.key])
    failed: list[str] = []
    for old, group in by_old.items():
        try:
            report = await service._finish_even_if_cancelled(
                service._move(group, old, user="kavlan", rights=None)
            )
        except KavlanError as exc:
            failed += [f"{n.split('.')[0]} ({exc})" for n in group]
            continue
        failed += [f"{r.name.split('.')[0]} ({r.message})" for r in report.failed]
    if failed:
        with service.store.write() as tx:
            tx.defer_intent(
                intent.id, service.clock() + RETRY, f"{undo_note(undo_at)}; not put back: {failed[0]}"
            )
        _publish(service, intent, f"not settled: {', '.join(failed[:5])} not put back yet")
        return
    back = "; ".join(
        f"{', '.join(n.split('.')[0] for n in group)} in VLAN {vlan_label(v)}" for v, group in by_old.items()
    )
    _done(
        service, intent, f"rolled back (not confirmed): {back or 'no port'} put back before the undo restart"
    )


def _name(service: KavlanService, port: IntentPort) -> str:
    node = service.inventory.nodes.get(port.node)
    nic = node.nic(port.nic) if node is not None else None
    return service.inventory.hostname(NicRef(node, nic), DEFAULT) if node and nic else ""


def _names(ports: Sequence[IntentPort]) -> str:
    shown = [p.node for p in ports[:5]]
    return (", ".join(shown) + (f" and {len(ports) - 5} more" if len(ports) > 5 else "")) or "no node"


def _done(service: KavlanService, intent: Intent, outcome: str) -> None:
    with service.store.write() as tx:
        tx.close_intent(intent.id)
        tx.audit("kavlan", "intent.settled", intent=intent.id, what=intent.describe(), outcome=outcome)
    _publish(service, intent, outcome)


def _publish(service: KavlanService, intent: Intent, outcome: str) -> None:
    service.events.publish(
        IntentSettled(
            intent=intent.id, kind=intent.kind, what=intent.describe(), outcome=outcome, owner=intent.owner
        )
    )
