"""Settings from environment variables and command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentrain_mcp.api.client import DEFAULT_BASE_URL, normalize_base_url
from opentrain_mcp.api.errors import ConfigurationError

TOKEN_VARS = ("OT_API_TOKEN", "OPENTRAIN_API_TOKEN", "OPENTRAIN_PERSONAL_API_TOKEN")
BASE_URL_VARS = ("OPENTRAIN_API_BASE_URL", "OT_API_BASE_URL")
AUTH_TOKEN_VAR = "OPENTRAIN_MCP_AUTH_TOKEN"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
TOKEN_HELP = (
    "Set OT_API_TOKEN (or OPENTRAIN_API_TOKEN / OPENTRAIN_PERSONAL_API_TOKEN) in this MCP server's "
    "environment to a personal API token (ot_pat_...). A human creates one in the OpenTrain app under "
    "Settings → API keys (https://app.opentrain.ai), with scopes proposals:write and payments:read. "
    "Then restart the server. To try without a token, start it with --sandbox."
)


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable; unset or empty is false, anything not clearly yes or no is an error."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw or raw.lower() in FALSE_WORDS:
        return False
    if raw.lower() in TRUE_WORDS:
        return True
    raise ConfigurationError(
        f"{name}={raw!r} is not a boolean: use one of {'/'.join(TRUE_WORDS)} to turn it on or "
        f"{'/'.join(FALSE_WORDS)} to turn it off (any case)"
    )


@dataclass
class Settings:
    """Everything the server needs to know; ``config_error`` explains a setup that cannot call the API."""

    token: str | None = field(default=None, repr=False)
    token_var: str | None = None
    base_url: str = DEFAULT_BASE_URL
    config_error: str | None = None
    sandbox: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, base_url: str | None = None) -> Settings:
        """Read the token and base URL; the first variable set wins, in documented order."""
        env = os.environ if env is None else env
        token_var = next((name for name in TOKEN_VARS if env.get(name, "").strip()), None)
        token = env[token_var].strip() if token_var else None
        raw_url = base_url or next(
            (env[n] for n in BASE_URL_VARS if env.get(n, "").strip()), DEFAULT_BASE_URL
        )
        settings = cls(token=token, token_var=token_var)
        try:
            settings.base_url = normalize_base_url(raw_url)
        except ConfigurationError as exc:
            settings.config_error = (
                f"OpenTrain base URL is misconfigured: {exc.message}. Fix OPENTRAIN_API_BASE_URL "
                f"(or OT_API_BASE_URL) — the default is {DEFAULT_BASE_URL} — and restart the server."
            )
        return settings

    def problem(self) -> str | None:
        """Why API calls cannot work with these settings, in words for the model and the human."""
        if self.config_error:
            return self.config_error
        if not self.token:
            return "No OpenTrain API token is configured. " + TOKEN_HELP
        return None
