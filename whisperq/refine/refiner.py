"""The refiner: long-polls the refine queue, asks the LLM, records the outcome in the manifest.

Delivery is at-least-once, so every step is idempotent: a message of a run that was superseded or
already finished is dropped, the refined text is written once per run (If-None-Match) and reused by
a later delivery, and the ``refine`` object changes only through the manifest's compare-and-swap.
The job stays ``done`` with its raw text whatever happens here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from whisperq import layout
from whisperq.events import EventLog
from whisperq.intake import outbox_base
from whisperq.jobs import Job, RefinedText, RefineState, RefineStatus
from whisperq.queue import Message, Queue
from whisperq.queue.visibility import VisibilityKeeper
from whisperq.refine import prompts
from whisperq.refine.backends import Backend, create_backend
from whisperq.refine.chunking import join_parts, split_transcript
from whisperq.refine.errors import RefineAborted, RefineError
from whisperq.refine.retry import RetryPolicy, with_retries
from whisperq.repository import JobNotFound, JobRepository
from whisperq.settings import RefineSettings
from whisperq.store import Store

log = logging.getLogger(__name__)

BackendFactory = Callable[[RefineSettings, str], Backend]


class Refiner:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        settings: RefineSettings,
        model: str,
        *,
        backend_factory: BackendFactory = create_backend,
        source: str = "refiner",
    ):
        self.repo = JobRepository(store)
        self.queue = queue
        self.settings = settings
        self.model = model
        self.backend_factory = backend_factory
        self.events = EventLog(store, source=source)
        self.stopping = threading.Event()
        self.visibility = VisibilityKeeper(queue, settings.visibility_timeout_s)

    # --- main loop ---------------------------------------------------------------------------
    def run_forever(self) -> None:
        self.events.emit(f"Refiner started ({self.settings.backend}, {self.model})")
        while not self.stopping.is_set():
            self.run_once(wait_s=self.settings.poll_wait_s)
        self.visibility.close()
        self.events.emit("Refiner stopped")

    def run_once(self, wait_s: float = 0.0) -> int:
        messages = self.queue.receive(
            max_messages=1, wait_s=wait_s, visibility_timeout_s=self.settings.visibility_timeout_s
        )
        for message in messages:
            self.handle(message)
        return len(messages)

    def stop(self) -> None:
        self.stopping.set()

    # --- one message -------------------------------------------------------------------------
    def handle(self, message: Message) -> None:
        job_id, run = message.body.get("job_id"), message.body.get("run")
        job = self._current_job(job_id, run)
        if job is None:
            self.queue.delete(message.receipt)  # unknown, superseded or already finished
            return
        if job.refine.attempts >= self.settings.max_attempts:
            error = f"gave up after {job.refine.attempts} attempts: the refiner stopped each time"
            self._record(job_id, run, RefineError(RefineStatus.FAILED, error), 0.0)
            self.queue.delete(message.receipt)
            return
        claimed = self.repo.update_refine(job_id, lambda j: self._claim(j, run))
        if claimed is None:
            self.queue.delete(message.receipt)
            return
        self.visibility.hold(message.receipt)
        try:
            self._run(claimed, message)
        finally:
            self.visibility.release(message.receipt)

    def _current_job(self, job_id, run) -> Job | None:
        if not isinstance(job_id, str) or not isinstance(run, str):
            log.warning("dropping a refine message without job_id and run: %r", {"job_id": job_id, "run": run})
            return None
        try:
            job = self.repo.get(job_id).job
        except JobNotFound:
            return None
        return job if _is_current(job, run) else None

    def _claim(self, job: Job, run: str) -> RefineState | None:
        if not _is_current(job, run):
            return None
        refine = job.refine.model_copy()
        refine.status = RefineStatus.RUNNING
        refine.attempts += 1
        refine.started_at = time.time()
        refine.preset = refine.preset or self.settings.preset
        refine.backend = self.settings.backend
        refine.model = None if self.settings.backend == "none" else self.model
        return refine

    def _run(self, job: Job, message: Message) -> None:
        started = time.monotonic()
        try:
            outcome: RefinedText | RefineError = self._refine(job)
        except RefineAborted:
            self._hand_back(job.id, job.refine.run, message)
            return
        except RefineError as exc:
            outcome = exc
        except Exception as exc:  # noqa: BLE001 - a bug or a store failure: recorded, never raised into the loop
            log.exception("refinement of %s failed", job.id)
            outcome = RefineError(RefineStatus.FAILED, f"{type(exc).__name__}: {exc}")
        recorded = self._record(job.id, job.refine.run, outcome, time.monotonic() - started)
        if recorded is not None and recorded.source_key and isinstance(outcome, RefinedText):
            self._write_outbox(recorded.source_key, outcome)
        self.queue.delete(message.receipt)

    def _refine(self, job: Job) -> RefinedText:
        run, preset = job.refine.run, job.refine.preset
        earlier = self.repo.get_refined(job.id, run)
        if earlier is not None:
            return earlier  # an earlier delivery wrote it, then died before recording it
        backend = self.backend_factory(self.settings, self.model)
        try:
            template = self._template(preset)
            result = self.repo.get_result(job.id)
            if result is None:
                raise RefineError(RefineStatus.FAILED, "the transcript of this job is missing")
            started = time.monotonic()
            parts = split_transcript(result, self.settings.max_chunk_chars)
            answers = [self._complete(backend, template, part, n, len(parts)) for n, part in enumerate(parts, 1)]
        finally:
            backend.close()
        refined = RefinedText(
            job_id=job.id,
            run=run,
            text=join_parts(answers),
            preset=preset,
            backend=backend.name,
            model=backend.model,
            elapsed_s=round(time.monotonic() - started, 3),
            chunks=len(parts),
        )
        if not self.repo.put_refined(refined):
            refined = self.repo.get_refined(job.id, run) or refined
        return refined

    def _template(self, preset: str) -> str:
        try:
            return prompts.load_template(preset, self.settings.template_dir)
        except prompts.PresetError as exc:
            raise RefineError(RefineStatus.FAILED, str(exc)) from exc

    def _complete(self, backend: Backend, template: str, part: str, number: int, parts: int) -> str:
        if self.stopping.is_set():
            raise RefineAborted("refiner stopping")
        prompt = prompts.render(template, part, number, parts)
        policy = RetryPolicy(self.settings.retries, self.settings.backoff_s, self.settings.max_backoff_s, self.stopping)
        return with_retries(lambda: backend.complete(prompt), policy)

    # --- endings -----------------------------------------------------------------------------
    def _record(self, job_id: str, run: str, outcome: RefinedText | RefineError, elapsed_s: float) -> Job | None:
        def change(job: Job) -> RefineState | None:
            if not _is_current(job, run):
                return None  # superseded by a newer request meanwhile
            refine = job.refine.model_copy()
            refine.completed_at = time.time()
            refine.elapsed_s = round(elapsed_s, 3)
            if isinstance(outcome, RefinedText):
                refine.status, refine.error = RefineStatus.OK, None
                refine.chunks, refine.refined_key = outcome.chunks, layout.refined_key(job_id, run)
            else:
                refine.status, refine.error = outcome.status, outcome.message
            return refine

        try:
            recorded = self.repo.update_refine(job_id, change)
        except (JobNotFound, ValueError) as exc:
            log.warning("could not record the refinement of %s: %s", job_id, exc)
            return None
        if recorded is not None:
            self._emit(recorded)
        return recorded

    def _write_outbox(self, source_key: str, refined: RefinedText) -> None:
        """A dropped file's refined text lands beside its raw results: ``outbox/.../call.refined.txt``."""
        key = f"{outbox_base(source_key)}.refined.txt"
        try:
            self.repo.store.put_bytes(key, refined.text.encode(), content_type="text/plain; charset=utf-8")
        except Exception:  # noqa: BLE001 - the refined text is in the bucket and the status all the same
            log.exception("could not write %s", key)

    def _emit(self, job: Job) -> None:
        refine = job.refine
        where = f"{refine.preset}, {refine.backend}" + (f" {refine.model}" if refine.model else "")
        if refine.status is RefineStatus.OK:
            self.events.emit(f"Task {job.id[:8]} refined in {refine.elapsed_s:.1f}s ({where})", job_id=job.id)
        else:
            self.events.emit(
                f"Task {job.id[:8]} refinement {refine.status.value} ({where}): {refine.error}; the raw text stays",
                level="WARNING",
                job_id=job.id,
            )

    def _hand_back(self, job_id: str, run: str, message: Message) -> None:
        def change(job: Job) -> RefineState | None:
            if not _is_current(job, run):
                return None
            refine = job.refine.model_copy()
            refine.status = RefineStatus.PENDING
            refine.attempts = max(0, refine.attempts - 1)  # a clean hand-back is not a failed attempt
            return refine

        self.repo.update_refine(job_id, change)
        try:
            self.queue.change_visibility(message.receipt, 0)
        except Exception:  # noqa: BLE001 - it becomes visible at its timeout anyway
            log.debug("could not hand back %s at once", job_id, exc_info=True)


def _is_current(job: Job, run: str) -> bool:
    refine = job.refine
    return refine is not None and refine.run == run and not refine.status.finished
