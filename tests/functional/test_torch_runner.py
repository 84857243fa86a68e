"""The runner's queue loop with the torch engine: a job to done, and a stop that hands it back."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("whisper")

from gpu_runner.engines import create_engine  # noqa: E402
from gpu_runner.model_manager import ModelManager  # noqa: E402
from tests.functional.conftest import Pipeline  # noqa: E402
from tests.speech import load_manifest, word_error_rate  # noqa: E402
from whisperq.jobs import JobState  # noqa: E402


@pytest.fixture(scope="module")
def torch_models() -> ModelManager:
    def factory(folder: Path):
        return create_engine("torch", folder, device="cpu", cpu_threads=2)

    manager = ModelManager(factory, [], Path.home() / ".cache" / "whisperq" / "models")
    yield manager
    manager.close()


def test_job_runs_to_done_on_the_torch_engine(tmp_path: Path, torch_models: ModelManager):
    pipeline = Pipeline(tmp_path, torch_models)
    job_id = pipeline.submit("en_ivr.wav")
    assert pipeline.runner.run_once(wait_s=1) == 1
    assert pipeline.repo.get(job_id).job.state is JobState.DONE
    result = pipeline.repo.get_result(job_id)
    assert result.engine == "torch" and result.language == "en"
    assert word_error_rate(load_manifest()["en_ivr.wav"]["text"], result.text, "en") <= 0.1


def test_stopping_runner_hands_a_torch_job_back(tmp_path: Path, torch_models: ModelManager, monkeypatch):
    pipeline = Pipeline(tmp_path, torch_models)
    job_id = pipeline.submit("en_reading.wav")
    pipeline.stop_runner_at_first_progress(monkeypatch)
    pipeline.runner.run_once(wait_s=1)
    pipeline.assert_handed_back(job_id)
