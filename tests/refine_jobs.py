"""Transcribed jobs ready for the refiner, written straight into a store (no runner needed)."""

from __future__ import annotations

import time

from whisperq.jobs import Job, JobParams, JobState, Segment, TranscriptResult
from whisperq.repository import JobRepository

RAW = ["Hello, this is the support line.", "My order never arrived, can you check it?"]


def create_done_job(repo: JobRepository, segments: list[str] = RAW, upgrade: bool = True) -> Job:
    """A done job (asking for refinement when ``upgrade``) and its transcript of ``segments``."""
    job = Job(
        id=f"job{time.time_ns()}",
        state=JobState.DONE,
        params=JobParams(upgrade_transcribation=upgrade),
        filename="call.wav",
        audio_key="audio/x/call.wav",
        file_size=1,
        completed_at=time.time(),
    )
    repo.create(job)
    repo.put_result(
        TranscriptResult(
            job_id=job.id,
            text=" ".join(segments),
            model_name="base",
            engine="ctranslate2",
            device="cpu",
            elapsed_s=1.0,
            segments=[Segment(start=i, end=i + 1, text=t) for i, t in enumerate(segments)],
        )
    )
    return job
