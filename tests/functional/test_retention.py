"""Audio and results expire after their set times; the manifest stays and says when."""

from __future__ import annotations

import time

from tests.functional.conftest import Pipeline
from whisperq import layout
from whisperq.events import EventLog
from whisperq.retention import DAY_S, RetentionSweeper


def test_audio_then_result_expire_on_schedule(pipeline: Pipeline):
    job_id = pipeline.submit()
    pipeline.runner.run_once(wait_s=1)
    job = pipeline.repo.get(job_id).job
    sweeper = RetentionSweeper(
        pipeline.store, pipeline.repo, EventLog(pipeline.store, "test"), audio_days=30, result_days=90
    )
    now = time.time()
    assert sweeper.sweep(now + 29 * DAY_S) == 0
    assert pipeline.store.exists(job.audio_key)

    assert sweeper.sweep(now + 31 * DAY_S) == 1
    assert not pipeline.store.exists(job.audio_key)
    assert pipeline.repo.get_result(job_id) is not None
    assert pipeline.repo.get(job_id).job.audio_expired_at is not None
    assert sweeper.sweep(now + 32 * DAY_S) == 0  # nothing is done twice

    assert sweeper.sweep(now + 91 * DAY_S) == 1
    assert pipeline.repo.get_result(job_id) is None
    expired = pipeline.repo.get(job_id).job
    assert expired.result_expired_at is not None and expired.state.value == "done"
    assert list(pipeline.store.list_keys(layout.RETENTION_PREFIX)) == []


def test_zero_days_keeps_everything(pipeline: Pipeline):
    job_id = pipeline.submit()
    pipeline.runner.run_once(wait_s=1)
    sweeper = RetentionSweeper(
        pipeline.store, pipeline.repo, EventLog(pipeline.store, "test"), audio_days=0, result_days=0
    )
    assert sweeper.sweep(time.time() + 10_000 * DAY_S) == 0
    assert pipeline.store.exists(pipeline.repo.get(job_id).job.audio_key)
