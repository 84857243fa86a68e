"""Expiring audio, results and old events after the set number of days, on any store.

Each finished job has an entry under ``retention/`` keyed by its finish time, oldest first, so a sweep
reads only the entries that are due and stops at the first one that is not. Audio goes first; the
entry stays until the result is due too. The manifest stays, with when each part expired.
Events under ``logs/`` sort newest first, so the expired ones are listed from a computed key on.
"""

from __future__ import annotations

import itertools
import time

from whisperq import layout
from whisperq.events import EventLog
from whisperq.jobs import Job
from whisperq.repository import JobNotFound, JobRepository
from whisperq.store import ObjectNotFound, Store

DAY_S = 86400.0


class RetentionSweeper:
    def __init__(
        self,
        store: Store,
        repo: JobRepository,
        events: EventLog,
        *,
        audio_days: float,
        result_days: float,
        log_days: float = 0.0,
    ):
        self.store = store
        self.repo = repo
        self.events = events
        self.audio_s = audio_days * DAY_S
        self.result_s = result_days * DAY_S
        self.log_s = log_days * DAY_S

    def sweep_logs(self, now: float | None = None, limit: int = 1000) -> int:
        """Delete events older than the log retention; returns how many went."""
        if self.log_s <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - self.log_s
        start = layout.logs_older_than(cutoff)
        expired = list(itertools.islice(self.store.list_keys(layout.LOGS_PREFIX, start_after=start), limit))
        for key in expired:
            self.store.delete(key)
        return len(expired)

    def sweep(self, now: float | None = None, limit: int = 1000) -> int:
        """Expire what is due; returns how many jobs lost audio or results in this pass."""
        now = time.time() if now is None else now
        oldest_due = min(s for s in (self.audio_s, self.result_s) if s > 0) if self.audio_s or self.result_s else 0
        if not oldest_due:
            return 0
        changed = 0
        for count, key in enumerate(list(self.store.list_keys(layout.RETENTION_PREFIX))):
            finished_at = int(key.rsplit("/", 1)[-1].split("-", 1)[0]) / 1000
            if count >= limit or now - finished_at < oldest_due:
                break
            changed += self._expire(key, now - finished_at, now)
        return changed

    def _expire(self, key: str, age_s: float, now: float) -> int:
        try:
            entry, _ = self.store.get_json(key)
        except ObjectNotFound:
            return 0
        job_id = entry["job_id"]
        try:
            job = self.repo.get(job_id).job
        except JobNotFound:
            self.store.delete(key)
            return 0
        audio_due = self.audio_s > 0 and age_s >= self.audio_s and job.audio_expired_at is None
        result_due = self.result_s > 0 and age_s >= self.result_s and job.result_expired_at is None
        if audio_due:
            self.store.delete(job.audio_key)
        if result_due:
            self.store.delete(layout.result_key(job_id))
        if audio_due or result_due:
            self.repo.update(job_id, lambda j: _mark(j, audio_due, result_due, now))
            self.events.emit(
                f"Task {job_id[:8]}: {'audio ' if audio_due else ''}{'result ' if result_due else ''}"
                "expired (retention)",
                job_id=job_id,
            )
        audio_done = self.audio_s <= 0 or audio_due or job.audio_expired_at is not None
        result_done = self.result_s <= 0 or result_due or job.result_expired_at is not None
        if audio_done and result_done:
            self.store.delete(key)
        return int(audio_due or result_due)


def _mark(job: Job, audio: bool, result: bool, now: float) -> Job:
    if audio:
        job.audio_expired_at = now
    if result:
        job.result_expired_at = now
    return job
