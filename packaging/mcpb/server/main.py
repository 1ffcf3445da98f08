"""Entry point of the opentrain-mcp MCP Bundle: runs the server from the packages bundled in ``server/lib``."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
for name, value in list(os.environ.items()):
    if value.startswith("${user_config."):  # an optional setting left empty that a host passed unreplaced
        del os.environ[name]

from opentrain_mcp.cli import main  # noqa: E402 - the bundled packages are importable only from here on

raise SystemExit(main())
