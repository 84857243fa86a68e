"""The event log on every store backend: tailing it lists keys and reads only what a key cannot hold."""

from __future__ import annotations

from collections import Counter

from tests.contract.counting import CountingReads
from whisperq import layout
from whisperq.events import EventLog, format_time, key_summary
from whisperq.repository import JobRepository
from whisperq.retention import DAY_S, RetentionSweeper
from whisperq.store import Store


def _written(store: Store) -> list[dict]:
    """Every event object as stored, oldest first: what the tail must give back."""
    return [store.get_json(key)[0] for key in reversed(list(store.list_keys(layout.LOGS_PREFIX)))]


def _emit_some(log: EventLog, n: int) -> None:
    for i in range(n):
        if i % 3 == 0:
            log.emit(f"Задача {i:02d} готова", job_id=f"{i:032x}")
        elif i % 3 == 1:
            log.emit(f"Task {i:02d} failed: no audio", level="ERROR", job_id=f"{i:032x}")
        else:
            log.emit(f"Runner {i} started on cuda:0", level="WARNING")


def test_tail_reads_no_object_when_the_keys_hold_the_events(store: Store):
    _emit_some(EventLog(store, source="runner-host-cuda0"), 30)
    requests: Counter[str] = getattr(store, "requests", Counter())  # S3 only: every HTTP request
    before = requests.copy()
    counting = CountingReads(store)
    events = EventLog(counting, source="api").tail()  # type: ignore[arg-type]
    assert counting.reads == 0
    if hasattr(store, "requests"):
        assert requests - before == Counter({"ListObjectsV2": 1})
    assert events == _written(store)
    ms = [int(e["ts"] * 1000) for e in events]  # keys sort by the millisecond; within one, any order
    assert ms == sorted(ms)
    assert {e["level"] for e in events} == {"INFO", "ERROR", "WARNING"}
    assert all(e["source"] == "runner-host-cuda0" and e["time"] == format_time(e["ts"]) for e in events)


def test_tail_reads_only_long_messages_and_old_style_events(store: Store):
    log = EventLog(store, source="api@host")
    _emit_some(log, 6)
    long_message = "Ошибка декодирования: " + "x" * 1500
    log.emit(long_message, level="ERROR", job_id="a" * 32)
    old = {"time": format_time(1_700_000_000.5), "ts": 1_700_000_000.5, "msg": "old", "level": "INFO", "source": "s"}
    store.put_json(layout.log_key(old["ts"]), old)  # written before keys carried the event
    counting = CountingReads(store)
    events = EventLog(counting, source="api").tail()  # type: ignore[arg-type]
    assert counting.reads == 2
    assert events == _written(store)
    assert events[0] == old and long_message in [e["msg"] for e in events]  # newest, give or take a ms
    newest = EventLog(counting, source="api").tail(limit=3)  # type: ignore[arg-type]
    assert newest == events[-3:]


def test_retention_deletes_only_events_older_than_the_set_days(store: Store):
    now = 1_800_000_000.0
    ages_days = [0.0, 0.4, 0.99, 1.01, 3.0, 40.0]
    for age in ages_days:
        at = now - age * DAY_S
        event = {"time": format_time(at), "ts": at, "msg": f"{age} days old", "level": "INFO", "source": "s"}
        store.put_json(layout.log_key(at, key_summary(event)), event)
    store.put_json(layout.log_key(now - 5 * DAY_S), {"ts": now - 5 * DAY_S, "msg": "old-style key"})
    log = EventLog(store, source="sweeper")
    sweeper = RetentionSweeper(store, JobRepository(store), log, audio_days=0, result_days=0, log_days=1)

    assert sweeper.sweep_logs(now) == 4
    assert [e["msg"] for e in log.tail()] == ["0.99 days old", "0.4 days old", "0.0 days old"]
    assert sweeper.sweep_logs(now) == 0
    never = RetentionSweeper(store, JobRepository(store), log, audio_days=0, result_days=0, log_days=0)
    assert never.sweep_logs(now + 100 * DAY_S) == 0
