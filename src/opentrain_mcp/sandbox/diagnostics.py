"""The test-only side of the sandbox that is not persisted: queued faults and the request log."""

from __future__ import annotations

import collections
import copy
import threading
from typing import Any

from .faults import Fault, parse_fault

REQUEST_LOG_LIMIT = 1000


class Diagnostics:
    """Faults to inject into matching API requests, and a log of the requests served (thread-safe)."""

    def __init__(self) -> None:
        self._diagnostics_lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fault_seq = 0
        self._requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=REQUEST_LOG_LIMIT)

    def add_fault(self, spec: Any) -> dict[str, Any]:
        """Queue a fault (see ``faults.parse_fault``); raises ``ValueError`` for a bad spec."""
        with self._diagnostics_lock:
            self._fault_seq += 1
            fault = parse_fault(spec, f"f{self._fault_seq}")
            self._faults.append(fault)
            return fault.to_json()

    def list_faults(self) -> list[dict[str, Any]]:
        """The queued faults with their remaining counts."""
        with self._diagnostics_lock:
            return [f.to_json() for f in self._faults]

    def clear_faults(self) -> int:
        """Drop every queued fault; return how many there were."""
        with self._diagnostics_lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self._diagnostics_lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
            return None

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append one entry to the request log (oldest entries drop after 1000)."""
        with self._diagnostics_lock:
            self._requests.append(entry)

    def update_request(self, entry: dict[str, Any], changes: dict[str, Any]) -> None:
        """Complete a logged entry (status, requestId, fault outcome) once its response is known."""
        with self._diagnostics_lock:
            entry.update(changes)

    def request_log(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        with self._diagnostics_lock:
            return copy.deepcopy(list(self._requests))

    def clear_request_log(self) -> int:
        """Empty the request log; return how many entries it had."""
        with self._diagnostics_lock:
            count = len(self._requests)
            self._requests.clear()
            return count
