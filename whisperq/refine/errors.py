"""How a refinement failed, in the words of ``refine.status``; the retryable ones are retried."""

from __future__ import annotations

from whisperq.jobs import RefineStatus

RETRYABLE = frozenset(
    {RefineStatus.RATE_LIMITED, RefineStatus.SERVER_ERROR, RefineStatus.TIMEOUT, RefineStatus.UNREACHABLE}
)


class RefineError(Exception):
    def __init__(self, status: RefineStatus, message: str, *, retry_after_s: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s  # what the server asked for (Retry-After), if anything

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE


class RefineAborted(Exception):
    """The refiner is stopping: hand the request back for another refiner."""
