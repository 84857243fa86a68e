"""Reading and writing jobs in the store: manifests with compare-and-swap, plus the state index.

Every state change goes: write the index entry of the new state, swap the manifest (If-Match),
delete the old index entry. A crash between steps can leave a job listed under two states; readers
keep the entry of the most advanced state (see :func:`_pick_latest`), and the next change cleans up.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from whisperq import layout
from whisperq.jobs import (
    Job,
    JobState,
    RefinedText,
    RefineState,
    TranscriptResult,
    check_refine_transition,
    check_transition,
)
from whisperq.store import ObjectNotFound, PreconditionFailed, Store, get_json_each

log = logging.getLogger(__name__)

_STATE_RANK = {
    JobState.AWAITING_UPLOAD: 0,
    JobState.QUEUED: 1,
    JobState.PROCESSING: 2,
    JobState.DONE: 3,
    JobState.ERROR: 3,
    JobState.CANCELLED: 3,
}


class JobNotFound(KeyError):
    pass


@dataclass
class VersionedJob:
    job: Job
    etag: str


def _index_time(job: Job) -> float:
    if job.state.terminal:
        return job.completed_at or job.updated_at
    if job.state is JobState.PROCESSING:
        return job.started_at or job.updated_at
    if job.state is JobState.QUEUED:
        return job.queued_at or job.created_at
    return job.created_at


# Longest texts the index key holds (S3 keys have 1,024 bytes); a longer one is read from the entry.
KEY_TEXT_CHARS = {"filename": 100, "error": 60}


def index_summary(job: Job) -> dict:
    """What the queue listing shows, kept in the index entry so listing reads no manifest."""
    return {
        "id": job.id,
        "state": job.state.value,
        "filename": job.filename,
        "model_name": job.params.model_name,
        "priority": job.params.priority.value,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "device": job.device,
        "attempts": job.attempts,
        "error": (job.error or "")[:300] or None,
        "refine": job.refine.status.value if job.refine else None,
    }


_KEY_FIELDS = {  # summary field -> short name in the index key
    "filename": "f", "model_name": "m", "priority": "p", "created_at": "c", "started_at": "s",
    "completed_at": "d", "device": "v", "attempts": "a", "error": "e", "refine": "r",
}  # fmt: skip


def key_summary(summary: dict) -> dict:
    """The summary squeezed into an index key: short names, no nulls, long texts cut (and marked)."""
    packed: dict = {}
    for name, short in _KEY_FIELDS.items():
        value = summary.get(name)
        if value is None or (name == "priority" and value == "normal"):
            continue
        if isinstance(value, float):
            value = round(value, 3)
        limit = KEY_TEXT_CHARS.get(name)
        if limit and len(value) > limit:
            value = value[:limit]
            packed["cut"] = 1
        packed[short] = value
    return packed


def summary_from_key(key: str, state: JobState) -> dict | None:
    packed = layout.summary_from_index_key(key)
    if packed is None or packed.get("cut"):
        return None  # an older entry, or a text too long for the key: read the entry itself
    summary = {name: packed.get(short) for name, short in _KEY_FIELDS.items()}
    summary["priority"] = summary["priority"] or "normal"
    summary["attempts"] = summary["attempts"] or 0
    return {"id": layout.job_id_from_index_key(key), "state": state.value, **summary}


class JobRepository:
    def __init__(self, store: Store):
        self.store = store

    # --- manifests ---------------------------------------------------------------------------
    def create(self, job: Job) -> VersionedJob:
        self._write_index(job)
        etag = self.store.put_json(layout.manifest_key(job.id), job.model_dump(mode="json"), if_none_match=True)
        return VersionedJob(job, etag)

    def get(self, job_id: str) -> VersionedJob:
        try:
            data, etag = self.store.get_json(layout.manifest_key(job_id))
        except ObjectNotFound:
            raise JobNotFound(job_id) from None
        return VersionedJob(Job.model_validate(data), etag)

    def update(self, job_id: str, change: Callable[[Job], Job | None], *, retries: int = 20) -> Job | None:
        """Apply ``change`` to the newest manifest and swap it in; retried when another writer won.

        ``change`` gets a copy and returns the new job, or None to leave it as it is (then None is
        returned). It may raise to abort, e.g. :class:`InvalidTransition`.
        """
        for _ in range(retries):
            current = self.get(job_id)
            updated = change(current.job.model_copy(deep=True))
            if updated is None:
                return None
            if updated.state != current.job.state:
                check_transition(current.job.state, updated.state)
            updated.updated_at = time.time()
            index_changed = self._index_key(current.job) != self._index_key(updated)
            if index_changed:
                self._write_index(updated)
            if updated.state.terminal and not current.job.state.terminal:
                self._write_followups(updated)
            try:
                self.store.put_json(layout.manifest_key(job_id), updated.model_dump(mode="json"), if_match=current.etag)
            except PreconditionFailed:
                if index_changed:
                    self._drop_losing_index_entry(job_id, self._index_key(updated))
                continue
            if index_changed:
                self.store.delete(self._index_key(current.job))
            return updated
        raise RuntimeError(f"job {job_id}: gave up after {retries} conflicting updates")

    def fail(self, job_id: str, error: str, *, only_from: JobState | None = None) -> Job | None:
        """End a job in ``error`` (unless it already ended, or is not in ``only_from``)."""

        def change(job: Job) -> Job | None:
            if job.state.terminal or (only_from is not None and job.state is not only_from):
                return None
            job.state = JobState.ERROR
            job.error = error
            job.completed_at = time.time()
            return job

        return self.update(job_id, change)

    def _write_followups(self, job: Job) -> None:
        """Work owed to a finished job, written before the manifest says so, so a crash between the
        two cannot lose it: the webhook to call, and the retention entry that expires its data.
        Whoever acts on them checks that the job really is finished."""
        finished_at = job.completed_at or time.time()
        self.store.put_json(layout.retention_key(finished_at, job.id), {"job_id": job.id, "audio_key": job.audio_key})
        if job.params.callback_url:
            with contextlib.suppress(PreconditionFailed):  # already owed
                self.store.put_json(
                    layout.webhook_key(job.id),
                    {"job_id": job.id, "url": job.params.callback_url, "next_at": 0},
                    if_none_match=True,
                )

    def update_refine(
        self, job_id: str, change: Callable[[Job], RefineState | None], *, retries: int = 20
    ) -> Job | None:
        """Swap in a new ``refine`` sub-state of a done job; nothing else of the manifest changes.

        ``change`` sees the newest job and returns its new refine state, or None to leave it.
        Raises ValueError when the job is not done or the refine status cannot move that way.
        """

        def apply(job: Job) -> Job | None:
            if job.state is not JobState.DONE:
                raise ValueError(f"only a done job can be refined; this one is {job.state.value}")
            refine = change(job)
            if refine is None:
                return None
            check_refine_transition(job.refine.status if job.refine else None, refine.status)
            job.refine = refine
            return job

        return self.update(job_id, apply, retries=retries)

    # --- results -----------------------------------------------------------------------------
    def put_result(self, result: TranscriptResult) -> bool:
        """Write the result once; returns False when an earlier attempt already wrote it."""
        try:
            self.store.put_json(layout.result_key(result.job_id), result.model_dump(mode="json"), if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    def get_result(self, job_id: str) -> TranscriptResult | None:
        try:
            data, _ = self.store.get_json(layout.result_key(job_id))
        except ObjectNotFound:
            return None
        return TranscriptResult.model_validate(data)

    def put_refined(self, refined: RefinedText) -> bool:
        """Write one run's refined text once; False when an earlier delivery already wrote it."""
        key = layout.refined_key(refined.job_id, refined.run)
        try:
            self.store.put_json(key, refined.model_dump(mode="json"), if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    def get_refined(self, job_id: str, run: str) -> RefinedText | None:
        try:
            data, _ = self.store.get_json(layout.refined_key(job_id, run))
        except ObjectNotFound:
            return None
        return RefinedText.model_validate(data)

    # --- index -------------------------------------------------------------------------------
    @staticmethod
    def _index_key(job: Job) -> str:
        return layout.index_key(job.state, job.id, _index_time(job), key_summary(index_summary(job)))

    def _write_index(self, job: Job) -> None:
        self.store.put_json(self._index_key(job), index_summary(job))

    def _drop_losing_index_entry(self, job_id: str, key: str) -> None:
        """Another writer won the swap: remove the entry we wrote unless the winner's is the same."""
        try:
            winner = self.get(job_id).job
        except JobNotFound:
            winner = None
        if winner is None or self._index_key(winner) != key:
            self.store.delete(key)

    def list_state(self, state: JobState, limit: int | None = None) -> list[dict]:
        """Summaries of jobs in ``state``: oldest first while waiting, newest first once finished.

        Most come from the keys alone; the few entries whose key could not hold everything (a long
        error) are read, concurrently where each read is a round trip (S3)."""
        keys = list(itertools.islice(self.store.list_keys(layout.index_prefix(state)), limit))
        summaries: list[dict | None] = [summary_from_key(key, state) for key in keys]
        unread = [i for i, summary in enumerate(summaries) if summary is None]
        for i, summary in zip(unread, get_json_each(self.store, [keys[i] for i in unread]), strict=True):
            summaries[i] = summary  # None: moved on between list and read
        return [s for s in summaries if s is not None]

    def iter_index_keys(self, state: JobState) -> Iterator[str]:
        return self.store.list_keys(layout.index_prefix(state))

    def list_all(self, limit_finished: int | None) -> dict[JobState, list[dict]]:
        """Every state's list, with a job listed under two states (a crash mid-change) kept once."""
        listing = {state: self.list_state(state, None if not state.terminal else limit_finished) for state in JobState}
        return _pick_latest(listing)


def _pick_latest(listing: dict[JobState, list[dict]]) -> dict[JobState, list[dict]]:
    best: dict[str, JobState] = {}
    for state, summaries in listing.items():
        for summary in summaries:
            seen = best.get(summary["id"])
            if seen is None or _STATE_RANK[state] > _STATE_RANK[seen]:
                best[summary["id"]] = state
    return {state: [s for s in summaries if best[s["id"]] is state] for state, summaries in listing.items()}
