"""One runner: long-polls the queue, transcribes, writes the result, acknowledges.

Delivery is at-least-once, so every step is idempotent: a job already finished is acknowledged
and skipped, the result is written with If-None-Match (once), and state changes go through the
manifest's compare-and-swap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from gpu_runner.engines.base import BatchItemsFailed
from gpu_runner.model_manager import ModelManager
from gpu_runner.telemetry import device_gpus
from gpu_runner.transcription import BadJob, decode_single, options_for, single_result, transcribe_job
from whisperq import formats, layout
from whisperq.concurrency import map_in_order
from whisperq.events import EventLog
from whisperq.heartbeats import Heartbeat, live_heartbeats, write_heartbeat
from whisperq.intake import Intake, outbox_base, write_outbox_error
from whisperq.jobs import Job, JobState, TranscriptResult, new_refine_run
from whisperq.models import ModelNotAvailable
from whisperq.queue import Message, Queue
from whisperq.queue.visibility import VisibilityKeeper
from whisperq.refine.requests import send_refine_request
from whisperq.repository import JobNotFound, JobRepository
from whisperq.retention import RetentionSweeper
from whisperq.settings import RunnerSettings
from whisperq.store import ObjectNotFound, Store
from whisperq.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

PROGRESS_WRITE_INTERVAL_S = 2.0
RETENTION_SWEEP_S = 600.0


@dataclass
class _Claimed:
    job: Job
    message: Message


class JobAborted(Exception):
    """The job was cancelled, or the runner is stopping: stop working on it."""


class JobFailed(Exception):
    """A failure that retrying cannot fix (bad audio, unknown model): the job ends in error."""


@dataclass
class RunnerIdentity:
    runner_id: str
    device: str  # "cpu" or "cuda:N"

    @property
    def device_id(self) -> str:
        return self.device.split(":", 1)[1] if ":" in self.device else self.device

    @classmethod
    def for_device(cls, device: str, name: str = "") -> RunnerIdentity:
        host = socket.gethostname().split(".")[0]
        suffix = f"-{name}" if name else ""
        return cls(f"{host}-{device.replace(':', '')}{suffix}", device)


class Runner:
    def __init__(
        self,
        identity: RunnerIdentity,
        store: Store,
        queue: Queue,
        models: ModelManager,
        settings: RunnerSettings,
        engine_name: str,
        work_dir: Path | None = None,
        webhooks: WebhookDeliverer | None = None,
        retention: RetentionSweeper | None = None,
        max_upload_bytes: int = 0,
        refine_queue: Queue | None = None,
    ):
        self.identity = identity
        self.store = store
        self.queue = queue
        self.refine_queue = refine_queue  # refine requests (upgrade_transcribation) go there
        self.repo = JobRepository(store)
        self.models = models
        self.settings = settings
        self.events = EventLog(store, source=identity.runner_id)
        self.intake = Intake(store, self.repo, queue, self.events, max_upload_bytes=max_upload_bytes)
        self.webhooks = webhooks
        self.retention = retention
        self.work_dir = Path(work_dir or tempfile.gettempdir())
        self.stopping = threading.Event()
        self.batch_jobs = settings.batch_jobs or (16 if identity.device.startswith("cuda") else 1)
        self.io_threads = max(store.read_concurrency, min(8, os.cpu_count() or 1))
        self.visibility = VisibilityKeeper(queue, settings.visibility_timeout_s)
        self._stats_lock = threading.Lock()
        self._last_sweep = 0.0
        self._last_inbox_scan = 0.0
        self.heartbeat = Heartbeat(
            runner_id=identity.runner_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            device=identity.device,
            device_id=identity.device_id,
            engine=engine_name,
            started_at=time.time(),
        )

    # --- main loop ---------------------------------------------------------------------------
    def run_forever(self) -> None:
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        threading.Thread(target=self._followups_loop, name="followups", daemon=True).start()
        self.events.emit(f"Runner {self.identity.runner_id} started on {self.identity.device}")
        for name in self.settings.preload_models:
            self._preload(name)
        while not self.stopping.is_set():
            self.run_once(wait_s=self.settings.poll_wait_s)
        self.visibility.close()
        self.heartbeat.stopping = True
        self._beat()
        self.events.emit(f"Runner {self.identity.runner_id} stopped")

    def run_once(self, wait_s: float = 0.0) -> int:
        self._maybe_sweep()
        if self.settings.model_idle_unload_s > 0:
            for name in self.models.unload_idle(self.settings.model_idle_unload_s):
                self.events.emit(f"Model {name} unloaded after being idle")
        messages = self._receive_batch(wait_s)
        claimed = [c for c in self._each(self._try_admit, messages) if c is not None]
        if claimed:
            self._process_batch(claimed)
        return len(messages)

    def _receive_batch(self, wait_s: float) -> list[Message]:
        """Up to ``batch_jobs`` messages: waits for the first, then takes what is already there and,
        with ``batch_gather_s``, what arrives that long after the first (a burst of jobs arrives apart)."""
        wanted = self.batch_jobs
        messages: list[Message] = []
        gather_until = 0.0
        while len(messages) < wanted:
            got = self.queue.receive(
                max_messages=min(10, wanted - len(messages)),
                wait_s=wait_s if not messages else max(0.0, gather_until - time.monotonic()),
                visibility_timeout_s=self.settings.visibility_timeout_s,
            )
            if not got:
                break
            if not messages:
                gather_until = time.monotonic() + self.settings.batch_gather_s
            messages += got
        return messages

    def stop(self) -> None:
        self.stopping.set()

    def _preload(self, name: str) -> None:
        try:
            self.models.get(name)
        except Exception as exc:  # noqa: BLE001 - a bad preload entry must not stop the runner
            self.events.emit(f"Preloading model {name} failed: {exc}", level="ERROR")

    # --- messages to claimed jobs --------------------------------------------------------------
    def handle(self, message: Message) -> None:
        """One message from start to end (a batch of one)."""
        claimed = self._admit(message)
        if claimed is not None:
            self._process_batch([claimed])

    def _try_admit(self, message: Message) -> _Claimed | None:
        """:meth:`_admit`, where a failure (the store unreachable) leaves only this message to come back
        after its visibility timeout, while the rest of the batch goes on."""
        try:
            return self._admit(message)
        except Exception:  # noqa: BLE001
            log.exception("could not claim the job of message %s; it comes back later", message.id)
            return None

    def _admit(self, message: Message) -> _Claimed | None:
        """Claim the job of a message, or settle the message at once (duplicate, unknown, given up)."""
        job_id = message.body.get("job_id")
        if not isinstance(job_id, str):
            log.warning("dropping a message without job_id: %r", message.body)
            self.queue.delete(message.receipt)
            return None
        try:
            job = self.repo.get(job_id).job
        except JobNotFound:
            log.warning("dropping a message for unknown job %s", job_id)
            self.queue.delete(message.receipt)
            return None
        if job.state is JobState.AWAITING_UPLOAD:
            self.queue.delete(message.receipt)  # sent before its upload arrived: the upload queues it
            return None
        if job.state.terminal or self._running_elsewhere(job):
            # A duplicate delivery. A runner may have died between "done" and sending the refine request.
            if self._send_refine_request(job):
                self.queue.delete(message.receipt)
            return None
        if job.attempts >= self.settings.max_attempts:
            self._fail(job_id, f"gave up after {job.attempts} attempts; last: {job.error or 'runner stopped'}")
            self.queue.delete(message.receipt)
            return None
        claimed_job = self.repo.update(job_id, self._claim)
        if claimed_job is None:
            self.queue.delete(message.receipt)
            return None
        self.visibility.hold(message.receipt)
        self.events.emit(
            f"Task {job_id[:8]} started on {self.identity.device} (attempt {claimed_job.attempts})", job_id=job_id
        )
        return _Claimed(claimed_job, message)

    def _running_elsewhere(self, job: Job) -> bool:
        """Processing by another live runner: this message is a duplicate of theirs."""
        if job.state is not JobState.PROCESSING or job.runner_id in (None, self.identity.runner_id):
            return False
        stale_after = 3 * self.settings.heartbeat_interval_s
        return any(
            beat.runner_id == job.runner_id and (job.id in beat.current_jobs or beat.current_job == job.id)
            for beat in live_heartbeats(self.store, stale_after)
        )

    # --- transcribing a batch ----------------------------------------------------------------
    def _process_batch(self, claimed: list[_Claimed]) -> None:
        ids = [c.job.id for c in claimed]
        self.heartbeat.current_jobs, self.heartbeat.current_job = ids, ids[0]
        self._beat()
        try:
            outcomes = self._outcomes(claimed)
            self._each(lambda c: self._conclude(c, outcomes[c.job.id]), claimed)
        finally:
            for c in claimed:
                self.visibility.release(c.message.receipt)
            self.heartbeat.current_jobs, self.heartbeat.current_job = [], None

    def _outcomes(self, claimed: list[_Claimed]) -> dict[str, TranscriptResult | BaseException]:
        """Each job's result, or the exception that ended it. Jobs of one model decode together."""
        outcomes: dict[str, TranscriptResult | BaseException] = {}
        pending = []
        # A result may exist already, written by an attempt that died before "done".
        for c, existing in zip(claimed, self._each(lambda c: self.repo.get_result(c.job.id), claimed), strict=True):
            if existing is not None:
                outcomes[c.job.id] = existing
            else:
                pending.append(c)
        for model_name in dict.fromkeys(c.job.params.model_name for c in pending):
            group = [c for c in pending if c.job.params.model_name == model_name]
            try:
                engine = self.models.get(model_name)
            except ModelNotAvailable as exc:
                outcomes.update({c.job.id: JobFailed(str(exc)) for c in group})
                continue
            except Exception as exc:  # noqa: BLE001 - a model that fails to load: retried like the rest
                outcomes.update({c.job.id: exc for c in group})
                continue
            for c in group:
                if c.job.params.split_roads:
                    outcomes[c.job.id] = self._outcome_alone(c.job, engine)
            outcomes.update(self._outcomes_together([c for c in group if not c.job.params.split_roads], engine))
        return outcomes

    def _outcome_alone(self, job: Job, engine) -> TranscriptResult | BaseException:
        try:
            with self._local_audio(job) as local:
                return transcribe_job(
                    job,
                    local,
                    engine,
                    self.identity.device,
                    _ProgressWriter(self, job.id),
                    beam_size=self.settings.beam_size,
                    vad_filter=self.settings.vad_filter,
                )
        except BadJob as exc:
            return JobFailed(str(exc))
        except Exception as exc:  # noqa: BLE001 - concluded per job
            return exc

    def _outcomes_together(self, group: list[_Claimed], engine) -> dict[str, TranscriptResult | BaseException]:
        outcomes: dict[str, TranscriptResult | BaseException] = {}
        ready = []
        for c, audio in zip(group, self._each(self._fetch_audio, group), strict=True):
            if isinstance(audio, BaseException):
                outcomes[c.job.id] = audio
            else:
                ready.append((c.job, audio))
        if not ready:
            return outcomes
        items = [(audio, options_for(job, self.settings.beam_size, self.settings.vad_filter)) for job, audio in ready]
        progress = [_ProgressWriter(self, job.id) for job, _ in ready]
        started = time.monotonic()
        errors: dict[int, BaseException] = {}
        try:
            transcripts = engine.transcribe_batch(items, progress)
        except BatchItemsFailed as exc:
            transcripts, errors = exc.transcripts, exc.errors
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each job is retried
            return outcomes | {job.id: exc for job, _ in ready}
        elapsed = time.monotonic() - started
        for index, (job, _) in enumerate(ready):
            transcript = transcripts[index]
            outcomes[job.id] = errors.get(index) or single_result(
                job, transcript, engine.name, self.identity.device, elapsed
            )
        return outcomes

    def _fetch_audio(self, claimed: _Claimed) -> np.ndarray | BaseException:
        """The job's audio, downloaded and decoded; or what went wrong (JobFailed when retrying cannot help)."""
        try:
            with self._local_audio(claimed.job) as local:
                return decode_single(claimed.job, local)
        except BadJob as exc:
            return JobFailed(str(exc))
        except Exception as exc:  # noqa: BLE001 - concluded per job
            return exc

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``work`` on every item, in order, on ``io_threads`` threads: each item is mostly store and
        queue round trips (and audio decoding), and a batch of 256 jobs on S3 would otherwise wait for
        some 3,000 requests one after the other."""
        return map_in_order(work, items, self.io_threads, name="job-io")

    @contextlib.contextmanager
    def _local_audio(self, job: Job):
        folder = Path(tempfile.mkdtemp(prefix=f"job-{job.id[:8]}-", dir=self.work_dir))
        try:
            local = folder / layout.safe_name(job.filename)
            self.store.download(job.audio_key, local)
            yield local
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _conclude(self, claimed: _Claimed, outcome: TranscriptResult | BaseException) -> None:
        job, message = claimed.job, claimed.message
        self.visibility.release(message.receipt)  # from here it is deleted or hidden for a retry delay
        if isinstance(outcome, JobFailed):
            self._fail(job.id, str(outcome))
        elif isinstance(outcome, JobAborted):
            self._after_abort(job.id, message)
            return
        elif isinstance(outcome, BaseException):
            log.error("job %s failed on attempt %s", job.id, job.attempts, exc_info=outcome)
            self._retry_later(job.id, message, outcome, job.attempts)
            return
        else:
            try:
                self.repo.put_result(outcome)
                done = self.repo.update(job.id, lambda j: self._finish(j, outcome))
            except Exception as exc:  # noqa: BLE001 - the store failed: retried through the message
                log.exception("could not record the result of job %s", job.id)
                self._retry_later(job.id, message, exc, job.attempts)
                return
            if done is not None:
                self._announce_done(done, outcome)
                if not self._send_refine_request(done):
                    return  # the job message comes back, and its duplicate sends the request again
        self.queue.delete(message.receipt)

    def _announce_done(self, done: Job, result: TranscriptResult) -> None:
        if done.source_key:
            self._write_outbox(done, result)
        with self._stats_lock:
            self.heartbeat.stats.record_done(result.duration or 0.0, done.processing_time or 0.0)
        self.events.emit(
            f"Task {done.id[:8]} done in {done.processing_time:.1f}s "
            f"({result.duration or 0:.1f}s of audio, {done.params.model_name})",
            job_id=done.id,
        )

    def _claim(self, job: Job) -> Job | None:
        if job.state.terminal:
            return None
        job.state = JobState.PROCESSING
        job.attempts += 1
        job.runner_id = self.identity.runner_id
        job.device = self.identity.device
        job.started_at = time.time()
        job.progress = 0.0
        return job

    # --- endings -----------------------------------------------------------------------------
    @staticmethod
    def _finish(job: Job, result: TranscriptResult) -> Job | None:
        if job.state.terminal:
            return None
        job.state = JobState.DONE
        job.completed_at = time.time()
        job.progress = 1.0
        job.error = None
        job.result_key = layout.result_key(job.id)
        job.audio_duration = result.duration
        job.language = result.language
        if job.params.upgrade_transcribation and job.refine is None:
            job.refine = new_refine_run()  # a refiner takes it from here; the job is done already
        return job

    def _send_refine_request(self, job: Job) -> bool:
        """Send a pending refine request; False only when sending failed."""
        if self.refine_queue is None:
            if job.refine is not None:
                log.warning("job %s asks for refinement but this runner has no refine queue", job.id)
            return True
        try:
            send_refine_request(self.refine_queue, job)
        except Exception:  # noqa: BLE001 - retried through the job message, which is not deleted
            log.exception("could not send the refine request of job %s", job.id)
            return False
        return True

    def _fail(self, job_id: str, error: str) -> None:
        failed = self.repo.fail(job_id, error)
        if failed is not None:
            with self._stats_lock:
                self.heartbeat.stats.jobs_failed += 1
            self.events.emit(f"Task {job_id[:8]} failed: {error}", level="ERROR", job_id=job_id)
            write_outbox_error(self.store, failed)

    def _write_outbox(self, job: Job, result: TranscriptResult) -> None:
        """Results of a dropped file go beside its path under outbox/, in the formats it asked for."""
        base = outbox_base(job.source_key)
        for fmt in job.params.output_formats or ["txt"]:
            extension = "verbose.json" if fmt == "verbose_json" else fmt
            body = formats.render(result, fmt).encode()
            self.store.put_bytes(f"{base}.{extension}", body, content_type=formats.FORMATS[fmt])

    def _retry_later(self, job_id: str, message: Message, exc: Exception, attempt: int) -> None:
        error = f"attempt {attempt} failed: {type(exc).__name__}: {exc}"

        def change(job: Job) -> Job | None:
            if job.state.terminal:
                return None
            job.state = JobState.QUEUED
            job.queued_at = time.time()
            job.error = error
            return job

        try:
            self.repo.update(job_id, change)
        except Exception:  # noqa: BLE001 - the message reappearing is enough to retry
            log.exception("could not record the failure of job %s", job_id)
        self.events.emit(f"Task {job_id[:8]}: {error}; will retry", level="WARNING", job_id=job_id)
        _quietly(self.queue.change_visibility, message.receipt, min(60, 5 * attempt))

    def _after_abort(self, job_id: str, message: Message) -> None:
        job = self.repo.get(job_id).job
        if job.state.terminal:  # cancelled by a user
            self.queue.delete(message.receipt)
            self.events.emit(f"Task {job_id[:8]} cancelled", job_id=job_id)
            return

        def hand_back(j: Job) -> Job | None:
            if j.state is not JobState.PROCESSING:
                return None
            j.state = JobState.QUEUED
            j.queued_at = time.time()
            j.attempts = max(0, j.attempts - 1)  # a clean hand-back is not a failed attempt
            return j

        self.repo.update(job_id, hand_back)
        _quietly(self.queue.change_visibility, message.receipt, 0)
        self.events.emit(f"Task {job_id[:8]} handed back: runner stopping", job_id=job_id)

    # --- housekeeping ------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_interval_s):
            self._beat()

    def _followups_loop(self) -> None:
        """Webhooks and retention run beside transcription, never in its way."""
        last_retention = 0.0
        while not self.stopping.wait(1.0):
            try:
                if self.webhooks is not None:
                    self.webhooks.deliver_due()
                if self.retention is not None and time.monotonic() - last_retention > RETENTION_SWEEP_S:
                    last_retention = time.monotonic()
                    self.retention.sweep()
                    self.retention.sweep_logs()
            except Exception:  # noqa: BLE001 - retried on the next round
                log.exception("follow-up work failed")

    def _beat(self) -> None:
        self.heartbeat.models = self.models.states()
        self.heartbeat.gpus = device_gpus(self.identity.device)
        try:
            write_heartbeat(self.store, self.heartbeat)
        except Exception:  # noqa: BLE001
            log.exception("heartbeat failed")

    def _maybe_sweep(self) -> None:
        now = time.time()
        if self.settings.inbox_poll_s > 0 and now - self._last_inbox_scan >= self.settings.inbox_poll_s:
            self._last_inbox_scan = now
            self.intake.scan_inbox()
        if now - self._last_sweep < self.settings.sweep_after_s / 2:
            return
        self._last_sweep = now
        self._resend_lost_messages(now)
        self._settle_awaiting_uploads(now)

    def _resend_lost_messages(self, now: float) -> None:
        """Send again the message of jobs queued for long: a lost message must not lose a job."""
        for key in self.repo.iter_index_keys(JobState.QUEUED):
            if now - layout.index_key_time(key) < self.settings.sweep_after_s:
                break
            job_id = layout.job_id_from_index_key(key)
            try:
                priority = self.store.get_json(key)[0].get("priority", "normal")
            except ObjectNotFound:
                continue
            self.queue.send({"job_id": job_id}, dedup_id=job_id, priority=priority)

    def _settle_awaiting_uploads(self, now: float) -> None:
        """Queue presigned uploads whose audio arrived without an event; expire the abandoned ones."""
        for key in list(self.repo.iter_index_keys(JobState.AWAITING_UPLOAD)):
            job_id = layout.job_id_from_index_key(key)
            if self.intake.upload_arrived(job_id) is not None:
                continue
            try:
                job = self.repo.get(job_id).job
            except JobNotFound:
                continue
            grace = self.settings.sweep_after_s
            if job.state is JobState.AWAITING_UPLOAD and (job.upload_expires_at or now) + grace < now:
                self.intake.expire_upload(job_id)


class _ProgressWriter:
    """Writes progress into the manifest every few seconds; aborts when cancelled or stopping."""

    def __init__(self, runner: Runner, job_id: str):
        self.runner = runner
        self.job_id = job_id
        self.last_write = time.monotonic()

    def __call__(self, fraction: float) -> None:
        if self.runner.stopping.is_set():
            raise JobAborted("runner stopping")
        if time.monotonic() - self.last_write < PROGRESS_WRITE_INTERVAL_S:
            return
        self.last_write = time.monotonic()

        def change(job: Job) -> Job | None:
            if job.state is not JobState.PROCESSING:
                raise JobAborted(f"job is {job.state.value}")
            job.progress = round(fraction, 3)
            return job

        self.runner.repo.update(self.job_id, change)


def _quietly(func, *args) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001
        log.debug("ignored failure of %s", getattr(func, "__name__", func), exc_info=True)
