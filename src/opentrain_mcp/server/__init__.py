"""The MCP layer: a thin set of tools over ``opentrain_mcp.api``."""
