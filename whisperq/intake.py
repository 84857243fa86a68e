"""How audio becomes a queued job, whichever way it arrived: a REST upload, a presigned upload that
landed in the bucket, or a file dropped under ``inbox/``. Used by the functions, the event handlers
and the runners' sweeper alike, so every path queues a job the same way.

Every step is safe to repeat: events are delivered at least once, and a dropped file's job id is
derived from its key and ETag, so a duplicate event finds the job already there.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from whisperq import layout
from whisperq.events import EventLog
from whisperq.jobs import Job, JobParams, JobState
from whisperq.queue import Queue
from whisperq.repository import JobNotFound, JobRepository
from whisperq.store import ObjectNotFound, PreconditionFailed, Store

OUTPUT_FORMATS = ("txt", "json", "srt", "vtt", "tsv", "verbose_json")
INBOX_META_PREFIX = "whisperq-"  # object metadata such as x-amz-meta-whisperq-model
INBOX_SETTLE_S = 2.0  # a scanned file must be unchanged this long (copies into a folder are not atomic)
_TEMP_SUFFIXES = (".json", ".part", ".tmp", ".crdownload", ".partial", "/")


def is_inbox_audio_key(key: str) -> bool:
    """Folder markers, sidecar options, hidden and temporary files are not jobs."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(".") and not key.lower().endswith(_TEMP_SUFFIXES)


@dataclass
class Intake:
    store: Store
    repo: JobRepository
    queue: Queue
    events: EventLog
    max_upload_bytes: int = 0  # 0: no limit; enforced again here since not every S3 server checks a presigned POST

    # --- REST and presigned uploads ---------------------------------------------------------------
    def create_queued(self, job: Job) -> Job:
        """A job whose audio is already in the store: write the manifest, then send the message."""
        job.state = JobState.QUEUED
        job.queued_at = time.time()
        self.repo.create(job)
        self.queue.send({"job_id": job.id}, dedup_id=job.id, priority=job.params.priority.value)
        self.events.emit(
            f"Task {job.id[:8]} queued: {job.filename} | Model: {job.params.model_name} | "
            f"File size: {job.file_size} bytes",
            job_id=job.id,
        )
        return job

    def upload_arrived(self, job_id: str) -> Job | None:
        """The audio of an awaiting job is in the bucket: queue it (once). Returns the job if it
        was queued now, None if it was not awaiting (already queued, unknown, or no audio yet)."""
        try:
            job = self.repo.get(job_id).job
        except JobNotFound:
            return None
        if job.state is not JobState.AWAITING_UPLOAD:
            return None
        try:
            info = self.store.head(job.audio_key)
        except ObjectNotFound:
            return None
        if self.max_upload_bytes and info.size > self.max_upload_bytes:
            self._refuse_upload(job_id, f"the upload is {info.size} bytes; the limit is {self.max_upload_bytes}")
            self.store.delete(job.audio_key)
            return None

        def queue_it(j: Job) -> Job | None:
            if j.state is not JobState.AWAITING_UPLOAD:
                return None
            j.state = JobState.QUEUED
            j.queued_at = time.time()
            j.file_size = info.size
            return j

        queued = self.repo.update(job_id, queue_it)
        if queued is not None:
            self.queue.send({"job_id": job_id}, dedup_id=job_id, priority=queued.params.priority.value)
            self.events.emit(
                f"Task {job_id[:8]} queued: upload of {job.filename} arrived ({info.size} bytes)", job_id=job_id
            )
        return queued

    def expire_upload(self, job_id: str) -> Job | None:
        return self._refuse_upload(job_id, "the upload did not arrive before its URL expired")

    def _refuse_upload(self, job_id: str, error: str) -> Job | None:
        refused = self.repo.fail(job_id, error, only_from=JobState.AWAITING_UPLOAD)
        if refused is not None:
            self.events.emit(f"Task {job_id[:8]} failed: {error}", level="ERROR", job_id=job_id)
        return refused

    # --- drop folder ------------------------------------------------------------------------------
    def object_created(self, key: str) -> Job | None:
        """Route an ObjectCreated event: audio of a presigned upload, or a file dropped in inbox/."""
        if key.startswith(layout.AUDIO_PREFIX):
            parts = key.split("/")
            return self.upload_arrived(parts[1]) if len(parts) == 3 else None
        if key.startswith(layout.INBOX_PREFIX):
            return self.inbox_file(key)
        return None

    def inbox_file(self, key: str, settle_s: float = 0.0) -> Job | None:
        """Make a job of a file dropped under inbox/; a second call for the same object is a no-op.

        ``settle_s``: skip a file changed more recently than this (a copy may still be writing it).
        """
        if not is_inbox_audio_key(key):
            return None
        try:
            info = self.store.head(key)
        except ObjectNotFound:
            return None
        if info.size == 0 or time.time() - info.last_modified < settle_s:
            return None
        # The store's own ETag (not the event's) so that events and inbox scans agree on the id.
        job_id = inbox_job_id(key, info.etag)
        if self.store.exists(layout.manifest_key(job_id)):
            return None
        try:
            params = inbox_params(self.store, key, info.metadata)
        except ValueError as exc:
            params, error = JobParams(output_formats=["txt"]), str(exc)
        else:
            error = None
        job = Job(
            id=job_id,
            params=params,
            filename=layout.safe_name(key),
            audio_key=key,
            file_size=info.size,
            source_key=key,
        )
        if error:
            return self._refused_inbox_job(job, error)
        try:
            return self.create_queued(job)
        except PreconditionFailed:
            return None  # a concurrent delivery of the same event created it first

    def _refused_inbox_job(self, job: Job, error: str) -> Job | None:
        job.state = JobState.ERROR
        job.error = error
        job.completed_at = time.time()
        try:
            self.repo.create(job)
        except PreconditionFailed:
            return None
        write_outbox_error(self.store, job)
        self.events.emit(f"Dropped file {job.source_key} refused: {error}", level="ERROR", job_id=job.id)
        return job

    def scan_inbox(self, limit: int = 1000) -> int:
        """Poll inbox/ (for stores without event notifications, such as the embedded folder)."""
        created = 0
        for count, key in enumerate(self.store.list_keys(layout.INBOX_PREFIX)):
            if count >= limit:
                break
            if self.inbox_file(key, settle_s=INBOX_SETTLE_S) is not None:
                created += 1
        return created


def inbox_job_id(key: str, etag: str) -> str:
    clean_etag = etag.strip('"')
    return hashlib.sha256(f"{key}\n{clean_etag}".encode()).hexdigest()[:32]


def inbox_params(store: Store, key: str, metadata: dict[str, str]) -> JobParams:
    """Options of a dropped file: a sidecar ``<file>.json`` wins over object metadata."""
    options: dict = {
        name.removeprefix(INBOX_META_PREFIX).replace("-", "_"): value
        for name, value in metadata.items()
        if name.lower().startswith(INBOX_META_PREFIX)
    }
    try:
        sidecar, _ = store.get_json(key + ".json")
    except ObjectNotFound:
        sidecar = {}
    except ValueError as exc:
        raise ValueError(f"the options file {key}.json is not valid JSON: {exc}") from exc
    if not isinstance(sidecar, dict):
        raise ValueError(f"the options file {key}.json must hold a JSON object")
    options.update(sidecar)
    if "model" in options and "model_name" not in options:
        options["model_name"] = options.pop("model")
    formats = options.pop("formats", options.pop("output_formats", "txt"))
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(OUTPUT_FORMATS))
    if unknown:
        raise ValueError(f"unknown output format(s) {unknown}; allowed: {list(OUTPUT_FORMATS)}")
    allowed = set(JobParams.model_fields) - {"output_formats"}
    extra = sorted(set(options) - allowed)
    if extra:
        raise ValueError(f"unknown option(s) {extra}; allowed: {sorted(allowed) + ['formats']}")
    try:
        return JobParams(**options, output_formats=formats or ["txt"])
    except ValueError as exc:
        raise ValueError(f"bad options for {key}: {exc}") from exc


def outbox_base(source_key: str) -> str:
    """``inbox/a/b/call.wav`` -> ``outbox/a/b/call`` (the formats add their extension)."""
    relative = source_key.removeprefix(layout.INBOX_PREFIX)
    stem = relative.rsplit(".", 1)[0] if "." in relative.rsplit("/", 1)[-1] else relative
    return layout.OUTBOX_PREFIX + stem


def write_outbox_error(store: Store, job: Job) -> None:
    if job.source_key:
        body = json.dumps({"task_id": job.id, "error": job.error}, ensure_ascii=False).encode()
        store.put_bytes(outbox_base(job.source_key) + ".error.json", body, content_type="application/json")
