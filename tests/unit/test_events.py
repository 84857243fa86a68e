"""Events packed into their log keys: what fits rides along, a long message is cut and marked."""

from __future__ import annotations

from whisperq import layout
from whisperq.events import KEY_EVENT_BYTES, event_from_key, format_time, key_summary

AT = 1_700_000_000.123456


def event(msg: str, **fields: str) -> dict:
    return {"time": format_time(AT), "ts": AT, "msg": msg, "level": "INFO", "source": "api@host", **fields}


def test_a_short_event_round_trips_through_its_key():
    written = event("Задача abc готова", level="ERROR", job_id="f" * 32)
    key = layout.log_key(AT, key_summary(written))
    assert event_from_key(key) == written
    plain = event("Runner started")
    assert event_from_key(layout.log_key(AT, key_summary(plain))) == plain


def test_a_long_message_is_cut_to_fit_an_s3_key_and_read_back_instead():
    for msg in ("ю" * 2000, "x" * 2000, '"\\\n' * 500):
        packed = key_summary(event(msg, job_id="f" * 32, source="runner-" + "h" * 60))
        assert packed is not None and packed["cut"] == 1
        assert layout.packed_size(packed) <= KEY_EVENT_BYTES
        assert msg.startswith(packed["m"]) and len(packed["m"]) > 50
        key = layout.log_key(AT, packed)
        assert len(key.encode()) <= 700  # of S3's 1,024 bytes: room for a store prefix
        assert event_from_key(key) is None  # the listing reads this one


def test_an_event_that_cannot_fit_gets_an_old_style_key():
    assert key_summary(event("hi", source="s" * 1000)) is None
    assert event_from_key(layout.log_key(AT)) is None
