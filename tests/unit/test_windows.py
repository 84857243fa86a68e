"""Speech windows: at most 30 s, cut only in silence (pure planning, and Silero VAD on real speech)."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_runner import vad, windows
from gpu_runner.audio import SAMPLE_RATE, decode
from tests.speech import SPEECH_DIR

S = SAMPLE_RATE
MAX = 30 * S


def _inside_a_chunk(cut: int, chunks: list[tuple[int, int]]) -> bool:
    return any(start < cut < end for start, end in chunks)


def test_chunks_are_packed_whole_into_windows_of_at_most_30_s():
    chunks = [(int(a * S), int(b * S)) for a, b in [(0.5, 6), (7, 14), (15, 22), (23, 29), (31, 33), (34, 60)]]
    plan = windows.plan_windows(chunks, 80 * S)
    assert all(w.length <= MAX for w in plan)
    assert plan[0] == windows.Span(int(0.5 * S), 29 * S)  # four chunks fit, the fifth would not
    assert plan[1] == windows.Span(31 * S, 60 * S)
    for w in plan:
        assert not _inside_a_chunk(w.start, chunks) and not _inside_a_chunk(w.end, chunks)
    covered = sum(w.length for w in plan)
    assert covered >= sum(b - a for a, b in chunks)


def test_a_chunk_longer_than_a_window_is_cut_where_speech_is_least_likely():
    probs = np.full(int(70 * S / vad.FRAME), 0.9, np.float32)
    quiet = int(21.0 * S / vad.FRAME)
    probs[quiet] = 0.05
    plan = windows.plan_windows([(0, 70 * S)], 70 * S, MAX, probs, vad.FRAME)
    assert plan[0].end == quiet * vad.FRAME
    assert all(w.length <= MAX for w in plan)
    assert plan[-1].end == 70 * S and all(a.end == b.start for a, b in zip(plan, plan[1:], strict=False))


def test_no_speech_gives_no_window_and_fixed_windows_cover_everything():
    assert windows.plan_windows([], 10 * S) == []
    fixed = windows.fixed_windows(65 * S)
    assert [w.length for w in fixed] == [MAX, MAX, 5 * S]


def test_hysteresis_chunks_merge_short_pauses_and_pad_into_silence():
    frames_per_s = S / vad.FRAME
    probs = np.zeros(int(10 * frames_per_s), np.float32)
    probs[int(1 * frames_per_s) : int(3 * frames_per_s)] = 0.9
    probs[int(3.1 * frames_per_s) : int(4 * frames_per_s)] = 0.9  # 0.1 s pause: same chunk
    probs[int(6 * frames_per_s) : int(8 * frames_per_s)] = 0.9
    chunks = vad.chunks_from_probabilities(probs, 10 * S, vad.VadParams(pad_s=0.2))
    assert len(chunks) == 2
    (a0, a1), (b0, b1) = chunks
    assert a0 == pytest.approx(0.8 * S, abs=vad.FRAME) and a1 == pytest.approx(4.2 * S, abs=vad.FRAME)
    assert b0 == pytest.approx(5.8 * S, abs=vad.FRAME) and b1 == pytest.approx(8.2 * S, abs=vad.FRAME)


def test_windows_of_real_speech_with_silence_gaps_never_cut_inside_speech():
    """Utterances of the reading clip, split at its own pauses and laid out with known silences."""
    speech = decode(SPEECH_DIR / "en_reading.wav")
    chunks, _ = vad.speech_chunks(speech)
    pieces = [speech[a:b] for a, b in chunks]
    rng = np.random.default_rng(0)
    parts, spoken, at = [], [], 0
    for _ in range(3):
        for piece in pieces:
            gap = np.zeros(int(rng.uniform(0.4, 1.5) * S), np.float32)
            parts += [gap, piece]
            spoken.append((at + len(gap), at + len(gap) + len(piece)))
            at += len(gap) + len(piece)
    audio = np.concatenate(parts)
    found, probs = vad.speech_chunks(audio)
    plan = windows.plan_windows(found, len(audio), MAX, probs, vad.FRAME)
    assert len(plan) >= 3 and all(w.length <= MAX for w in plan)
    margin = int(0.25 * S)  # each piece carries up to 0.2 s of the clip's own silence; VAD frames are 32 ms
    for w in plan:
        for edge in (w.start, w.end):
            assert not any(a + margin < edge < b - margin for a, b in spoken), f"cut at {edge / S:.2f}s is in speech"
    covered = np.zeros(len(audio), bool)
    for w in plan:
        covered[w.start : w.end] = True
    speech_mask = np.zeros(len(audio), bool)
    for a, b in spoken:
        speech_mask[a + margin : b - margin] = True
    assert covered[speech_mask].mean() > 0.99  # nothing said is left out
