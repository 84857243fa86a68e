"""Turning an upload into a job: validate the options, store the audio, write the manifest, enqueue.

The order matters for durability: audio first, then the manifest, then the queue message. A crash
before the manifest leaves only unreferenced audio; a crash after it leaves a queued job whose
message the runners' sweeper sends again.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlparse

from functions.context import AppContext
from functions.errors import ApiError
from whisperq import layout, models
from whisperq.jobs import UP_SPEED_MAX, UP_SPEED_MIN, Job, JobParams, Priority, new_job_id
from whisperq.languages import LANGUAGE_CODES
from whisperq.store.local import LocalStore

_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}
MAX_PROMPT_CHARS = 2000


def available_models(ctx: AppContext) -> list[str]:
    """Models a runner can serve: those installed here plus those live runners report."""
    names = set(models.discover(ctx.settings.model_dirs))
    for beat in ctx.live_heartbeats():
        names.update(beat.models)
    return sorted(names)


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, f"{name} must be true or false, got {raw!r}", field=name, allowed=["true", "false"])


def parse_up_speed(raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return 1.0
    allowed = f"a number from {UP_SPEED_MIN} to {UP_SPEED_MAX}"
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"up_speed must be {allowed}, got {raw!r}", field="up_speed", allowed=allowed) from None
    if not math.isfinite(value) or not UP_SPEED_MIN <= value <= UP_SPEED_MAX:
        raise ApiError(400, f"up_speed must be {allowed}, got {raw!r}", field="up_speed", allowed=allowed)
    return value


def parse_params(ctx: AppContext, fields: dict[str, str | None]) -> JobParams:
    model_name = (fields.get("model_name") or "base").strip()
    allowed_models = available_models(ctx)
    if model_name not in allowed_models:
        raise ApiError(
            400,
            f"unknown model {model_name!r}",
            field="model_name",
            allowed=allowed_models,
        )
    prompt = fields.get("initial_prompt") or None
    if prompt is not None and not isinstance(prompt, str):
        raise ApiError(400, "initial_prompt must be a string", field="initial_prompt")
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, f"initial_prompt is longer than {MAX_PROMPT_CHARS} characters", field="initial_prompt")
    return JobParams(
        model_name=model_name,
        initial_prompt=prompt,
        upgrade_transcribation=parse_bool("upgrade_transcribation", fields.get("upgrade_transcribation"), False),
        up_speed=parse_up_speed(fields.get("up_speed")),
        language=parse_language(fields.get("language")),
        task=parse_choice("task", fields.get("task"), ("transcribe", "translate")),
        priority=Priority(parse_choice("priority", fields.get("priority"), tuple(p.value for p in Priority))),
        callback_url=parse_callback_url(fields.get("callback_url")),
        split_roads=parse_split_roads(fields.get("split_roads")),
    )


def parse_choice(name: str, raw: str | None, allowed: tuple[str, ...]) -> str:
    value = (raw or "").strip().lower() or allowed[0]
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of {list(allowed)}, got {raw!r}", field=name, allowed=list(allowed))
    return value


def parse_language(raw: str | None) -> str | None:
    value = (raw or "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in LANGUAGE_CODES:
        raise ApiError(
            400,
            f"unknown language {raw!r}: use an ISO-639-1 code such as en or ru, or auto",
            field="language",
            allowed="ISO-639-1 codes Whisper knows, or auto",
        )
    return value


def parse_callback_url(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or len(value) > 2000:
        raise ApiError(
            400,
            f"callback_url must be an http(s) URL, got {raw!r}",
            field="callback_url",
            allowed="http:// or https:// URL up to 2000 characters",
        )
    return value


def parse_split_roads(raw: str | None) -> str | None:
    """The seed's channel split: ``"N,Role1,...,RoleN"`` (N channels, one role name each)."""
    value = (raw or "").strip()
    if not value:
        return None
    count, _, names = value.partition(",")
    roles = [r.strip() for r in names.split(",")] if names else []
    allowed = "N,Role1,...,RoleN: N from 1 to 8 channels, one non-empty role name per channel"
    if not count.strip().isdigit() or not 1 <= int(count) <= 8 or len(roles) != int(count) or not all(roles):
        raise ApiError(
            400, f"split_roads must look like '2,Client,Operator', got {raw!r}", field="split_roads", allowed=allowed
        )
    return ",".join([str(int(count)), *roles])


def submit_file(ctx: AppContext, path: Path, filename: str, size: int, params: JobParams) -> Job:
    """Store a local file as the audio of a new job and queue it. Consumes ``path``."""
    job_id = new_job_id()
    key = layout.audio_key(job_id, filename)
    if isinstance(ctx.store, LocalStore):
        ctx.store.adopt_file(key, path)
    else:
        ctx.store.put_file(key, path)
        path.unlink(missing_ok=True)
    job = Job(id=job_id, params=params, filename=filename, audio_key=key, file_size=size)
    return ctx.intake.create_queued(job)
