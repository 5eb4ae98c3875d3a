"""The OpenAPI schema, with the WebSocket protocol's messages among its components.

OpenAPI has no place for a socket's messages, so the schemas of what the sockets send
(`ServerMessage`: a run's events and the sockets' own errors) and accept (`ClientMessage`),
and the workflow phases' outputs, are added to `components.schemas`, next to those of the
HTTP routes. The web app's
TypeScript types are generated from this one schema (`frontend/scripts/gen-api.mjs`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from orchestrator.engine.events import RunEventOut
from orchestrator.runs.workflow import Plan, Spec, Verdict
from orchestrator.schemas.runs import ClientMessage, ServerMessage

REF = "#/components/schemas/{model}"
# name -> (type, mode): events are what the server sends, client messages what it reads.
SOCKET_SCHEMAS: dict[str, tuple[Any, JsonSchemaMode]] = {
    "RunEventOut": (RunEventOut, "serialization"),
    "ServerMessage": (ServerMessage, "serialization"),
    "ClientMessage": (ClientMessage, "validation"),
    # What a workflow's `phase` events carry as `output` when they finish.
    "Spec": (Spec, "serialization"),
    "Plan": (Plan, "serialization"),
    "Verdict": (Verdict, "serialization"),
}


def add_socket_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the socket messages (and the models they use) in its components."""
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, (kind, mode) in SOCKET_SCHEMAS.items():
        generated = TypeAdapter(kind).json_schema(mode=mode, ref_template=REF)
        for model, definition in generated.pop("$defs", {}).items():
            existing = components.setdefault(model, definition)
            # Two models under one name would make the types lie (FastAPI leaves out the
            # defaults of what is sent; they do not change the shape).
            if _shape(existing) != _shape(definition):
                raise RuntimeError(f"the OpenAPI schema has two different {model!r}")
        generated.setdefault("title", name)
        components[name] = generated
    return schema


def _shape(schema: Any) -> Any:
    """A JSON schema without its defaults."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def install(app: FastAPI) -> None:
    """Make `app.openapi()` include the socket messages."""
    routes_only = app.openapi

    def openapi() -> dict[str, Any]:
        schema = routes_only()  # built once, then cached by FastAPI
        if "ServerMessage" not in schema.get("components", {}).get("schemas", {}):
            add_socket_schemas(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
