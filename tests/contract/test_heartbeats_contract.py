"""Runner heartbeats on every store backend: the live are listed, the long gone are deleted, safely."""

from __future__ import annotations

import time

from whisperq import layout
from whisperq.heartbeats import Heartbeat, forget_heartbeat, live_heartbeats, write_heartbeat
from whisperq.store import Store

DAY = 86400.0


def beat(runner_id: str) -> Heartbeat:
    return Heartbeat(
        runner_id=runner_id, host="h", pid=1, device="cpu", device_id="cpu", engine="ctranslate2", started_at=0.0
    )


def write_aged(store: Store, runner_id: str, age_s: float) -> str:
    """A heartbeat last written ``age_s`` ago; returns its ETag."""
    old = beat(runner_id)
    old.updated_at = time.time() - age_s
    return store.put_json(layout.runner_key(runner_id), old.model_dump(mode="json"))


def runner_ids(store: Store) -> set[str]:
    return {key.removeprefix(layout.RUNNERS_PREFIX).removesuffix(".json") for key in store.list_keys("runners/")}


def test_reading_heartbeats_deletes_only_those_long_gone(store: Store):
    write_heartbeat(store, beat("live"))
    write_aged(store, "offline", 120)
    write_aged(store, "gone", 2 * DAY)
    assert [b.runner_id for b in live_heartbeats(store, 30, DAY)] == ["live"]
    assert runner_ids(store) == {"live", "offline"}
    assert [b.runner_id for b in live_heartbeats(store, 30)] == ["live"]  # no forget_after_s: nothing deleted
    assert runner_ids(store) == {"live", "offline"}


def test_forget_after_is_never_shorter_than_stale_after(store: Store):
    write_aged(store, "slow", 50)
    assert [b.runner_id for b in live_heartbeats(store, 60, 10)] == ["slow"]
    assert runner_ids(store) == {"slow"}


def test_a_runner_back_under_the_same_id_keeps_its_heartbeat(store: Store):
    old_etag = write_aged(store, "reborn", 2 * DAY)  # what a reader saw, about to forget it
    write_heartbeat(store, beat("reborn"))  # meanwhile the runner came back and beat
    forget_heartbeat(store, layout.runner_key("reborn"), old_etag)
    assert [b.runner_id for b in live_heartbeats(store, 30, DAY)] == ["reborn"]
    forget_heartbeat(store, layout.runner_key("nobody"), old_etag)  # missing: nothing to do, no error
