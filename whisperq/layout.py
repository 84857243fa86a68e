"""Where every object lives in the bucket. Nothing else builds keys by hand.

Index keys carry the state and a time so that listing the queue never reads every manifest:
``index/{state}/{sort_key}-{job_id}.json`` holds a small summary of the job. Queued and processing
jobs sort oldest first; finished ones newest first (inverted time), so the most recent come first.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

from whisperq.jobs import JobState

AUDIO_PREFIX = "audio/"
JOBS_PREFIX = "jobs/"
RESULTS_PREFIX = "results/"
REFINED_PREFIX = "refined/"
RUNNERS_PREFIX = "runners/"
LOGS_PREFIX = "logs/"
INDEX_PREFIX = "index/"
WEBHOOKS_PREFIX = "webhooks/"
RETENTION_PREFIX = "retention/"
INBOX_PREFIX = "inbox/"
OUTBOX_PREFIX = "outbox/"

_SEGMENT = 200  # characters of a key segment: under the 255 bytes of a file name on disk
_MAX_MS = 10**13  # ms timestamps stay below this until the year 2286
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(filename: str | None, default: str = "audio") -> str:
    """A file name that is safe as the last part of a key: no folders, no odd characters."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:120]
    return cleaned or default


def audio_key(job_id: str, filename: str | None) -> str:
    return f"{AUDIO_PREFIX}{job_id}/{safe_name(filename)}"


def manifest_key(job_id: str) -> str:
    return f"{JOBS_PREFIX}{job_id}.json"


def result_key(job_id: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}.json"


def job_id_of_result_key(key: str) -> str:
    return key.removeprefix(RESULTS_PREFIX).removesuffix(".json")


def refined_key(job_id: str, run: str) -> str:
    return f"{REFINED_PREFIX}{job_id}/{run}.json"


def runner_key(runner_id: str) -> str:
    return f"{RUNNERS_PREFIX}{runner_id}.json"


def index_prefix(state: JobState) -> str:
    return f"{INDEX_PREFIX}{state.value}/"


def index_key(state: JobState, job_id: str, at: float, summary: dict | None = None) -> str:
    """``index/{state}/{time}-{job_id}[/{summary}].json``: the summary (compact JSON, base64url) rides
    in the key itself, cut into segments that fit a file name, so listing needs no read at all."""
    ms = int(at * 1000)
    sort_key = _MAX_MS - ms if state.terminal else ms
    return _with_summary(f"{index_prefix(state)}{sort_key:013d}-{job_id}", summary)


def _with_summary(head: str, summary: dict | None) -> str:
    """``head.json``, or with a summary ``head/{packed summary}.json``."""
    return head + ".json" if summary is None else f"{head}/{_pack(summary)}.json"


def packed_size(summary: dict) -> int:
    """Bytes of ``summary`` as compact JSON, before base64 (which adds a third)."""
    return len(_compact_json(summary))


def _compact_json(summary: dict) -> bytes:
    return json.dumps(summary, separators=(",", ":"), ensure_ascii=False).encode()


def _pack(summary: dict) -> str:
    """``summary`` as base64url of compact JSON, in ``/``-separated segments that fit a file name."""
    raw = base64.urlsafe_b64encode(_compact_json(summary)).decode().rstrip("=")
    return "/".join([raw[i : i + _SEGMENT] for i in range(0, len(raw), _SEGMENT)] or ["_"])


def _unpack(parts: list[str]) -> dict | None:
    """The summary packed into the key parts after the head, or None when there is none (or it is bad)."""
    if not parts:
        return None
    raw = "".join(parts).removesuffix(".json")
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _index_head(key: str) -> str:
    """The ``{time}-{job_id}`` part of an index key."""
    return key.removeprefix(INDEX_PREFIX).split("/", 2)[1].removesuffix(".json")


def job_id_from_index_key(key: str) -> str:
    return _index_head(key).split("-", 1)[1]


def index_key_time(key: str) -> float:
    """The time an index key sorts by (waiting states only: finished ones are inverted)."""
    return int(_index_head(key).split("-", 1)[0]) / 1000


def summary_from_index_key(key: str) -> dict | None:
    return _unpack(key.removeprefix(INDEX_PREFIX).split("/")[2:])


def logs_older_than(cutoff: float) -> str:
    """Log keys listed after this one are of events at ``cutoff`` or before (keys sort newest first)."""
    return _log_head(cutoff)


def _log_head(at: float) -> str:
    """``logs/`` and the inverted millisecond of ``at``: newer events list first."""
    return f"{LOGS_PREFIX}{_MAX_MS - int(at * 1000):013d}"


def log_key(at: float | None = None, summary: dict | None = None) -> str:
    """``logs/{inverted time}-{random}[/{summary}].json``: newest first, the random part keeps keys unique,
    and the event's summary (packed as in index keys) lets the log be listed without reading it."""
    head = f"{_log_head(time.time() if at is None else at)}-{uuid.uuid4().hex[:12]}"
    return _with_summary(head, summary)


def summary_from_log_key(key: str) -> dict | None:
    """The summary a log key carries; None for keys written before logs carried one."""
    return _unpack(key.removeprefix(LOGS_PREFIX).split("/")[1:])


def webhook_key(job_id: str) -> str:
    return f"{WEBHOOKS_PREFIX}{job_id}.json"


def retention_key(finished_at: float, job_id: str) -> str:
    """Oldest first, so the retention sweep stops at the first entry still too young."""
    return f"{RETENTION_PREFIX}{int(finished_at * 1000):013d}-{job_id}.json"
