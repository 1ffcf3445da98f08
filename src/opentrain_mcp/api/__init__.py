"""OpenTrain public API client (no MCP imports)."""

from opentrain_mcp.api.client import DEFAULT_BASE_URL, OpenTrainClient, normalize_base_url
from opentrain_mcp.api.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MalformedResponseError,
    NotFoundError,
    OpenTrainError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from opentrain_mcp.api.models import (
    Approval,
    ApprovalAccepted,
    ContractEnd,
    ContractMilestone,
    HireAccepted,
    Milestone,
    NewMilestone,
)
from opentrain_mcp.api.retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiError",
    "Approval",
    "ApprovalAccepted",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ContractEnd",
    "ContractMilestone",
    "HireAccepted",
    "MalformedResponseError",
    "Milestone",
    "NewMilestone",
    "NotFoundError",
    "OpenTrainClient",
    "OpenTrainError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "normalize_base_url",
]
