"""The SNMP drivers on every switch recording (the 109 of ``shared/snmprec/corpus`` and the six beside them), under
one snmpsim process: every port right or refused, none wrong, no crash; on a writable copy of each, one access
port moved to another VLAN and back, every object that places it checked from the responder's data. The table of
verdicts is printed.

The ground truth is ``snmprec_truth`` (its own reading of the files); the sweep is ``snmp_sweep``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import snmprec_truth as truth
from snmp_sweep import RW, RawClient, Result, move_sweep, read_sweep, table, write_copies
from snmpsim_fixture import CORPUS, SHARED, Sim, needs_snmpsim, running_snmpsim

pytestmark = needs_snmpsim

ALL = sorted(SHARED.glob("*.snmprec")) + sorted(CORPUS.glob("*.snmprec")) if SHARED.is_dir() else []
ONLY = [x for x in os.environ.get("KAVLAN_SWEEP_ONLY", "").split(",") if x]
"""While working on a driver: ``KAVLAN_SWEEP_ONLY=ios*,vrp_5720`` sweeps the recordings whose stem matches."""
RECORDINGS = [p for p in ALL if any(fnmatch.fnmatch(p.stem, x) for x in ONLY)] if ONLY else ALL
AT_ONCE = 6  # recordings swept concurrently: snmpsim answers one request at a time, this keeps it busy


@dataclass
class Corpus:
    sim: Sim
    copies: Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    workdir = tmp_path_factory.mktemp("corpus")
    copies = workdir / "copies"
    variations = write_copies(RECORDINGS, copies)
    with running_snmpsim(
        workdir, [SHARED, copies], variations=variations, probe="tplink_tplink_sg2008"
    ) as sim:
        yield Corpus(sim, copies)


async def _sweep(corpus: Corpus) -> list[Result]:
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(path: Path, raw: RawClient) -> Result:
        result = Result(path.stem, "snmp_cisco" if truth.recording(path).cisco else "snmp_qbridge")
        async with gate:
            started = time.perf_counter()
            try:
                await read_sweep(corpus.sim, path, result)
                await move_sweep(corpus.sim, raw, corpus.copies / f"{path.stem}{RW}.snmprec", result)
            except Exception as exc:  # a crash is a verdict of its own: the sweep goes on with the others
                result.crash = f"{type(exc).__name__}: {exc}"
                result.move, result.move_ok = f"CRASHED: {result.crash}", False
            result.seconds = time.perf_counter() - started
        return result

    async with RawClient(corpus.sim) as raw:
        return list(await asyncio.gather(*(one(p, raw) for p in RECORDINGS)))


def test_every_recording_right_or_refused_and_moved_there_and_back(
    corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ONLY or len(RECORDINGS) >= 115, "the six recordings of shared/snmprec and the 109 of its corpus"
    started = time.perf_counter()
    results = asyncio.run(asyncio.wait_for(_sweep(corpus), 280))
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print("\n" + table(results, seconds))
    crashed = [f"{r.name}: {r.crash}" for r in results if r.crash]
    assert not crashed, "\n".join(crashed)
    wrong = [f"{r.name}: {w}" for r in results for w in r.wrong]
    assert not wrong, "\n".join(wrong[:40])
    # refusing a port the data decides breaks no promise, but the drivers read every such port today: a change
    # that makes one of them more cautious than the data deserves a look
    assert sum(r.counts["overcautious"] for r in results) == 0
    failed = [f"{r.name}: {r.move}" for r in results if not r.move_ok]
    assert not failed, "\n".join(failed)
