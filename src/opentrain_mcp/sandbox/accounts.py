"""Accounts and tokens: authentication, the scope/feature/claim gates, ``/auth/me``, capabilities, credits and
the account toggles of the test controls."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, SandboxError
from .records import Account, Job, Token
from .seed import FEATURE_KEYS
from .store import Store, has_scope


class Accounts(Store):
    """Who is calling, and what their account lets them do."""

    @property
    def token(self) -> str:
        """The main sandbox token (every scope, claimed account)."""
        return self._token_string("tokenId")

    @property
    def limited_token(self) -> str:
        """A token of the same account with only the pre-claim scope set (no ``proposals:write``)."""
        return self._token_string("limitedTokenId")

    @property
    def foreign_token(self) -> str:
        """A token of a second, unrelated employer account."""
        return self._token_string("foreignTokenId")

    def _token_string(self, key: str) -> str:
        with self._lock:
            fixtures: dict[str, Any] = dict(self._data["fixtures"])
            return self._data["tokens"][fixtures[key]]["token"]

    def authenticate(self, authorization: str | None) -> Token:
        """Resolve an ``Authorization`` header to a token record or raise 401."""
        if not authorization or not authorization.strip():
            raise ApiError(401, "Missing API token. Send 'Authorization: Bearer ot_pat_...'.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Malformed Authorization header; expected 'Bearer ot_pat_...'.")
        with self._lock:
            token_id = self._token_index.get(value.strip())
            if token_id is None:
                raise ApiError(401, "Invalid, expired or revoked API token.")
            return copy.deepcopy(self._data["tokens"][token_id])

    def _account(self, token: Token) -> Account:
        return self._data["accounts"][token["accountId"]]

    def _main_account(self) -> Account:
        return self._data["accounts"][self._data["fixtures"]["accountId"]]

    @staticmethod
    def _require_scope(token: Token, *any_of: str) -> None:
        if any(has_scope(token["scopes"], scope) for scope in any_of):
            return
        if len(any_of) == 1:
            message = f"This token lacks the {any_of[0]} scope."
        else:
            message = f"This token needs at least one of these scopes: {', '.join(any_of)}."
        raise ApiError(403, message, {"requiredScopes": list(any_of), "grantedScopes": list(token["scopes"])})

    @staticmethod
    def _require_feature(account: Account, key: str) -> None:
        if not account["features"].get(key):
            raise ApiError(403, f"The {key} feature is not enabled for this account.", {"featureKey": key})

    def _require_claimed(self, account: Account, action: str = "hire AI trainers") -> None:
        if not account["claimed"]:
            raise ApiError(
                403,
                f"A human must claim this agent account before it can {action}.",
                {"reason": "account_claim_required", "action": action, "claimUrl": f"{self._base_url}/claim"},
            )

    def _own_job(self, token: Token, job_id: str) -> Job:
        job = self._data["jobs"].get(job_id)
        if job is None:
            raise ApiError(404, "Job not found.", {"resource": "jobs", "jobId": job_id})
        if job["accountId"] != token["accountId"]:
            raise ApiError(403, "This job belongs to another account.", {"jobId": job_id})
        return job

    def _payment_required(self) -> ApiError:
        return ApiError(
            409,
            "No payment method on file and the credit balance does not cover the full charge. A human must "
            "add a card or credits.",
            {"reason": "payment_method_required", "billingUrl": f"{self._base_url}/billing"},
        )

    @staticmethod
    def _can_pay(account: Account, cents: int) -> bool:
        return account["paymentMethod"] or account["credits"]["availableCents"] >= cents

    @staticmethod
    def _payment_source(account: Account, cents: int, requested: str | None) -> str:
        source = (
            requested
            if requested in ("card", "credits")
            else ("card" if account["paymentMethod"] else "credits")
        )
        if source == "card" and not account["paymentMethod"]:
            raise SandboxError(
                409, "There is no card on file for this account.", reason="payment_method_required"
            )
        if source == "credits" and account["credits"]["availableCents"] < cents:
            raise SandboxError(
                409, "The credit balance does not cover the charge.", reason="payment_method_required"
            )
        return source

    # ---------------------------------------------------------------- the API

    def auth_me(self, token: Token) -> dict[str, Any]:
        """`GET /auth/me` (documented shape only; the claimed state stays internal, A13)."""
        with self._lock:
            account = self._account(token)
            owner = account["owner"]
            return {
                "actor": {
                    "userId": owner["userId"],
                    "email": owner["email"],
                    "firstName": owner["firstName"],
                    "lastName": owner["lastName"],
                    "fullName": f"{owner['firstName']} {owner['lastName']}",
                    "userType": "EMPLOYER",
                },
                "token": {
                    "id": token["id"],
                    "label": token["label"],
                    "scopes": list(token["scopes"]),
                    "ownerOrganizationId": None,
                },
                "account": {
                    "kind": "employer_organization",
                    "organizationId": account["id"],
                    "ownerUserId": owner["userId"],
                    "memberRole": "OWNER",
                },
            }

    def capabilities(self, token: Token) -> dict[str, Any]:
        """`GET /job-drafts/capabilities` (any valid token): the hiring-related feature flags."""
        with self._lock:
            features = self._account(token)["features"]
            return {
                "capabilities": {
                    "hiring": bool(features.get("public_api_hiring")),
                    "paymentsWrite": bool(features.get("public_api_payments_write")),
                    "credits": bool(features.get("public_api_credits")),
                }
            }

    def credits(self, token: Token) -> dict[str, Any]:
        """`GET /credits` (``payments:read`` + ``public_api_credits``)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            account = self._account(token)
            self._require_feature(account, "public_api_credits")
            credits = account["credits"]
            return {
                "credits": {
                    "availableCents": credits["availableCents"],
                    "reservedCents": credits["reservedCents"],
                    "currency": "usd",
                    "recentEntries": copy.deepcopy(list(reversed(credits["entries"][-10:]))),
                }
            }

    # ---------------------------------------------------------- test controls

    def account_info(self) -> dict[str, Any]:
        """The main account's toggles as the controls show them."""
        with self._lock:
            account = self._main_account()
            return {
                "accountId": account["id"],
                "name": account["name"],
                "claimed": account["claimed"],
                "paymentMethod": account["paymentMethod"],
                "creditsCents": account["credits"]["availableCents"],
                "reservedCents": account["credits"]["reservedCents"],
                "features": dict(account["features"]),
            }

    def update_account(self, changes: Any) -> dict[str, Any]:
        """Apply ``{"claimed", "paymentMethod", "creditsCents", "features": {...}}`` (any subset) to the main account."""
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(changes) - {"claimed", "paymentMethod", "creditsCents", "features"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        for key in ("claimed", "paymentMethod"):
            if key in changes and not isinstance(changes[key], bool):
                raise ValueError(f"'{key}' must be a boolean")
        credits = changes.get("creditsCents")
        if "creditsCents" in changes and (
            isinstance(credits, bool) or not isinstance(credits, int) or credits < 0
        ):
            raise ValueError("'creditsCents' must be a non-negative integer")
        features = changes.get("features", {})
        if not isinstance(features, dict):
            raise ValueError("'features' must be an object")
        for key, value in features.items():
            if key not in FEATURE_KEYS:
                raise ValueError(f"unknown feature {key!r}; known: {', '.join(FEATURE_KEYS)}")
            if not isinstance(value, bool):
                raise ValueError(f"feature {key!r} must be a boolean")
        with self._lock:
            account = self._main_account()
            if "claimed" in changes:
                account["claimed"] = changes["claimed"]
            if "paymentMethod" in changes:
                account["paymentMethod"] = changes["paymentMethod"]
            if isinstance(credits, int):
                account["credits"]["availableCents"] = credits
            account["features"].update(features)
            self._save()
            return self.account_info()
