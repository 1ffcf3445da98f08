"""Settings from environment variables and command-line flags."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentrain_mcp.api.client import DEFAULT_BASE_URL, normalize_base_url
from opentrain_mcp.api.errors import ConfigurationError

TOKEN_VARS = ("OT_API_TOKEN", "OPENTRAIN_API_TOKEN", "OPENTRAIN_PERSONAL_API_TOKEN")
BASE_URL_VARS = ("OPENTRAIN_API_BASE_URL", "OT_API_BASE_URL")
AUTH_TOKEN_VAR = "OPENTRAIN_MCP_AUTH_TOKEN"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
TOKEN_HELP = (
    "Set OT_API_TOKEN (or OPENTRAIN_API_TOKEN / OPENTRAIN_PERSONAL_API_TOKEN) in this MCP server's "
    "environment to a personal API token (ot_pat_...), or sign in with the OpenTrain CLI, which keeps "
    "it in ~/.config/opentrain/cli.json. A human creates one in the OpenTrain app under "
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


def cli_config_path(env: Mapping[str, str]) -> Path:
    """``${XDG_CONFIG_HOME:-~/.config}/opentrain/cli.json``, where the OpenTrain CLI keeps its token."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "opentrain" / "cli.json"


def read_cli_config(path: Path) -> tuple[dict[str, str], str | None]:
    """``apiToken`` and ``baseUrl`` from the CLI's file, and why it cannot be used (None when it can).

    A missing file is no problem. A file other users may read is refused, as the CLI itself writes it 0600.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"Cannot read the OpenTrain CLI token file {path}: {exc.strerror}."
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return {}, (
            f"The OpenTrain CLI token file {path} is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); its token is not used. Run: chmod 600 {path} and restart the server."
        )
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"The OpenTrain CLI token file {path} is not readable JSON ({type(exc).__name__})."
    if not isinstance(data, dict):
        return {}, f"The OpenTrain CLI token file {path} does not hold a JSON object."
    kept = {
        k: data[k].strip()
        for k in ("apiToken", "baseUrl")
        if isinstance(data.get(k), str) and data[k].strip()
    }
    return kept, None


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
        url_var = (
            "--base-url" if base_url else next((n for n in BASE_URL_VARS if env.get(n, "").strip()), None)
        )
        raw_url = base_url or (env[url_var] if url_var else None)
        file_problem = None
        if token_var is None:  # the OpenTrain CLI's file, only when no variable names a token
            path = cli_config_path(env)
            saved, file_problem = read_cli_config(path)
            if saved.get("apiToken"):
                token, token_var = saved["apiToken"], str(path)
                if raw_url is None and saved.get("baseUrl"):
                    raw_url, url_var = saved["baseUrl"], f"baseUrl in {path}"
        settings = cls(token=token, token_var=token_var, config_error=file_problem)
        try:
            settings.base_url = normalize_base_url(raw_url or DEFAULT_BASE_URL)
        except ConfigurationError as exc:
            settings.config_error = (
                f"OpenTrain base URL is misconfigured: {exc.message}. Fix {url_var or 'OPENTRAIN_API_BASE_URL'} "
                f"— the default is {DEFAULT_BASE_URL} — and restart the server."
            )
        return settings

    def problem(self) -> str | None:
        """Why API calls cannot work with these settings, in words for the model and the human."""
        if self.config_error:
            return self.config_error
        if not self.token:
            return "No OpenTrain API token is configured. " + TOKEN_HELP
        return None
