from __future__ import annotations

from pathlib import Path

import pytest

from gpu_runner import worker
from gpu_runner.engines import create_engine
from gpu_runner.model_manager import ModelManager
from gpu_runner.worker import Runner, RunnerIdentity
from tests.speech import SPEECH_DIR
from whisperq import layout
from whisperq.jobs import Job, JobParams, JobState, new_job_id
from whisperq.queue.sqlite import SqliteQueue
from whisperq.repository import JobRepository
from whisperq.settings import RunnerSettings
from whisperq.store.local import LocalStore


@pytest.fixture(scope="session")
def models_manager(tmp_path_factory) -> ModelManager:
    def factory(folder: Path):
        return create_engine("ctranslate2", folder, device="cpu", compute_type="int8", cpu_threads=2)

    return ModelManager(factory, [], Path.home() / ".cache" / "whisperq" / "models")


class Pipeline:
    def __init__(self, root: Path, models: ModelManager, **runner_settings):
        self.store = LocalStore(root / "bucket")
        self.queue = SqliteQueue(root / "queue.sqlite3", visibility_timeout_s=30, max_receives=5, poll_interval_s=0.05)
        self.refine_queue = SqliteQueue(root / "refine.sqlite3", visibility_timeout_s=30, poll_interval_s=0.05)
        self.repo = JobRepository(self.store)
        settings = RunnerSettings(heartbeat_interval_s=1, poll_wait_s=0.5, **runner_settings)
        self.runner = Runner(
            RunnerIdentity("test-cpu", "cpu"),
            self.store,
            self.queue,
            models,
            settings,
            "ctranslate2",
            root,
            refine_queue=self.refine_queue,
        )

    def submit(self, clip: str = "en_ivr.wav", model: str = "tiny.en", upgrade: bool = False) -> str:
        job_id = new_job_id()
        key = layout.audio_key(job_id, clip)
        self.store.put_file(key, SPEECH_DIR / clip)
        job = Job(
            id=job_id,
            params=JobParams(model_name=model, upgrade_transcribation=upgrade),
            filename=clip,
            audio_key=key,
            file_size=(SPEECH_DIR / clip).stat().st_size,
        )
        self.repo.create(job)
        self.queue.send({"job_id": job_id})
        return job_id

    def stop_runner_at_first_progress(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The runner is told to stop (as SIGTERM does) the first time a job reports progress."""
        monkeypatch.setattr(worker, "PROGRESS_WRITE_INTERVAL_S", 0.0)
        report = worker._ProgressWriter.__call__

        def stop_then_report(writer, fraction):
            self.runner.stop()
            return report(writer, fraction)

        monkeypatch.setattr(worker._ProgressWriter, "__call__", stop_then_report)

    def assert_handed_back(self, job_id: str) -> None:
        """Queued again as if never taken, no result, its message visible at once for another runner."""
        job = self.repo.get(job_id).job
        assert job.state is JobState.QUEUED and job.attempts == 0
        assert self.repo.get_result(job_id) is None
        assert self.queue.counts().visible == 1


@pytest.fixture
def pipeline(tmp_path: Path, models_manager: ModelManager) -> Pipeline:
    return Pipeline(tmp_path, models_manager)
