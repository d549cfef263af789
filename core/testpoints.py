"""Test-only: named points of a move where a process stops, so that the fault-injection tests can kill it there.

Inert unless the environment variable ``KAVLAN_TEST_STOP_AT`` names a point; never set it outside the tests
(tests/test_crash.py). When it does, the first time the process reaches that point it writes the point's name to
``$KAVLAN_TEST_STOP_DIR/reached`` and blocks, the whole process with it, until something opens the FIFO
``$KAVLAN_TEST_STOP_DIR/go`` for writing and closes it: the test then kills it (SIGKILL, SIGTERM, SIGINT twice)
at exactly that step, or lets it go on. A signal sent meanwhile is handled as soon as it goes on, as one arriving
while a switch answers would be.

The points: ``before-intent`` (the switches locked, read and planned; nothing written), ``after-intent`` (the
intent written, no switch touched), ``after-apply:SWITCH`` (that switch applied
its batch, not read back yet), ``after-readback:SWITCH``, ``before-record`` (every switch done, the store not
written), ``end-claimed`` (a job's end written, none of its nodes put back yet), ``end-switched`` (its ports
put back, its real nodes' restarts queued, none seen home yet), ``staged-switched`` (a staged
move's ports switched, its nodes neither verified nor confirmed).
"""

from __future__ import annotations

import os
from pathlib import Path

STOP_AT = "KAVLAN_TEST_STOP_AT"
STOP_DIR = "KAVLAN_TEST_STOP_DIR"

_passed: set[str] = set()


def reached(point: str) -> None:
    """Stop here if the tests asked to (see the module's docstring); nothing at all otherwise."""
    wanted = os.environ.get(STOP_AT)
    if not wanted or wanted != point or point in _passed:
        return
    _passed.add(point)  # once per process: the rollback or a later move goes through
    where = Path(os.environ.get(STOP_DIR, "."))
    tmp = where / "reached.tmp"
    tmp.write_text(point)
    tmp.replace(where / "reached")
    with open(where / "go", "rb") as fifo:  # blocks until the test opens the FIFO for writing
        fifo.read()
