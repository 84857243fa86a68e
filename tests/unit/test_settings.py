from __future__ import annotations

from pathlib import Path

from whisperq.settings import Settings


def test_defaults_live_under_the_working_directory(monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.resolved_store_url() == str(tmp_path / "whisperq-data" / "bucket")
    assert settings.resolved_queue_url() == f"sqlite:///{tmp_path}/whisperq-data/queue.sqlite3"
    assert settings.api.port == 8000 and settings.api.host == "127.0.0.1"


def test_env_sets_top_level_and_nested(monkeypatch):
    monkeypatch.setenv("WHISPERQ_STORE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("WHISPERQ_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/jobs")
    monkeypatch.setenv("WHISPERQ_RUNNER__BEAM_SIZE", "1")
    monkeypatch.setenv("WHISPERQ_API__MAX_UPLOAD_MB", "5")
    settings = Settings()
    assert settings.resolved_store_url() == "s3://bucket/prefix"
    assert settings.resolved_queue_url().startswith("https://sqs.")
    assert settings.runner.beam_size == 1
    assert settings.max_upload_bytes == 5 * 1024 * 1024


def test_refine_settings_and_the_model_name_of_the_issue(monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    defaults = Settings()
    assert defaults.refine.backend == "openai" and defaults.refine.preset == "cleanup"
    assert defaults.resolved_refine_queue_url() == f"sqlite:///{tmp_path}/whisperq-data/refine.sqlite3"
    monkeypatch.setenv("WHISPERQ_REFINE_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("WHISPERQ_REFINE__TIMEOUT_S", "2.5")
    monkeypatch.setenv("WHISPERQ_REFINE__BACKEND", "g4f")
    monkeypatch.setenv("WHISPERQ_REFINE_QUEUE_URL", "sqlite:///elsewhere.sqlite3")
    settings = Settings()
    assert settings.refine_model == "qwen2.5:7b"
    assert settings.refine.timeout_s == 2.5 and settings.refine.backend == "g4f"
    assert settings.resolved_refine_queue_url() == "sqlite:///elsewhere.sqlite3"
