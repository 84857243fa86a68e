"""OpenAI-compatible endpoints: ``POST /v1/audio/transcriptions``, ``POST /v1/audio/translations``
(submit a job and wait for it) and ``GET /v1/models``. Errors use OpenAI's ``{"error": {...}}`` shape
so the official SDKs report them properly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from functions.context import AppContext, Ctx
from functions.errors import ApiError
from functions.multipart_upload import ParsedForm, read_form
from functions.submission import available_models, parse_params, submit_file
from whisperq import formats
from whisperq.jobs import Job, JobParams, JobState
from whisperq.languages import LANGUAGE_CODES

router = APIRouter(tags=["openai"])

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
OPENAI_DEFAULT_MODEL = "whisper-1"


class OpenAIError(ApiError):
    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.error,
                "type": "invalid_request_error",
                "param": self.details.get("field"),
                "code": None,
            }
        }


def _openai(exc: ApiError) -> OpenAIError:
    return OpenAIError(exc.status_code, exc.error, **exc.details)


def _params(ctx: AppContext, form: ParsedForm, task: str) -> tuple[JobParams, str, list[str]]:
    fields = form.fields
    model = fields.get("model") or OPENAI_DEFAULT_MODEL
    model_name = ctx.settings.api.openai_default_model if model == OPENAI_DEFAULT_MODEL else model
    response_format = fields.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise OpenAIError(400, f"response_format must be one of {list(RESPONSE_FORMATS)}", field="response_format")
    granularities = [v for k, v in form.multi if k in ("timestamp_granularities[]", "timestamp_granularities")]
    if set(granularities) - {"word", "segment"}:
        raise OpenAIError(400, "timestamp_granularities may hold 'word' and 'segment'", field="timestamp_granularities")
    try:
        params = parse_params(ctx, {"model_name": model_name, "initial_prompt": fields.get("prompt")})
        temperature = float(fields["temperature"]) if fields.get("temperature") else None
        language = (fields.get("language") or "").strip().lower() or None
        if language is not None and language not in LANGUAGE_CODES:
            raise OpenAIError(
                400, f"unknown language {language!r}: use an ISO-639-1 code such as en or ru", field="language"
            )
        return (
            params.model_copy(
                update={
                    "language": language,
                    "task": task,
                    "temperature": temperature,
                    "word_timestamps": "word" in granularities,
                }
            ),
            response_format,
            granularities,
        )
    except ApiError as exc:
        raise _openai(exc) from exc
    except ValueError:
        raise OpenAIError(400, "temperature must be a number from 0 to 1", field="temperature") from None


async def _wait(ctx: AppContext, job_id: str, timeout_s: float) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        job = (await asyncio.to_thread(ctx.repo.get, job_id)).job
        if job.state.terminal or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.25)


async def _transcribe(request: Request, ctx: AppContext, task: str) -> Response:
    form = await read_form(request, ctx.upload_dir, ctx.settings.max_upload_bytes)
    try:
        uploads = [f for f in form.files if f.field_name == "file"]
        if not uploads or uploads[0].size == 0:
            raise OpenAIError(400, "a non-empty 'file' is required", field="file")
        params, response_format, granularities = _params(ctx, form, task)
        if params.temperature is not None and not 0 <= params.temperature <= 1:
            raise OpenAIError(400, "temperature must be a number from 0 to 1", field="temperature")
        upload = uploads[0]
        job = await asyncio.to_thread(submit_file, ctx, upload.path, upload.filename, upload.size, params)
    finally:
        form.cleanup()
    job = await _wait(ctx, job.id, ctx.settings.api.openai_wait_s)
    if job.state is not JobState.DONE:
        code = 504 if not job.state.terminal else 500
        message = job.error or f"the transcription is still {job.state.value}; poll /api/status/{job.id}"
        return JSONResponse(
            {"error": {"message": message, "type": "server_error", "param": None, "code": job.id}}, status_code=code
        )
    result = await asyncio.to_thread(ctx.repo.get_result, job.id)
    return _render(result, response_format, granularities, task)


def _render(result, response_format: str, granularities: list[str], task: str) -> Response:
    if response_format == "text":
        return PlainTextResponse(result.text)
    if response_format == "json":
        return JSONResponse({"text": result.text})
    if response_format == "verbose_json":
        body = formats.verbose_json_body(result, task)
        if granularities and "segment" not in granularities:
            body.pop("segments", None)
        if "word" not in granularities:
            body.pop("words", None)
        return JSONResponse(body)
    return Response(formats.render(result, response_format), media_type=formats.FORMATS[response_format])


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request, ctx: Ctx) -> Response:
    return await _transcribe(request, ctx, "transcribe")


@router.post("/v1/audio/translations")
async def translations(request: Request, ctx: Ctx) -> Response:
    return await _transcribe(request, ctx, "translate")


@router.get("/v1/models")
async def list_models(ctx: Ctx) -> dict:
    names = [OPENAI_DEFAULT_MODEL, *await asyncio.to_thread(available_models, ctx)]
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "whisperq"} for n in names],
    }
