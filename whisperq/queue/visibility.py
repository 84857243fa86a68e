"""Keeps received messages hidden while their work runs, so no other consumer takes them.

One thread serves every message a consumer holds: each third of the visibility timeout it extends
them all in one call (on SQS ten per request), and forgets those whose receipt is no longer valid.
"""

from __future__ import annotations

import logging
import threading

from whisperq.queue.base import Queue

log = logging.getLogger(__name__)


class VisibilityKeeper:
    def __init__(self, queue: Queue, timeout_s: int):
        self.queue = queue
        self.timeout_s = timeout_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, receipt: str) -> None:
        """Keep this message hidden until :meth:`release`."""
        with self._lock:
            self._held.add(receipt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)
                self._thread.start()

    def release(self, receipt: str) -> None:
        with self._lock:
            self._held.discard(receipt)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def extend_now(self) -> None:
        receipts = sorted(self.held())
        if not receipts:
            return
        try:
            stale = self.queue.change_visibility_many(receipts, self.timeout_s)
        except Exception:  # noqa: BLE001 - try again next round
            log.exception("could not extend the visibility of %d messages", len(receipts))
            return
        with self._lock:
            self._held.difference_update(stale)

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self.timeout_s / 3)):
            self.extend_now()
