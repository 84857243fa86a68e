"""Runner heartbeats: ``runners/{runner_id}.json``, rewritten every few seconds by each runner."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, Field

from whisperq import layout
from whisperq.store import ObjectNotFound, PreconditionFailed, Store, StoreError

log = logging.getLogger(__name__)


class GpuTelemetry(BaseModel):
    id: int
    name: str | None = None
    memory_total_mb: int | None = None
    memory_used_mb: int | None = None
    utilization_gpu: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None


PROCESSING_BUCKETS_S = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class RunnerStats(BaseModel):
    """Counters since the runner started (Prometheus counters: a restart resets them)."""

    jobs_done: int = 0
    jobs_failed: int = 0
    audio_seconds: float = 0.0
    processing_seconds: float = 0.0
    processing_buckets: list[int] = Field(default_factory=lambda: [0] * len(PROCESSING_BUCKETS_S))

    def record_done(self, audio_s: float, processing_s: float) -> None:
        self.jobs_done += 1
        self.audio_seconds += audio_s
        self.processing_seconds += processing_s
        for i, bound in enumerate(PROCESSING_BUCKETS_S):
            if processing_s <= bound:
                self.processing_buckets[i] += 1


class Heartbeat(BaseModel):
    runner_id: str
    host: str
    pid: int
    device: str  # "cpu" or "cuda:N"
    device_id: str  # "cpu" or "N": the key of /api/model_status
    engine: str
    started_at: float
    updated_at: float = Field(default_factory=time.time)
    current_job: str | None = None  # the first of current_jobs (kept for older readers)
    current_jobs: list[str] = Field(default_factory=list)  # everything this runner is working on
    models: dict[str, str] = Field(default_factory=dict)  # model name -> state
    gpus: list[GpuTelemetry] = Field(default_factory=list)
    stats: RunnerStats = Field(default_factory=RunnerStats)
    stopping: bool = False


def write_heartbeat(store: Store, heartbeat: Heartbeat) -> None:
    heartbeat.updated_at = time.time()
    store.put_json(layout.runner_key(heartbeat.runner_id), heartbeat.model_dump(mode="json"))


def live_heartbeats(store: Store, stale_after_s: float, forget_after_s: float = 0.0) -> list[Heartbeat]:
    """Heartbeats written in the last ``stale_after_s`` by runners not stopping.

    With ``forget_after_s`` (> 0), heartbeats older than that (and than ``stale_after_s``) are deleted on the
    way: only the version read, so a runner that came back under the same id in between keeps its own."""
    now = time.time()
    forget_after_s = max(forget_after_s, stale_after_s) if forget_after_s > 0 else float("inf")
    beats = []
    for key in store.list_keys(layout.RUNNERS_PREFIX):
        try:
            data, etag = store.get_json(key)
        except ObjectNotFound:
            continue
        beat = Heartbeat.model_validate(data)
        age = now - beat.updated_at
        if age > forget_after_s:
            forget_heartbeat(store, key, etag)
        elif age <= stale_after_s and not beat.stopping:
            beats.append(beat)
    return beats


def forget_heartbeat(store: Store, key: str, etag: str) -> None:
    """Delete the heartbeat at ``key`` if it is still the version ``etag``; never raises."""
    try:
        store.delete(key, if_match=etag)
    except PreconditionFailed:
        log.info("heartbeat %s was rewritten while being forgotten: kept", key)
    except StoreError:
        log.warning("could not delete the old heartbeat %s", key, exc_info=True)
