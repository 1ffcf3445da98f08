"""Advertised JSON schemas: small, and portable to every model provider's tool-schema dialect.

Input schemas keep only ``PORTABLE_INPUT_KEYWORDS``, the keywords that OpenAI strict mode, Gemini function
declarations and Anthropic tool schemas all accept: nested objects are inlined (no ``$ref``), there are no
``null`` types, branches or enum members, and no ``additionalProperties`` (google-genai's MCP adapter crashes
on a boolean one). An optional parameter is one that is not ``required`` and carries an explicit, non-null
``default``. Output schemas are inlined too and null-free as well: results leave empty fields out rather than
send ``null``, so an optional result field is simply not ``required`` (alternatives would be ``anyOf``, never
type lists).

Validation is unaffected: the SDK validates arguments with the pydantic models, not these dicts, so unknown
arguments and id patterns are still enforced by the server with readable messages.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcp.server import MCPServer

PORTABLE_INPUT_KEYWORDS = frozenset(
    {"type", "properties", "required", "description", "enum", "items", "default", "minimum", "maximum"}
)
OUTPUT_KEYWORDS = frozenset({"type", "properties", "required", "items", "anyOf", "enum"})
_NULL = {"type": "null"}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local ``#/$defs/...`` reference replaced by its definition, ``$defs`` gone."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = defs[ref.removeprefix("#/$defs/")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return {k: resolve(v) for k, v in node.items() if k != "$defs"}

    return resolve(schema)  # type: ignore[no-any-return]


def portable_input_schema(schema: dict[str, Any], *, keep_descriptions: bool = True) -> dict[str, Any]:
    """An equivalent-for-the-model input schema that every provider's tool dialect accepts."""
    keywords = PORTABLE_INPUT_KEYWORDS if keep_descriptions else PORTABLE_INPUT_KEYWORDS - {"description"}
    return _portable(inline_refs(schema), keywords)  # type: ignore[no-any-return]


def _portable(node: Any, keywords: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node
    node = _without_null(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in keywords or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: _portable(sub, keywords) for name, sub in value.items()}
        elif key == "items":
            out[key] = _portable(value, keywords)
        elif key == "enum":
            out[key] = [v for v in value if v is not None]
        else:
            out[key] = value
    return out


def _without_null(node: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` spelled as a plain ``X``: absence, not ``null``, is how a caller leaves a value out."""
    options = node.get("anyOf")
    if isinstance(options, list) and _NULL in options:
        rest = [o for o in options if o != _NULL]
        merged = {k: v for k, v in node.items() if k != "anyOf"}
        if len(rest) == 1:
            return {**rest[0], **merged}
        return {**merged, "anyOf": rest}
    kinds = node.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest_kinds = [k for k in kinds if k != "null"]
        return {**node, "type": rest_kinds[0] if len(rest_kinds) == 1 else rest_kinds}
    return node


def portable_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The result's fields with their types, and for every nested object the fields it always has.

    Nested objects declare their ``required`` properties, the ones a client can rely on (typed clients such
    as fastmcp's ``.data`` build on them); their optional fields stay undeclared, still allowed, to keep
    ``tools/list`` within its token budget. No descriptions, no nulls.
    """
    return _output(inline_refs(schema), nested=False)  # type: ignore[no-any-return]


def _output(node: Any, *, nested: bool) -> Any:
    if isinstance(node, list):
        return [_output(n, nested=nested) for n in node]
    if not isinstance(node, dict):
        return node
    node = _without_null(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in OUTPUT_KEYWORDS:
            continue
        if key == "properties":
            kept = node.get("required", []) if nested else value
            out[key] = {name: _output(value[name], nested=True) for name in kept}
        else:
            out[key] = _output(value, nested=nested)
    return out


def compact_tool_schemas(mcp: MCPServer[Any], *, terse: Collection[str] = ()) -> None:
    """Rewrite every registered tool's input and output schema in place.

    Tools in ``terse`` take the same arguments as another tool that describes them: theirs lose descriptions.
    """
    for tool in mcp._tool_manager.list_tools():
        tool.parameters = portable_input_schema(tool.parameters, keep_descriptions=tool.name not in terse)
        meta = tool.fn_metadata
        if meta.output_schema is not None:
            meta.output_schema = portable_output_schema(meta.output_schema)
        tool.__dict__.pop("output_schema", None)
