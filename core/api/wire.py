"""What the REST API carries: the service's dataclasses as JSON and back, errors as statuses and back.

The server and the remote client both speak through this module, so that a face in remote mode receives the
same objects (and raises the same exceptions, with the same sentences) as it would embedded.

Encoding is generic over dataclasses: enums become their value, tuples and lists JSON arrays, networks and
addresses strings, a :class:`~kavlan_core.inventory.NicRef` the pair ``{"node", "nic"}`` (the client rebuilds it
from its own copy of the inventory). Decoding follows the dataclass's type hints.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import ipaddress
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from .. import events as events_mod
from ..errors import (
    BadInput,
    KavlanError,
    Misconfigured,
    NotAllowed,
    NotFound,
    SwitchUnavailable,
    Unavailable,
)
from ..inventory import Inventory, NicRef

T = TypeVar("T")

# --- errors ------------------------------------------------------------------------------------------------

STATUS_OF: dict[type[KavlanError], int] = {
    BadInput: 400,
    NotAllowed: 403,
    NotFound: 404,
    SwitchUnavailable: 503,
    Misconfigured: 503,
    Unavailable: 409,
}
"""The first class in the exception's MRO found here gives the status; any other KavlanError is 500."""

ERROR_OF = {
    400: BadInput,
    408: BadInput,
    413: BadInput,
    422: BadInput,
    403: NotAllowed,
    404: NotFound,
    409: Unavailable,
    429: Unavailable,
    503: Unavailable,
}


def error_status(exc: KavlanError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]  # type: ignore[index]
    return 500


def error_body(exc: KavlanError, status: int | None = None) -> dict[str, Any]:
    """``{code, title, message}`` as the original's API layer answers, plus ``exception`` (the class), ``about``
    (what the sentence is about, when it says), the refusals, and a switch failure's ``switch`` and ``ports``.

    The class is not under ``error``: python-grid5000 shows a body's ``error`` in place of its ``message``.
    """
    status = status or error_status(exc)
    body: dict[str, Any] = {
        "code": status,
        "title": _TITLES.get(status, "Error"),
        "message": str(exc),
        "exception": type(exc).__name__,
    }
    if exc.about:
        body["about"] = exc.about
    if isinstance(exc, NotAllowed) and exc.refusals:
        body["refusals"] = [{"node": n, "reason": r} for n, r in exc.refusals]
    if isinstance(exc, SwitchUnavailable):
        body["switch"] = exc.switch
        body["ports"] = list(exc.ports)
    return body


def error_from(status: int, body: Any) -> KavlanError:
    """The exception a face would have seen embedded, rebuilt from an error answer."""
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    message = data.get("message") or f"the API server answered {status} {_TITLES.get(status, '')}".rstrip()
    about = str(data.get("about") or "")
    name = data.get("exception") or data.get("error")
    cls = (_BY_NAME.get(name) if isinstance(name, str) else None) or ERROR_OF.get(status, KavlanError)
    if cls is NotAllowed:
        refusals = [(r["node"], r["reason"]) for r in data.get("refusals", [])]
        return NotAllowed(message, refusals, about=about)
    if cls is SwitchUnavailable:
        ports = [str(p) for p in data.get("ports", [])]
        return SwitchUnavailable(message, switch=str(data.get("switch", "")), ports=ports, about=about)
    return cls(message, about=about)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_BY_NAME: dict[str, type[KavlanError]] = {
    c.__name__: c
    for c in (KavlanError, BadInput, NotAllowed, NotFound, Unavailable, SwitchUnavailable, Misconfigured)
}

# --- values --------------------------------------------------------------------------------------------------


def encode(obj: Any) -> Any:
    """A JSON-able copy of ``obj`` (dataclasses, enums, tuples, dicts with string keys, networks)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj.value if isinstance(obj, enum.Enum) else obj
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, NicRef):
        return {"node": obj.node.name, "nic": obj.nic.name}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [encode(v) for v in obj]
    if isinstance(
        obj, (ipaddress.IPv4Network, ipaddress.IPv4Address, ipaddress.IPv6Network, ipaddress.IPv6Address)
    ):
        return str(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} for the API")


def decode(tp: Any, data: Any, inventory: Inventory | None = None) -> Any:
    """``data`` (as :func:`encode` made it) back into ``tp``; NicRefs need the ``inventory``."""
    return _decode(tp, data, inventory)


def _decode(tp: Any, data: Any, inv: Inventory | None) -> Any:
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(tp, data, inv)
    if origin in (list, tuple, set, frozenset):
        return _decode_sequence(origin, typing.get_args(tp), data, inv)
    if origin in (dict, Mapping) or tp is dict:
        key, value = typing.get_args(tp) or (str, Any)
        return {(k if key is str else _decode(key, k, inv)): _decode(value, v, inv) for k, v in data.items()}
    if tp is NicRef:
        return _decode_nic(data, inv)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, inv)
    if isinstance(tp, type):
        return _decode_scalar(tp, data)
    return data


def _decode_union(tp: Any, data: Any, inv: Inventory | None) -> Any:
    """The first member that accepts ``data`` (None for an optional)."""
    args = typing.get_args(tp)
    if data is None and type(None) in args:
        return None
    last: Exception | None = None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, data, inv)
        except (TypeError, ValueError, KeyError) as exc:
            last = exc
    raise ValueError(f"no member of {tp} accepts {data!r}") from last


def _decode_sequence(origin: Any, args: tuple[Any, ...], data: Any, inv: Inventory | None) -> Any:
    if origin is tuple and args and args[-1] is not Ellipsis:
        return tuple(_decode(a, v, inv) for a, v in zip(args, data, strict=True))
    inner = args[0] if args else Any
    seq = [_decode(inner, v, inv) for v in data]
    return origin(seq) if origin is not list else seq


def _decode_nic(data: Any, inv: Inventory | None) -> NicRef:
    if inv is None:
        raise TypeError("decoding a NIC reference needs the inventory")
    node = inv.nodes[data["node"]]
    nic = node.nic(data["nic"])
    if nic is None:
        raise KeyError(f"{data['node']} has no NIC {data['nic']}")
    return NicRef(node, nic)


def _decode_dataclass(tp: type, data: Any, inv: Inventory | None) -> Any:
    if not isinstance(data, Mapping):
        raise TypeError(f"{tp.__name__} expects an object, not {type(data).__name__}")
    hints = _hints(tp)
    fields = [f for f in dataclasses.fields(tp) if f.init and f.name in data]
    return tp(**{f.name: _decode(hints[f.name], data[f.name], inv) for f in fields})


def _decode_scalar(tp: type, data: Any) -> Any:
    if issubclass(tp, enum.Enum):
        return tp(data)
    if tp is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if tp in (ipaddress.IPv4Network, ipaddress.IPv4Address):
        return tp(data)
    if tp in (int, str, bool, float):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
        return data
    if tp is type(None):
        if data is not None:
            raise TypeError("expected null")
        return None
    return data


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return typing.get_type_hints(tp)


# --- events ------------------------------------------------------------------------------------------------

EVENT_TYPES: dict[str, type[events_mod.Event]] = {
    cls.__name__: cls
    for cls in vars(events_mod).values()
    if isinstance(cls, type) and issubclass(cls, events_mod.Event) and cls is not events_mod.Event
}


def encode_event(ev: events_mod.Event) -> dict[str, Any]:
    return {"type": type(ev).__name__, **encode(ev)}


def decode_event(data: Mapping[str, Any]) -> events_mod.Event | None:
    """None for an event type this client does not know (a newer server)."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        return None
    body = {k: v for k, v in data.items() if k != "type"}
    return decode(cls, body)
