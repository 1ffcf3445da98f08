"""opentrain-mcp: request hires on OpenTrain from an AI agent; a human confirms every hire."""

__version__ = "0.1.0"
