"""Embedded OpenTrain sandbox: a local simulator of the OpenTrain Public API and the human approval page.

Nothing is imported here on purpose; use ``opentrain_mcp.sandbox.runner`` (``running_sandbox``, ``main``),
``opentrain_mcp.sandbox.state`` (``SandboxState``) or ``opentrain_mcp.sandbox.app`` (``create_app``).
"""
