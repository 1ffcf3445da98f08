"""The sandbox world for one seed, assembled from its domains.

Each domain reads on its own: ``store`` (records, clock, persistence, events), ``accounts`` (tokens and gates),
``approvals`` (co-signs and their pages), ``hiring`` (the hire endpoint), ``contracts`` (contracts and
milestones), ``listings`` (jobs, proposals, updates) and ``diagnostics`` (faults and the request log; not
persisted). ``SandboxState`` adds what spans them: fixtures, reset, and the human's confirmation.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from .contracts import Contracts
from .diagnostics import Diagnostics
from .errors import SandboxError
from .fees import hire_charge
from .hiring import Hiring
from .listings import Listings
from .store import API_PREFIX, DEFAULT_BASE_URL

__all__ = ["API_PREFIX", "DEFAULT_BASE_URL", "SandboxState", "hire_charge"]


class SandboxState(Hiring, Contracts, Listings, Diagnostics):
    """The whole sandbox world for one seed: data, clock, faults and request log (thread-safe)."""

    def __init__(
        self,
        seed: int = 0,
        base_url: str = DEFAULT_BASE_URL,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        Diagnostics.__init__(self)
        Hiring.__init__(self, seed, base_url, state_file)

    def fixtures(self) -> dict[str, Any]:
        """Tokens, URLs and the ids of the seeded jobs/proposals/contracts, by role."""
        with self._lock:
            fx = self._data["fixtures"]
            return {
                "seed": self.seed,
                "token": self.token,
                "limitedToken": self.limited_token,
                "foreignToken": self.foreign_token,
                "baseUrl": self.base_url,
                "apiBaseUrl": self.api_base_url,
                "accountId": fx["accountId"],
                "foreignAccountId": fx["foreignAccountId"],
                "jobs": dict(fx["jobs"]),
                "proposals": copy.deepcopy(fx["proposals"]),
                "contracts": dict(fx["contracts"]),
                "approvals": dict(fx["approvals"]),
            }

    def reset(self) -> None:
        """Reseed to the initial state for ``self.seed``; clears the clock offset, faults and request log."""
        with self._lock:
            self.clear_faults()
            self.clear_request_log()
            self._reseed()
            self._save()

    def confirm_approval(
        self, approval_id: str, milestone: Any = None, payment_source: str | None = None
    ) -> dict[str, Any]:
        """Confirm as the human would (A5/A6); ``milestone`` edits win; returns the approval's wire JSON.

        ``payment_source`` is ``"card"``, ``"credits"`` or ``None``/``"auto"`` (card if on file, else credits).
        Raises ``SandboxError`` 404 (unknown), 409 (not pending / cannot pay), 400 (invalid edits).
        """
        if payment_source not in (None, "auto", "card", "credits"):
            raise SandboxError(400, "paymentSource must be 'card', 'credits' or 'auto'.")
        with self._lock:
            approval = self._pending_approval(approval_id)
            if approval["type"] == "proposal_hire":
                self._confirm_hire(approval, milestone, payment_source)
            else:
                self._confirm_payment(approval, payment_source)
            self._save()
            return self._approval_wire(approval)
