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
