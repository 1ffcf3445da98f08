"""Shrink advertised JSON schemas: every byte of ``tools/list`` is paid for in the agent's context.

Validation is unaffected (the SDK validates with the pydantic models, not these dicts).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcp.server import MCPServer


def compact_schema(schema: Any, *, keep_descriptions: bool = True) -> Any:
    """A smaller equivalent schema: no generated titles, nullable unions as type lists, no null defaults."""
    if isinstance(schema, list):
        return [compact_schema(s, keep_descriptions=keep_descriptions) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "description" and not keep_descriptions:
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is True:
            continue
        if key in ("properties", "$defs"):
            out[key] = {
                name: compact_schema(sub, keep_descriptions=keep_descriptions) for name, sub in value.items()
            }
        else:
            out[key] = compact_schema(value, keep_descriptions=keep_descriptions)
    return _merge_nullable(out)


def _merge_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return schema
    other = next(o for o in options if o != {"type": "null"})
    if not isinstance(other.get("type"), str) or "$ref" in other or "anyOf" in other:
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    merged.update(other)
    merged["type"] = [other["type"], "null"]
    if isinstance(merged.get("enum"), list) and None not in merged["enum"]:
        merged["enum"] = [*merged["enum"], None]
    return merged


def shallow_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Keep the top level typed (fields, types, required) and describe nested objects only as objects.

    Nested shapes are the API's own objects, shown in every result; repeating them in each tool's
    ``outputSchema`` costs hundreds of tokens per tool for no information the model lacks.
    """
    out = {k: v for k, v in schema.items() if k != "$defs"}
    out["properties"] = {name: _shallow(sub) for name, sub in schema.get("properties", {}).items()}
    return out


def _shallow(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"type": "object"}
    if schema.get("type") == "array" or schema.get("type") == ["array", "null"]:
        items = schema.get("items", {})
        return {"type": schema["type"], "items": {"type": "object"} if "$ref" in items else items}
    if "anyOf" in schema and any("$ref" in option for option in schema["anyOf"]):
        return {"type": ["object", "null"]}
    return schema


def compact_tool_schemas(mcp: MCPServer[Any], *, terse: Collection[str] = ()) -> None:
    """Rewrite every registered tool's input and output schema in place.

    Tools in ``terse`` take the same arguments as another tool that describes them: theirs lose descriptions.
    """
    for tool in mcp._tool_manager.list_tools():
        described = tool.name not in terse
        tool.parameters = _drop_patterns(compact_schema(tool.parameters, keep_descriptions=described))
        meta = tool.fn_metadata
        if meta.output_schema is not None:
            meta.output_schema = shallow_output_schema(
                compact_schema(meta.output_schema, keep_descriptions=False)
            )
        tool.__dict__.pop("output_schema", None)


def _drop_patterns(schema: Any) -> Any:
    """Id patterns are enforced server-side with a readable message; advertising the regex only costs tokens."""
    if isinstance(schema, dict):
        return {k: _drop_patterns(v) for k, v in schema.items() if k != "pattern"}
    if isinstance(schema, list):
        return [_drop_patterns(v) for v in schema]
    return schema
