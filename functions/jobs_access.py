"""Loading a job for a request: a clean 404 for ids that are not ours."""

from __future__ import annotations

import asyncio

from functions.context import AppContext
from functions.errors import ApiError
from whisperq.jobs import Job, JobState, RefinedText, RefineStatus, TranscriptResult
from whisperq.repository import JobNotFound
from whisperq.store import InvalidKey


def valid_task_id(task_id: str) -> bool:
    return task_id.isalnum() and len(task_id) <= 64


async def load_job(ctx: AppContext, task_id: str, with_result: bool = False) -> tuple[Job, TranscriptResult | None]:
    if not valid_task_id(task_id):
        raise ApiError(404, "Task not found", task_id=task_id)

    def load():
        job = ctx.repo.get(task_id).job
        result = ctx.repo.get_result(task_id) if with_result and job.state is JobState.DONE else None
        return job, result

    try:
        return await asyncio.to_thread(load)
    except (JobNotFound, InvalidKey):
        raise ApiError(404, "Task not found", task_id=task_id) from None


async def load_refined(ctx: AppContext, job: Job) -> RefinedText | None:
    """The refined text of a job whose refinement succeeded (None otherwise)."""
    if job.refine is None or job.refine.status is not RefineStatus.OK:
        return None
    return await asyncio.to_thread(ctx.repo.get_refined, job.id, job.refine.run)
