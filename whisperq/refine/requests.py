"""Asking for a refinement: the manifest's ``refine`` object first (the truth), then a message on the
refine queue that says it is ready. Used by the runner (``upgrade_transcribation``) and the API."""

from __future__ import annotations

from whisperq.jobs import Job, RefineStatus, new_refine_run
from whisperq.queue import Queue
from whisperq.repository import JobRepository


def send_refine_request(queue: Queue, job: Job) -> bool:
    """Send the message of a pending refinement (again: duplicates of one run are dropped)."""
    if job.refine is None or job.refine.status is not RefineStatus.PENDING:
        return False
    queue.send({"job_id": job.id, "run": job.refine.run}, dedup_id=f"{job.id}:{job.refine.run}")
    return True


def request_refinement(repo: JobRepository, queue: Queue, job_id: str, preset: str | None = None) -> Job:
    """A new refinement run of a done job; supersedes a pending or running one.

    Raises ValueError when the job is not done, :class:`~whisperq.repository.JobNotFound` when unknown.
    """
    job = repo.update_refine(job_id, lambda _job: new_refine_run(preset))
    assert job is not None
    send_refine_request(queue, job)
    return job
