"""What each error answers: its status, the class a remote client raises again, its sentence, and what only the
server's log keeps (an internal fault is never told to the client in its own words)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...drivers.base import SwitchError
from ...errors import BadInput, KavlanError, NotAllowed, SwitchUnavailable, Unavailable
from ...store import LockTimeout, StoreError
from .. import auth, wire

INTERNAL = "internal error of the KaVLAN API server (see its log)"
STORE_DOWN = "the state database is unavailable"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="kavlan", charset="UTF-8"'}


class ApiError(Exception):
    """An answer other than the service's own errors: status, one sentence, the error class the client rebuilds."""

    def __init__(
        self,
        status: int,
        message: str,
        error: type[KavlanError] = BadInput,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Answer:
    status: int
    error: KavlanError
    """What the client gets: its class and its sentence (and a switch failure's switch and ports)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    log: str = ""
    """What only the server's log gets (the detail of an internal fault)."""


def answer_of(exc: BaseException) -> Answer:
    """The one table from exceptions to answers."""
    if isinstance(exc, ApiError):
        return Answer(exc.status, exc.error(str(exc)), exc.headers)
    if isinstance(exc, auth.AuthError):
        return Answer(exc.status, NotAllowed(str(exc)), BASIC_CHALLENGE if exc.status == 401 else exc.headers)
    if isinstance(exc, KavlanError) and wire.error_status(exc) != 500:  # the known classes (wire.STATUS_OF)
        return Answer(wire.error_status(exc), exc)
    if isinstance(exc, LockTimeout):
        # a switch's lock held by another process past the deadline: busy, not broken (its name is no secret)
        return Answer(409, Unavailable(str(exc)))
    if isinstance(exc, StoreError):
        return Answer(503, Unavailable(STORE_DOWN), log=f"kavlan-api: {type(exc).__name__}: {exc}\n")
    if isinstance(exc, SwitchError):
        # the core turns a switch's failure into SwitchUnavailable; one that slips through answers as it would
        return Answer(503, SwitchUnavailable(str(exc), switch=exc.switch, ports=exc.ports))
    detail = "".join(traceback.format_exception(exc))
    return Answer(500, KavlanError(INTERNAL), log=detail)
