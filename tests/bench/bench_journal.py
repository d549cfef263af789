"""Benchmark: the intent journal's own cost per move, in the store, without switches or process start-up (which make
bench_cli.py and bench_snmp.py vary by more than the journal costs on a busy machine).

Run on demand:  python tests/bench/bench_journal.py [--rounds N] [--postgresql URL]
Side by side, on one SQLite file (WAL, synchronous=NORMAL, as kavlan opens it): (a) the writes a move made before
the journal (its NICs' VLANs, then its audit line: two transactions); (b) the writes it makes now (its intent with
every port; each switch's outcome as it completes; the record, which checks the move may still stand, records the
NICs' VLANs, deletes the intent and writes the audit line). For 100 ports on 3 switches (bench_cli's move) and 96
on 4 (bench_snmp's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from kavlan_core.journal import APPLIED, MOVE, IntentPort  # noqa: E402
from kavlan_core.model import Job, JobState, JobVlan  # noqa: E402
from kavlan_core.store import Store  # noqa: E402


def ports(n: int, switches: int) -> list[IntentPort]:
    return [IntentPort(f"sw{i % switches}", f"p{i}", f"node-{i}", "eth0", 100, 704) for i in range(n)]


def before(db: Store, batch: list[IntentPort]) -> None:
    with db.write() as tx:
        tx.set_nic_vlans({p.key: 4 for p in batch}, time.time())
    with db.write() as tx:
        tx.audit("bench", "vlan.set", vlan=4, result={"success": len(batch)}, failed=[])


def after(db: Store, batch: list[IntentPort], switches: int) -> None:
    with db.write() as tx:
        held = tx.held_vlans().get(("sophia", 4))
        intent = tx.open_intent(MOVE, "bench", 4, held, batch, at=time.time(), owner="bench:1")
    for s in range(switches):
        tags: dict[str, int | None] = {p.port: 704 for p in batch if p.switch == f"sw{s}"}
        with db.write() as tx:
            tx.intent_outcome(intent, f"sw{s}", APPLIED, tags)
    with db.write() as tx:  # the record's check that the move may stand (recording.Recorder.withdrawal)
        assert tx.job_runs(1000)
        tx.nodes_in_running_jobs("bench", {p.node for p in batch})
        tx.set_nic_vlans({p.key: 4 for p in batch}, time.time())
        tx.close_intent(intent)
        tx.audit("bench", "vlan.set", vlan=4, result={"success": len(batch)}, failed=[])


def timed(what: Callable[[], None], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        what()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, samples: list[float]) -> str:
    return (
        f"{name:<60} median {statistics.median(samples) * 1000:6.2f} ms   min {min(samples) * 1000:6.2f} ms"
        f"   (n={len(samples)})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--postgresql", default="", help="also on this PostgreSQL database (it must exist)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        if args.postgresql:
            urls.append(("PostgreSQL", args.postgresql))
        for name, url in urls:
            db = Store(url)
            with db.write() as tx:
                if tx.job(1000) is None:
                    tx.insert_job(
                        Job(
                            1000,
                            "bench",
                            JobState.RUNNING,
                            "",
                            (),
                            "",
                            1.0,
                            1.0,
                            10**9,
                            None,
                            (),
                            (JobVlan("sophia", 4),),
                        )
                    )
            for n, switches in ((100, 3), (96, 4)):
                batch = ports(n, switches)
                print(
                    row(
                        f"{name}, {n} ports on {switches} switches: before (2 writes)",
                        timed(lambda b=batch, d=db: before(d, b), args.rounds),
                    )
                )
                print(
                    row(
                        f"{name}, {n} ports on {switches} switches: journaled ({switches + 2} writes)",
                        timed(lambda b=batch, s=switches, d=db: after(d, b, s), args.rounds),
                    )
                )
            db.dispose()


if __name__ == "__main__":
    main()
