"""``python -m opentrain_mcp`` — same as the ``opentrain-mcp`` command."""

from opentrain_mcp.cli import main

raise SystemExit(main())
