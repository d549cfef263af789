"""Schema-driven fuzzing of kavlan-api with schemathesis: every operation of /openapi.json, with data valid and
invalid for the document (positive and negative), then stateful sequences following the document's links (a
reservation, its VLAN, moving its nodes, its DHCP, ending it), against a real server; no 5xx, no answer that
breaks the document. Bounded (a few examples per operation, a few short scenarios) and deterministic (fixed
seed, derandomized, no example database)."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import requests
from api_fixture import ApiServer, api_certs, start_server  # noqa: F401

schemathesis = pytest.importorskip("schemathesis")

FUZZ_USER, FUZZ_PASSWORD = "root", "root-fuzz-password-3"
"""The administrator: every operation goes as deep as it can (moves, repairs, other users' jobs)."""

EVENTS = "/sites/{site}/kavlan/events"
"""A stream that never ends by itself: tested in test_api_server, left out here."""

EXPECTED = ["2xx", "400", "401", "403", "404", "408", "409", "413", "422", "429"]
"""A schema-valid request can still name a node that does not exist or ask for no resource (400)..."""

SCENARIOS, STEPS = 15, 8
"""Stateful: scenarios and steps per scenario."""

RESERVATIONS = [
    "{\"type='kavlan'\"}/vlan=1+/nodes=2",
    "{\"type='kavlan-local'\"}/vlan=1+/nodes=1",
    "{\"type='kavlan-global'\"}/vlan=1,nodes=1",
    "nodes=2,walltime=0:30",
]
"""Requests the testbed can grant: a scenario reserves with one of these half of the time (a random string is
rarely a request), so that the job's links (its VLAN, its nodes, ending it) are followed."""


@pytest.fixture(scope="module")
def fuzz_server(api_certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    s = start_server(
        tmp_path_factory.mktemp("api-fuzz"),
        api_certs,
        users={FUZZ_USER: FUZZ_PASSWORD},
        args=["--move-wait", "5"],
    )
    try:
        yield s
    finally:
        s.stop()


def _config(stateful: bool) -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": 20261126,
            "generation": {
                "max-examples": 6,
                "deterministic": True,
                "database": "none",
                "mode": "all",  # valid and invalid data: invalid data must be refused (4xx), never a 5xx
            },
            "phases": {"stateful": {"enabled": stateful}},
            # schemathesis applies these itself, and checks that a request without them is refused
            "auth": {"basic": {"username": FUZZ_USER, "password": FUZZ_PASSWORD}},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": EXPECTED},
                # its probe with a wrong password counts 401 and 403 as refusals only: this server refuses a
                # guessing address with 429 after five wrong passwords (test_api_bruteforce); credentials are
                # checked by test_api_security
                "ignored_auth": {"enabled": False},
                # a deleted (ended) job stays readable, as OAR's and g5k-api's do (its state says it ended)
                "use_after_free": {"enabled": False},
            },
        }
    )


def _load(server: ApiServer, stateful: bool) -> Any:
    return schemathesis.openapi.from_url(
        server.url + "/openapi.json", config=_config(stateful), verify=server.ca, timeout=30
    )


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ApiServer) -> Any:
    return _load(fuzz_server, stateful=False)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path=EVENTS)


@pytest.fixture(scope="module")
def fuzz_session(fuzz_server: ApiServer) -> Iterator[requests.Session]:
    """One keep-alive session (a TLS handshake per connection, not per request), without credentials of its own."""
    s = fuzz_server.client()
    try:
        yield s
    finally:
        s.close()


@schema.parametrize()
def test_the_api_answers_as_its_document_says(
    case: Any, fuzz_server: ApiServer, fuzz_session: requests.Session
) -> None:
    case.call_and_validate(base_url=fuzz_server.url, session=fuzz_session, verify=fuzz_server.ca, timeout=30)


def test_stateful_sequences_follow_the_links(fuzz_server: ApiServer, fuzz_session: requests.Session) -> None:
    """Reserve, then what the job's links lead to (its VLAN, moving its nodes there, DHCP, users, ending it),
    in generated orders with generated data: no 5xx, every answer as documented."""
    loaded = _load(fuzz_server, stateful=True).exclude(path=EVENTS)

    @loaded.hook  # type: ignore[untyped-decorator]
    def flatmap_case(context: Any, case: Any) -> Any:
        positive = case.meta is None or not case.meta.generation.mode.is_negative
        if not positive or case.operation.label != "POST /sites/{site}/jobs":
            return st.just(case)

        def granted(resources: str) -> Any:
            case.body = {"resources": resources, "types": ["deploy"]}
            return case

        return st.one_of(st.just(case), st.sampled_from(RESERVATIONS).map(granted))

    machine = loaded.as_state_machine()

    class Scenarios(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            """Every scenario starts from the same testbed (no job running): what a step draws never depends
            on what an earlier scenario left, so that hypothesis can replay any of them."""
            _end_every_job(fuzz_server)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": fuzz_server.url,
                "session": fuzz_session,
                "verify": fuzz_server.ca,
                "timeout": 30,
            }

    Scenarios.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


def _end_every_job(server: ApiServer) -> None:
    admin = server.client(FUZZ_USER, password=FUZZ_PASSWORD)
    jobs = admin.get(server.url + "/sites/sophia/jobs", params={"limit": "500"}, timeout=30).json()["items"]
    for job in jobs:
        admin.delete(server.url + f"/sites/sophia/jobs/{job['uid']}", timeout=30)
