"""Entry point of one runner process (one device)."""

from __future__ import annotations

import logging
import os
import signal
from functools import partial

from gpu_runner import device_memory
from gpu_runner.engines import create_engine, default_engine_name
from gpu_runner.model_manager import ModelManager
from gpu_runner.worker import Runner, RunnerIdentity
from whisperq.events import EventLog
from whisperq.queue import open_queue
from whisperq.refine.main import open_refine_queue
from whisperq.repository import JobRepository
from whisperq.retention import RetentionSweeper
from whisperq.settings import Settings
from whisperq.store import open_store
from whisperq.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)


def build_runner(settings: Settings, device: str, models: ModelManager | None = None) -> Runner:
    """The runner of one device; ``models`` lets a caller share already loaded models (the benchmarks)."""
    rs = settings.runner
    engine_name = rs.engine if rs.engine != "auto" else default_engine_name(device)
    threads = rs.cpu_threads or (os.cpu_count() or 1)
    factory = partial(
        create_engine, engine_name, device=device, compute_type=rs.compute_type, cpu_threads=threads,
        batch_size=rs.batch_size,
    )  # fmt: skip
    models = models or ModelManager(
        lambda folder: factory(folder),
        settings.model_dirs,
        settings.model_cache_dir,
        rs.max_loaded_models,
        free_memory=partial(device_memory.free_bytes, device),
        reserve_bytes=rs.model_memory_reserve_mb * 2**20,
    )
    store = open_store(settings.resolved_store_url())
    queue = open_queue(
        settings.resolved_queue_url(), visibility_timeout_s=rs.visibility_timeout_s, max_receives=rs.max_attempts + 1
    )
    work_dir = (settings.data_dir / "work").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    identity = RunnerIdentity.for_device(device, rs.name)
    repo = JobRepository(store)
    events = EventLog(store, source=identity.runner_id)
    secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None
    webhooks = WebhookDeliverer(
        store,
        repo,
        events,
        secret=secret,
        max_attempts=settings.webhook_max_attempts,
        timeout_s=settings.webhook_timeout_s,
    )
    retention = RetentionSweeper(
        store,
        repo,
        events,
        audio_days=settings.retention_audio_days,
        result_days=settings.retention_result_days,
        log_days=settings.retention_log_days,
    )
    return Runner(
        identity,
        store,
        queue,
        models,
        rs,
        engine_name,
        work_dir,
        webhooks=webhooks,
        retention=retention,
        max_upload_bytes=settings.max_upload_bytes,
        refine_queue=open_refine_queue(settings),
    )


def run(settings: Settings, device: str) -> None:
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s runner[{device}] %(message)s")
    runner = build_runner(settings, device)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, lambda *_: runner.stop())
    runner.run_forever()
