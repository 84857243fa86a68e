"""Entry point of the refiner process (``whisperq refiner``)."""

from __future__ import annotations

import logging
import signal
import socket

from whisperq.queue import Queue, open_queue
from whisperq.refine.refiner import Refiner
from whisperq.settings import Settings
from whisperq.store import open_store


def open_refine_queue(settings: Settings) -> Queue:
    return open_queue(
        settings.resolved_refine_queue_url(),
        visibility_timeout_s=settings.refine.visibility_timeout_s,
        max_receives=settings.refine.max_attempts + 1,
        priorities=False,  # refine requests have none: no -high twin queue to look for
    )


def build_refiner(settings: Settings) -> Refiner:
    store = open_store(settings.resolved_store_url())
    source = f"refiner@{socket.gethostname()}"
    return Refiner(store, open_refine_queue(settings), settings.refine, settings.refine_model, source=source)


def run(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s refiner %(message)s")
    refiner = build_refiner(settings)
    signal.signal(signal.SIGTERM, lambda *_: refiner.stop())
    signal.signal(signal.SIGINT, lambda *_: refiner.stop())
    refiner.run_forever()
