"""The intent journal's decision, a pure function: an unfinished move stands only whole and still allowed, else every
port it changed goes back; and the journal's records in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pg_fixture import BACKENDS, database_for

from kavlan_core.drivers.base import PortChange, PortState
from kavlan_core.journal import END, MOVE, Intent, IntentPort, settle
from kavlan_core.store import Store

PORTS = (
    IntentPort("sw1", "p1", "suno-1", "eth0", 100, 704),
    IntentPort("sw1", "p2", "suno-2", "eth0", 705, 704),
    IntentPort("sw2", "p1", "suno-3", "eth0", -1, 704),
)
INTENT = Intent(7, MOVE, "alice", 4, 1000, 1.0, "host:1", ports=PORTS)


def reads(*tags: int | None) -> dict[str, dict[str, PortState]]:
    (a, b, c) = tags
    return {"sw1": {"p1": PortState(a), "p2": PortState(b)}, "sw2": {"p1": PortState(c)}}


@pytest.mark.parametrize(
    ("tags", "allowed", "complete", "undo"),
    [
        pytest.param((704, 704, 704), True, True, {}, id="whole and allowed: it stands"),
        pytest.param(
            (704, 704, 704),
            False,
            False,
            {"sw1": [PortChange("p1", 704, 100), PortChange("p2", 704, 705)]},
            id="whole, its job ended: every port back (one with no tag before stays)",
        ),
        pytest.param(
            (704, 705, 100), True, False, {"sw1": [PortChange("p1", 704, 100)]}, id="half done: rolled back"
        ),
        pytest.param((100, 705, None), True, False, {}, id="not begun: nothing to put back"),
    ],
)
def test_an_unfinished_move_stands_whole_and_allowed_or_goes_back(tags, allowed, complete, undo):
    decision = settle(INTENT, reads(*tags), allowed)
    assert (decision.complete, decision.undo) == (complete, undo)


def test_what_an_intent_says_of_itself():
    assert INTENT.describe() == "move of 3 port(s) into VLAN 4 by alice, job 1000"
    assert INTENT.switches == ["sw1", "sw2"]
    assert Intent(8, END, "kavlan", 0, 1000, 1.0, "host:1").describe() == "end of job 1000"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_journal_in_the_store(tmp_path, backend, request):
    db = Store(database_for(backend, request) or f"sqlite:///{tmp_path / 'db.sqlite'}")
    with db.write() as tx:
        first = tx.open_intent(MOVE, "alice", 4, 1000, PORTS, at=1.0, owner="host:1")
        end = tx.open_intent(END, "kavlan", 0, 999, (), at=2.0, owner="host:2")
        tx.intent_outcome(first, "sw1", "applied", {"p1": 704, "p2": None})
    with db.read() as tx:
        (move, ending) = tx.intents()
        assert tx.has_intents() and (move.id, ending.id) == (first, end)
        assert [(p.switch, p.port, p.state, p.tag) for p in move.ports] == [
            ("sw1", "p1", "applied", 704),
            ("sw1", "p2", "applied", None),
            ("sw2", "p1", "planned", None),
        ]
        assert (ending.kind, ending.job, ending.ports) == (END, 999, ())
    with db.write() as tx:
        tx.defer_intent(end, 50.0, "sw1 does not answer")
        assert tx.close_intent(first) and not tx.close_intent(first)
    with db.read() as tx:
        (left,) = tx.intents()
        assert (left.attempts, left.retry_at, left.note) == (1, 50.0, "sw1 does not answer")
    db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_v1_database_gets_the_journal(tmp_path, backend, request):
    import sqlalchemy as sa

    from kavlan_core import store

    url = database_for(backend, request) or f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a database as the first release left it
        store._create_v1(conn)
        conn.execute(store.meta.insert().values(key="schema_version", value="1"))
    assert "intents" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    db = Store(url)
    assert db.schema_version() == store.SCHEMA_VERSION
    assert {"intents", "intent_ports"} <= set(sa.inspect(db.engine).get_table_names())
    db.dispose()
