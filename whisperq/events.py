"""The event log the dashboard tails: one small object per event under ``logs/``, newest first."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from whisperq import layout
from whisperq.store import ObjectNotFound, Store

log = logging.getLogger(__name__)


def format_time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class EventLog:
    def __init__(self, store: Store, source: str):
        self.store = store
        self.source = source

    def emit(self, msg: str, *, level: str = "INFO", job_id: str | None = None) -> None:
        """Record an event; a store failure is logged, never raised into the caller's work."""
        at = time.time()
        event = {"time": format_time(at), "ts": at, "msg": msg, "level": level, "source": self.source}
        if job_id:
            event["job_id"] = job_id
        log.log(logging.getLevelNamesMapping().get(level, logging.INFO), msg)
        try:
            self.store.put_json(layout.log_key(at), event)
        except Exception:  # noqa: BLE001 - the event log must never break a job
            log.exception("could not write event %r", msg)

    def tail(self, limit: int = 200) -> list[dict]:
        """The newest ``limit`` events, oldest first."""
        events = []
        for key in self.store.list_keys(layout.LOGS_PREFIX):
            try:
                event, _ = self.store.get_json(key)
            except ObjectNotFound:
                continue
            events.append(event)
            if len(events) >= limit:
                break
        events.reverse()
        return events
