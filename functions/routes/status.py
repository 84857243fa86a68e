"""``GET /api/status/{task_id}``: one job's state, text, timings, device and segments."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from functions.context import Ctx
from functions.errors import ApiError
from functions.presenters import job_status
from whisperq.jobs import JobState
from whisperq.repository import JobNotFound
from whisperq.store import InvalidKey

router = APIRouter(tags=["transcription"])


@router.get("/api/status/{task_id}")
async def status(task_id: str, ctx: Ctx) -> dict:
    def load():
        job = ctx.repo.get(task_id).job
        result = ctx.repo.get_result(task_id) if job.state is JobState.DONE else None
        return job, result

    if not task_id.isalnum() or len(task_id) > 64:
        raise ApiError(404, "Task not found", task_id=task_id)
    try:
        job, result = await asyncio.to_thread(load)
    except (JobNotFound, InvalidKey):
        raise ApiError(404, "Task not found", task_id=task_id) from None
    return job_status(job, result)
