"""``POST /api/tasks/{id}/refine``: run the LLM refinement of a done job (again), optionally with
another preset: ``{"preset": "call_center"}``. The raw transcript is never replaced."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from functions.context import Ctx
from functions.errors import ApiError
from functions.jobs_access import load_job
from whisperq.jobs import JobState
from whisperq.refine.prompts import available_presets
from whisperq.refine.requests import request_refinement
from whisperq.status_view import job_status

router = APIRouter(tags=["jobs"])


async def _preset(request: Request, allowed: list[str]) -> str | None:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, 'the body must be JSON such as {"preset": "call_center"}', allowed=allowed) from None
    if not isinstance(body, dict) or set(body) - {"preset"}:
        raise ApiError(400, 'the body may hold only "preset"', field="preset", allowed=allowed)
    preset = body.get("preset")
    if preset is not None and preset not in allowed:
        raise ApiError(400, f"unknown preset {preset!r}", field="preset", allowed=allowed)
    return preset


@router.post("/api/tasks/{task_id}/refine", status_code=202)
async def refine(task_id: str, request: Request, ctx: Ctx) -> JSONResponse:
    """Queue a new refinement of a done task; ``refine.status`` in its status tells how it went."""
    allowed = available_presets(ctx.settings.refine.template_dir)
    preset = await _preset(request, allowed)
    job, result = await load_job(ctx, task_id, with_result=True)
    if job.state is not JobState.DONE:
        raise ApiError(
            409,
            f"only a done task can be refined; this one is {job.state.value}",
            status=job.state.value,
            task_id=task_id,
        )
    try:
        job = await asyncio.to_thread(request_refinement, ctx.repo, ctx.refine_queue, task_id, preset)
    except ValueError as exc:  # it changed state meanwhile
        raise ApiError(409, str(exc), task_id=task_id) from None
    ctx.events.emit(f"Task {task_id[:8]} refinement requested ({preset or ctx.settings.refine.preset})", job_id=task_id)
    return JSONResponse(job_status(job, result), status_code=202)
