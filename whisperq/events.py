"""The event log the dashboard tails: one small object per event under ``logs/``, newest first.

Each key also carries the event itself, packed (see :func:`key_summary`), so that tailing the log lists
keys and reads no object; only an event whose message was too long for its key is read back.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from datetime import UTC, datetime

from whisperq import layout
from whisperq.store import Store, get_json_each

log = logging.getLogger(__name__)

# Most bytes of compact JSON a log key carries (base64 makes it 640 characters of a 1,024-byte S3 key;
# the rest is left for the key's head and a store prefix). A longer message is cut in the key.
KEY_EVENT_BYTES = 480

_KEY_FIELDS = {"ts": "t", "level": "l", "source": "s", "job_id": "j", "msg": "m"}  # event field -> key name


def format_time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def key_summary(event: dict) -> dict | None:
    """The event squeezed into its key: short names, INFO left out, a long message cut (and marked).
    None when even an empty message would not fit (an absurdly long source)."""
    packed = {short: event[name] for name, short in _KEY_FIELDS.items() if event.get(name) is not None}
    if packed.get("l") == "INFO":
        del packed["l"]
    if layout.packed_size(packed) <= KEY_EVENT_BYTES:
        return packed
    packed.update(m="", cut=1)
    room = KEY_EVENT_BYTES - layout.packed_size(packed)
    if room < 0:
        return None
    packed["m"] = _prefix_within(event["msg"], room)
    return packed


def _prefix_within(text: str, room: int) -> str:
    """The longest start of ``text`` whose JSON string body takes at most ``room`` bytes."""
    used = 0
    for n, char in enumerate(text):
        used += len(json.dumps(char, ensure_ascii=False).encode()) - 2
        if used > room:
            return text[:n]
    return text


def event_from_key(key: str) -> dict | None:
    """The event as written, from its key alone; None for an old key or one whose message was cut."""
    packed = layout.summary_from_log_key(key)
    if packed is None or packed.get("cut") or not isinstance(packed.get("t"), int | float):
        return None
    event = {"time": format_time(packed["t"]), "ts": packed["t"], "msg": packed.get("m", "")}
    event["level"] = packed.get("l", "INFO")
    event["source"] = packed.get("s", "")
    if packed.get("j"):
        event["job_id"] = packed["j"]
    return event


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
            self.store.put_json(layout.log_key(at, key_summary(event)), event)
        except Exception:  # noqa: BLE001 - the event log must never break a job
            log.exception("could not write event %r", msg)

    def tail(self, limit: int = 200) -> list[dict]:
        """The newest ``limit`` events, oldest first.

        One listing request per 1,000 events on S3; the events come from the keys, and only those whose
        message did not fit their key (or older keys without an event) are read, concurrently."""
        keys = list(itertools.islice(self.store.list_keys(layout.LOGS_PREFIX), limit))
        events = [event_from_key(key) for key in keys]
        unread = [i for i, event in enumerate(events) if event is None]
        for i, read in zip(unread, get_json_each(self.store, [keys[i] for i in unread]), strict=True):
            events[i] = read
        return [event for event in reversed(events) if event is not None]
