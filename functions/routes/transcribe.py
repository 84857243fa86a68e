"""``POST /api/transcribe``: the seed's upload endpoint (form fields and response kept as they were)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from functions.context import Ctx
from functions.errors import ApiError
from functions.multipart_upload import read_form
from functions.submission import parse_params, submit_file

router = APIRouter(tags=["transcription"])

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model_name": {"type": "string", "default": "base"},
                        "initial_prompt": {"type": "string"},
                        "upgrade_transcribation": {"type": "boolean", "default": False},
                        "up_speed": {"type": "number", "default": 1.0, "minimum": 0.25, "maximum": 4.0},
                        "language": {"type": "string", "description": "ISO-639-1 code, or auto"},
                        "task": {"type": "string", "enum": ["transcribe", "translate"]},
                        "priority": {"type": "string", "enum": ["normal", "high"]},
                        "callback_url": {"type": "string", "format": "uri"},
                        "split_roads": {"type": "string", "example": "2,Client,Operator"},
                    },
                }
            }
        },
    }
}


@router.post("/api/transcribe", openapi_extra=_FORM_SCHEMA)
async def transcribe(request: Request, ctx: Ctx) -> dict:
    """Queue an audio (or video) file for transcription; answers ``{"task_id": ...}`` at once."""
    form = await read_form(request, ctx.upload_dir, ctx.settings.max_upload_bytes)
    try:
        uploads = [f for f in form.files if f.field_name == "file"]
        if not uploads:
            raise ApiError(400, "no file: send the audio in the form field 'file'", field="file")
        if len(form.files) > 1:
            raise ApiError(400, "send exactly one file, in the form field 'file'", field="file")
        upload = uploads[0]
        if upload.size == 0:
            raise ApiError(400, "the file is empty", field="file")
        params = parse_params(ctx, form.fields)
        job = await asyncio.to_thread(submit_file, ctx, upload.path, upload.filename, upload.size, params)
    finally:
        form.cleanup()
    return {"task_id": job.id}
