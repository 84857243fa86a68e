from __future__ import annotations

from whisperq import layout
from whisperq.jobs import JobState


def test_safe_name_strips_folders_and_odd_characters():
    assert layout.safe_name("../../etc/passwd") == "passwd"
    assert layout.safe_name("C:\\calls\\звонок 1.mp3") == "1.mp3"
    assert layout.safe_name("") == "audio"
    assert layout.safe_name("...") == "audio"


def test_waiting_jobs_sort_oldest_first_finished_newest_first():
    queued = [layout.index_key(JobState.QUEUED, f"j{i}", 1_700_000_000 + i) for i in range(3)]
    done = [layout.index_key(JobState.DONE, f"j{i}", 1_700_000_000 + i) for i in range(3)]
    assert sorted(queued) == queued
    assert sorted(done) == list(reversed(done))
    assert all(k.startswith("index/done/") for k in done)


def test_job_id_round_trips_through_index_key():
    key = layout.index_key(JobState.PROCESSING, "abc123", 1_700_000_000.5)
    assert layout.job_id_from_index_key(key) == "abc123"


def test_log_keys_list_newest_first():
    older, newer = layout.log_key(1_700_000_000), layout.log_key(1_700_000_001)
    assert newer < older


def test_log_key_carries_a_summary_and_old_keys_carry_none():
    summary = {"t": 1_700_000_000.25, "m": "Задача 1 готова", "j": "abc"}
    key = layout.log_key(1_700_000_000.25, summary)
    assert key.startswith(layout.LOGS_PREFIX) and key.endswith(".json")
    assert layout.summary_from_log_key(key) == summary
    assert layout.summary_from_log_key(layout.log_key(1_700_000_000.25)) is None
    assert layout.log_key(1_700_000_001, summary) < key  # still newest first
