"""Timed segments from one window's tokens, and windows stitched back into one job."""

from __future__ import annotations

from gpu_runner.stitch import PlacedSegment, parse_window, place, stitch

TS = 50363  # timestamp_begin of an English-only model


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def test_pairs_make_segments_and_a_single_final_timestamp_ends_the_window():
    tokens = [ts(0), 1, 2, ts(2), ts(2.5), 3, ts(4)]
    parsed = parse_window(tokens, TS, duration=10.0)
    assert parsed.resume_at is None
    assert [(s.start, s.end, s.tokens) for s in parsed.segments] == [(0.0, 2.0, [1, 2]), (2.5, 4.0, [3])]


def test_text_after_the_last_complete_pair_is_decoded_again_from_there():
    tokens = [ts(0), 1, ts(3), ts(3.2), 2, 3]  # the second segment never closed
    parsed = parse_window(tokens, TS, duration=29.0)
    assert [(s.start, s.end) for s in parsed.segments] == [(0.0, 3.0)]
    assert parsed.resume_at == 3.0


def test_window_ending_on_a_pair_resumes_after_it_and_no_pair_keeps_all_text():
    parsed = parse_window([ts(0), 1, ts(5), ts(5)], TS, duration=20.0)
    assert parsed.resume_at == 5.0 and len(parsed.segments) == 1
    parsed = parse_window([ts(0.4), 1, 2, ts(7)], TS, duration=20.0)
    assert parsed.resume_at is None
    assert [(s.start, s.end, s.tokens) for s in parsed.segments] == [(0.4, 7.0, [1, 2])]
    parsed = parse_window([1, 2], TS, duration=6.0)
    assert [(s.start, s.end) for s in parsed.segments] == [(0.0, 6.0)]


def test_timestamps_past_the_window_are_clamped():
    parsed = parse_window([ts(1), 1, ts(29.9)], TS, duration=12.0)
    assert parsed.segments[0].end == 12.0


def test_stitch_orders_windows_and_never_overlaps():
    first = place(parse_window([ts(0), 1, ts(4)], TS, 5.0).segments, offset=10.0)
    second = place(parse_window([ts(0), 2, ts(3)], TS, 5.0).segments, offset=13.9)
    early = place(parse_window([ts(0), 3, ts(2)], TS, 3.0).segments, offset=0.5)
    out = stitch([*second, *first, *early])
    assert [s.tokens for s in out] == [[3], [1], [2]]
    assert [(s.start, s.end) for s in out] == [(0.5, 2.5), (10.0, 14.0), (14.0, 16.9)]
    assert all(isinstance(s, PlacedSegment) for s in out)
