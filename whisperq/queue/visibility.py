"""Keeps a received message hidden while its work runs, so no other consumer takes it."""

from __future__ import annotations

import logging
import threading

from whisperq.queue.base import Queue, ReceiptInvalid

log = logging.getLogger(__name__)


class VisibilityExtender:
    def __init__(self, queue: Queue, receipt: str, timeout_s: int):
        self.queue = queue
        self.receipt = receipt
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self.timeout_s / 3)):
            try:
                self.queue.change_visibility(self.receipt, self.timeout_s)
            except ReceiptInvalid:
                return
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("could not extend the visibility of %s", self.receipt)
