"""``GET /api/status/{task_id}``: one job's state, text (refined when refinement succeeded; the raw
transcript is always in ``raw_result``), timings, device and segments;
``?format=srt`` (or txt, vtt, tsv, json, verbose_json) answers the transcript in that format instead."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from functions.context import Ctx
from functions.errors import ApiError
from functions.jobs_access import load_job, load_refined
from whisperq import formats
from whisperq.jobs import JobState
from whisperq.status_view import job_status

router = APIRouter(tags=["transcription"])


@router.get("/api/status/{task_id}", name="status")
async def status(task_id: str, ctx: Ctx, format: str | None = Query(None, description="txt, srt, vtt, ...")):
    job, result = await load_job(ctx, task_id, with_result=True)
    if format is None:
        return job_status(job, result, await load_refined(ctx, job))
    return render_result(job.state, result, format, task_id)


def render_result(state: JobState, result, fmt: str, task_id: str) -> Response:
    if fmt not in formats.FORMATS:
        raise ApiError(400, f"unknown format {fmt!r}", field="format", allowed=sorted(formats.FORMATS))
    if state is not JobState.DONE or result is None:
        raise ApiError(
            409, f"the task is {state.value}: a result exists once it is done", status=state.value, task_id=task_id
        )
    return Response(formats.render(result, fmt), media_type=formats.FORMATS[fmt])
