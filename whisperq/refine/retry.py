"""Bounded retries with exponential backoff; a server's ``Retry-After`` is honoured up to the cap."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from whisperq.refine.errors import RefineAborted, RefineError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    stopping: threading.Event = field(default_factory=threading.Event)

    def wait_s(self, retry: int, retry_after_s: float | None) -> float:
        wait = retry_after_s if retry_after_s is not None else self.backoff_s * 2**retry
        return max(0.0, min(wait, self.max_backoff_s))


def with_retries(call: Callable[[], T], policy: RetryPolicy) -> T:
    """``call()`` until it succeeds, fails for good, or ``policy.retries`` retries are spent.

    The last error is raised with the number of attempts added to its message.
    """
    for retry in range(policy.retries + 1):
        try:
            return call()
        except RefineError as exc:
            attempts = retry + 1
            if not exc.retryable or retry == policy.retries:
                if attempts > 1:
                    exc.message = f"{exc.message} (after {attempts} attempts)"
                raise
            wait = policy.wait_s(retry, exc.retry_after_s)
            log.warning("refinement attempt %s failed (%s); retrying in %.1fs", attempts, exc.message, wait)
            if policy.stopping.wait(wait):
                raise RefineAborted("refiner stopping") from exc
    raise AssertionError("unreachable")
