"""``GET /metrics``: Prometheus text, computed at scrape time from the index, the queue and the
runners' heartbeats (any API process answers the same)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from functions.context import AppContext, Ctx
from whisperq import layout
from whisperq.heartbeats import PROCESSING_BUCKETS_S
from whisperq.jobs import JobState

router = APIRouter(tags=["monitoring"])


class ServiceCollector:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def collect(self) -> Iterator:
        jobs = GaugeMetricFamily("whisperq_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            count = sum(1 for _ in self.ctx.store.list_keys(layout.index_prefix(state)))
            jobs.add_metric([state.value], count)
        yield jobs
        counts = self.ctx.queue.counts()
        depth = GaugeMetricFamily("whisperq_queue_messages", "Queue messages", labels=["kind"])
        for kind in ("visible", "in_flight", "dead"):
            depth.add_metric([kind], getattr(counts, kind))
        yield depth
        yield from self._runners()

    def _runners(self) -> Iterator:
        beats = self.ctx.live_heartbeats()
        up = GaugeMetricFamily("whisperq_runner_up", "Live runners", labels=["runner", "device"])
        done = CounterMetricFamily("whisperq_runner_jobs", "Jobs finished by a runner", labels=["runner", "outcome"])
        audio = CounterMetricFamily("whisperq_runner_audio_seconds", "Seconds of audio transcribed", labels=["runner"])
        busy = HistogramMetricFamily("whisperq_runner_processing_seconds", "Job processing time", labels=["runner"])
        gpu = {
            name: GaugeMetricFamily(f"whisperq_gpu_{name}", text, labels=["host", "gpu"])
            for name, text in (
                ("memory_total_bytes", "GPU memory"),
                ("memory_used_bytes", "GPU memory in use"),
                ("utilization_ratio", "GPU utilisation 0..1"),
                ("temperature_celsius", "GPU temperature"),
                ("power_watts", "GPU power draw"),
            )
        }
        for beat in beats:
            stats = beat.stats
            up.add_metric([beat.runner_id, beat.device], 1)
            done.add_metric([beat.runner_id, "done"], stats.jobs_done)
            done.add_metric([beat.runner_id, "error"], stats.jobs_failed)
            audio.add_metric([beat.runner_id], stats.audio_seconds)
            buckets = []
            for bound, count in zip(PROCESSING_BUCKETS_S, stats.processing_buckets, strict=False):
                buckets.append((str(bound), count))
            buckets.append(("+Inf", stats.jobs_done))
            busy.add_metric([beat.runner_id], buckets, stats.processing_seconds)
            for g in beat.gpus:
                labels = [beat.host, str(g.id)]
                _add(gpu["memory_total_bytes"], labels, g.memory_total_mb, 1024 * 1024)
                _add(gpu["memory_used_bytes"], labels, g.memory_used_mb, 1024 * 1024)
                _add(gpu["utilization_ratio"], labels, g.utilization_gpu, 0.01)
                _add(gpu["temperature_celsius"], labels, g.temperature_c, 1)
                _add(gpu["power_watts"], labels, g.power_w, 1)
        yield from (up, done, audio, busy, *gpu.values())


def _add(family: GaugeMetricFamily, labels: list[str], value: float | None, scale: float) -> None:
    if value is not None:
        family.add_metric(labels, value * scale)


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: Ctx) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(ctx))
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
