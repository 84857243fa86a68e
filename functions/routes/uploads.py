"""Presigned uploads: ``POST /api/uploads`` hands out a URL the client uploads the audio to directly.

On S3 the URL is a presigned POST into the bucket (size-limited by the policy); the job is queued
when the object arrives (bucket event, ``POST /api/uploads/{id}/complete``, or the runners' sweeper).
On the embedded store the API serves the URL itself: a signed ``PUT /api/uploads/{id}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Body, Query, Request

from functions.body_upload import read_body_to_file
from functions.context import Ctx
from functions.errors import ApiError
from functions.signing import sign, verify
from functions.submission import parse_params
from whisperq import layout
from whisperq.jobs import Job, JobState, new_job_id
from whisperq.repository import JobNotFound
from whisperq.store.local import LocalStore

router = APIRouter(tags=["uploads"])

_EXAMPLE = {"filename": "call.wav", "model_name": "base", "up_speed": 1.0}
UPLOAD_FIELDS = {
    "filename",
    "model_name",
    "initial_prompt",
    "upgrade_transcribation",
    "up_speed",
    "language",
    "task",
    "priority",
    "callback_url",
    "split_roads",
}


def _as_form_values(body: dict[str, Any]) -> dict[str, str]:
    """JSON values read like the form fields of /api/transcribe (true -> "true", 1.5 -> "1.5")."""
    return {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in body.items() if v is not None}


@router.post("/api/uploads")
async def create_upload(request: Request, ctx: Ctx, body: dict[str, Any] = Body(..., examples=[_EXAMPLE])) -> dict:
    """Create a job that waits for its audio, and the URL to upload that audio to."""
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip() or len(filename) > 255:
        raise ApiError(400, "filename is required: the name of the file you will upload", field="filename")
    unknown = sorted(set(body) - UPLOAD_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}", allowed=sorted(UPLOAD_FIELDS))
    params = parse_params(ctx, _as_form_values(body))
    ttl = ctx.settings.api.upload_url_ttl_s
    max_bytes = ctx.settings.max_upload_bytes
    job_id = new_job_id()
    expires = int(time.time()) + ttl
    key = layout.audio_key(job_id, filename)
    job = Job(
        id=job_id,
        state=JobState.AWAITING_UPLOAD,
        params=params,
        filename=filename,
        audio_key=key,
        file_size=0,
        upload_expires_at=expires,
    )
    presigned = await asyncio.to_thread(ctx.store.presign_post, key, max_bytes, ttl)
    await asyncio.to_thread(ctx.repo.create, job)
    answer: dict[str, Any] = {"task_id": job_id, "expires_at": expires, "max_bytes": max_bytes}
    if presigned is not None:
        answer |= {"method": "POST", "upload_url": presigned["url"], "fields": presigned["fields"]}
    else:
        url = request.url_for("put_upload", task_id=job_id).include_query_params(
            expires=expires, signature=sign(ctx.signing_secret, job_id, expires)
        )
        answer |= {"method": "PUT", "upload_url": str(url), "headers": {"Content-Type": "application/octet-stream"}}
    answer["complete_url"] = str(request.url_for("complete_upload", task_id=job_id))
    answer["status_url"] = str(request.url_for("status", task_id=job_id))
    return answer


def _awaiting_job(ctx: Ctx, task_id: str) -> Job:
    try:
        job = ctx.repo.get(task_id).job
    except (JobNotFound, ValueError):
        raise ApiError(404, "Task not found", task_id=task_id) from None
    if job.state is not JobState.AWAITING_UPLOAD:
        raise ApiError(409, f"the task is {job.state.value}: its audio was already uploaded", status=job.state.value)
    return job


@router.put("/api/uploads/{task_id}", name="put_upload")
async def put_upload(
    task_id: str, request: Request, ctx: Ctx, expires: int = Query(...), signature: str = Query(...)
) -> dict:
    """The embedded store's upload URL: the raw file as the request body."""
    if not verify(ctx.signing_secret, task_id, expires, signature):
        raise ApiError(403, "the upload URL's signature is not valid")
    if time.time() > expires:
        raise ApiError(403, "the upload URL has expired; ask POST /api/uploads for a new one")
    job = await asyncio.to_thread(_awaiting_job, ctx, task_id)
    path, size = await read_body_to_file(request, ctx.upload_dir, ctx.settings.max_upload_bytes)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ApiError(400, "the file is empty")

    def store_and_queue():
        if isinstance(ctx.store, LocalStore):
            ctx.store.adopt_file(job.audio_key, path)
        else:
            ctx.store.put_file(job.audio_key, path)
            path.unlink(missing_ok=True)
        return ctx.intake.upload_arrived(task_id)

    queued = await asyncio.to_thread(store_and_queue)
    return {"task_id": task_id, "status": (queued.state if queued else JobState.QUEUED).value}


@router.post("/api/uploads/{task_id}/complete", name="complete_upload")
async def complete_upload(task_id: str, ctx: Ctx) -> dict:
    """Tell the service the upload finished (optional where bucket events are configured)."""
    if not task_id.isalnum():
        raise ApiError(404, "Task not found", task_id=task_id)
    try:
        job = await asyncio.to_thread(ctx.repo.get, task_id)
    except JobNotFound:
        raise ApiError(404, "Task not found", task_id=task_id) from None
    if job.job.state is JobState.AWAITING_UPLOAD:
        queued = await asyncio.to_thread(ctx.intake.upload_arrived, task_id)
        if queued is None:
            raise ApiError(409, "the upload has not arrived in the bucket yet", status=job.job.state.value)
        return {"task_id": task_id, "status": queued.state.value}
    return {"task_id": task_id, "status": job.job.state.value}
