"""The building blocks of the OpenAPI document's schemas (references, objects, g5k-api's collections), shared by
:mod:`kavlan_core.api.openapi` and :mod:`kavlan_core.api.openapi_g5k`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, Any], required: Sequence[str] | None = None, **kw: Any) -> dict[str, Any]:
    """An object of these properties, all required unless ``required`` names some."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props if required is None else required),
        **kw,
    }


def collection(item: str) -> dict[str, Any]:
    """g5k-api's list of ``item``: total, offset, the items and their links."""
    return obj(
        {
            "total": INT,
            "offset": INT,
            "items": {"type": "array", "items": ref(item)},
            "links": ref("Links"),
        }
    )
