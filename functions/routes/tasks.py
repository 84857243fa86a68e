"""Job control: ``DELETE /api/tasks/{id}`` cancels, ``POST /api/tasks/{id}/retry`` runs a failed or
cancelled job again (as a new task: terminal states are final)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter

from functions.context import Ctx
from functions.errors import ApiError
from functions.jobs_access import load_job
from whisperq.jobs import Job, JobState, new_job_id
from whisperq.status_view import job_status

router = APIRouter(tags=["jobs"])


@router.delete("/api/tasks/{task_id}")
async def cancel(task_id: str, ctx: Ctx) -> dict:
    await load_job(ctx, task_id)

    def change(job: Job) -> Job | None:
        if job.state.terminal:
            return None
        job.state = JobState.CANCELLED
        job.completed_at = time.time()
        job.error = "cancelled by request"
        return job

    cancelled = await asyncio.to_thread(ctx.repo.update, task_id, change)
    if cancelled is None:
        job, _ = await load_job(ctx, task_id)
        raise ApiError(409, f"the task is already {job.state.value}", status=job.state.value, task_id=task_id)
    ctx.events.emit(f"Task {task_id[:8]} cancelled by request", job_id=task_id)
    return job_status(cancelled, None)


@router.post("/api/tasks/{task_id}/retry")
async def retry(task_id: str, ctx: Ctx) -> dict:
    job, _ = await load_job(ctx, task_id)
    if job.state not in (JobState.ERROR, JobState.CANCELLED):
        raise ApiError(
            409, f"only failed or cancelled tasks can be retried; this one is {job.state.value}", status=job.state.value
        )
    if job.source_key is None and not await asyncio.to_thread(ctx.store.exists, job.audio_key):
        raise ApiError(410, "the audio of this task is gone (retention or never uploaded)")
    again = Job(
        id=new_job_id(),
        params=job.params,
        filename=job.filename,
        audio_key=job.audio_key,
        file_size=job.file_size,
        retry_of=job.id,
    )
    await asyncio.to_thread(ctx.intake.create_queued, again)
    return {"task_id": again.id, "retry_of": job.id}
