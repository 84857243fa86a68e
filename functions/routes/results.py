"""``GET /api/result/{task_id}.{ext}``: the transcript as a file (txt, srt, vtt, tsv, json, verbose_json)."""

from __future__ import annotations

from fastapi import APIRouter

from functions.context import Ctx
from functions.errors import ApiError
from functions.jobs_access import load_job
from functions.routes.status import render_result
from whisperq import formats

router = APIRouter(tags=["transcription"])


@router.get("/api/result/{name}")
async def result_file(name: str, ctx: Ctx):
    task_id, dot, ext = name.partition(".")
    if not dot:
        raise ApiError(
            400, "add the format as an extension, e.g. /api/result/<id>.srt", allowed=sorted(formats.FORMATS)
        )
    ext = "verbose_json" if ext == "verbose.json" else ext
    job, result = await load_job(ctx, task_id, with_result=True)
    response = render_result(job.state, result, ext, task_id)
    extension = "verbose.json" if ext == "verbose_json" else ext
    stem = job.filename.rsplit(".", 1)[0] or task_id
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{extension}"'
    return response
