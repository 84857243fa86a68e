"""How jobs look in responses and webhooks: the seed's field names, times as ISO 8601 (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from whisperq.jobs import Job, RefinedText, RefineState, TranscriptResult


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def gpu_id(device: str | None) -> int | None:
    if device and device.startswith("cuda:"):
        return int(device.split(":", 1)[1])
    return None


def job_status(job: Job, result: TranscriptResult | None, refined: RefinedText | None = None) -> dict:
    """``result`` is the refined text when a refinement succeeded, else the raw transcript, which
    ``raw_result`` always holds."""
    raw = result.text if result else None
    return {
        "task_id": job.id,
        "status": job.state.value,
        "result": refined.text if refined is not None and result else raw,
        "raw_result": raw,
        "refine": refine_status(job.refine),
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "gpu_id": gpu_id(job.device),
        "device": job.device,
        "filename": job.filename,
        "model_name": job.params.model_name,
        "file_size": job.file_size,
        "queue_time": job.queue_time,
        "processing_time": job.processing_time,
        "progress": job.progress,
        "attempts": job.attempts,
        "up_speed": job.params.up_speed,
        "initial_prompt": job.params.initial_prompt,
        "upgrade_transcribation": job.params.upgrade_transcribation,
        "retry_of": job.retry_of,
        "language": result.language if result else job.language,
        "audio_duration": result.duration if result else job.audio_duration,
        "segments": [s.model_dump(exclude_none=True) for s in result.segments] if result else None,
        "dialogue": [t.model_dump() for t in result.dialogue] if result and result.dialogue else None,
        "priority": job.params.priority.value,
        "split_roads": job.params.split_roads,
        "callback_url": job.params.callback_url,
        "webhook": job.webhook.model_dump() if job.webhook else None,
        "audio_expired_at": iso(job.audio_expired_at),
        "result_expired_at": iso(job.result_expired_at),
    }


def refine_status(refine: RefineState | None) -> dict | None:
    if refine is None:
        return None
    return {
        "status": refine.status.value,
        "preset": refine.preset,
        "backend": refine.backend,
        "model": refine.model,
        "elapsed": refine.elapsed_s,
        "error": refine.error,
        "chunks": refine.chunks,
        "attempts": refine.attempts,
        "requested_at": iso(refine.requested_at),
        "completed_at": iso(refine.completed_at),
    }


def queue_entry(summary: dict) -> dict:
    return {
        "id": summary["id"],
        "filename": summary["filename"],
        "model_name": summary.get("model_name"),
        "created_at": iso(summary.get("created_at")),
        "started_at": iso(summary.get("started_at")),
        "completed_at": iso(summary.get("completed_at")),
        "gpu_id": gpu_id(summary.get("device")),
        "device": summary.get("device"),
        "attempts": summary.get("attempts"),
        "error": summary.get("error"),
        "refine": summary.get("refine"),
    }
