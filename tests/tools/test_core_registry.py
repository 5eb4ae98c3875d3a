"""The nine core tools register through the entry point with the schema a small model needs."""

from __future__ import annotations

from typing import Any

from orchestrator.tools.base import Risk
from orchestrator.tools.registry import ToolRegistry

EXPECTED = {
    "execute_command": (Risk.EXEC, {"command", "timeout"}),
    "read_file": (Risk.READ, {"path"}),
    "write_file": (Risk.WRITE, {"path", "content"}),
    "list_directory": (Risk.READ, {"path"}),
    "search_files": (Risk.READ, {"pattern", "path", "content"}),
    "get_system_info": (Risk.READ, set()),
    "get_datetime": (Risk.SAFE, {"timezone"}),
    "calculate": (Risk.SAFE, {"expression"}),
    "http_request": (Risk.NETWORK, {"url", "method", "headers", "body"}),
}


def _string_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every schema of type string inside a property schema (through anyOf and maps)."""
    found = [schema] if schema.get("type") == "string" and "enum" not in schema else []
    for option in schema.get("anyOf", []):
        found += _string_schemas(option)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _string_schemas(schema["additionalProperties"])
    return found


def test_core_tools_register_through_the_entry_point() -> None:
    registry = ToolRegistry.from_entry_points()
    assert {tool.name for tool in registry} >= set(EXPECTED)
    for name, (risk, params) in EXPECTED.items():
        tool = registry.get(name)
        assert tool.risk is risk, name
        assert set(tool.parameters["properties"]) == params, name
        assert tool.description and not tool.description.endswith(" "), name


def test_every_string_parameter_has_a_max_length_and_description(
    registry: ToolRegistry,
) -> None:
    for tool in registry:
        for name, prop in tool.parameters["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
            for string in _string_schemas(prop):
                assert "maxLength" in string, f"{tool.name}.{name} has no maxLength"
