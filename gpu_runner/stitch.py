"""From one window's decoded tokens to timed segments, and each job's windows back into one transcript.

Timestamp tokens come in pairs (the end of one segment, the start of the next). Text after the last
complete pair is an unfinished segment: as Whisper's own sequential ``transcribe`` does, it is not
kept, and decoding continues from the last complete timestamp (:attr:`WindowParse.resume_at`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TIME_PRECISION = 0.02  # seconds per timestamp token


@dataclass
class RawSegment:
    start: float  # seconds from the window start
    end: float
    tokens: list[int]  # text tokens only


@dataclass
class WindowParse:
    segments: list[RawSegment]
    resume_at: float | None = None  # seconds into the window where decoding must go on; None: all done


def parse_window(tokens: list[int], timestamp_begin: int, duration: float) -> WindowParse:
    """Segments of a window decoded with timestamps (``tokens`` without the final EOT)."""
    is_ts = [t >= timestamp_begin for t in tokens]

    def time_of(token: int) -> float:
        return (token - timestamp_begin) * TIME_PRECISION

    single_ending = len(tokens) >= 2 and is_ts[-1] and not is_ts[-2]
    pair_ends = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
    if not pair_ends:
        text = [t for t, ts in zip(tokens, is_ts, strict=True) if not ts]
        stamps = [time_of(t) for t, ts in zip(tokens, is_ts, strict=True) if ts]
        end = stamps[-1] if stamps and stamps[-1] > 0 else duration
        start = stamps[0] if len(stamps) > 1 else 0.0
        return WindowParse([RawSegment(start, min(end, duration), text)] if text else [])
    slices = pair_ends + ([len(tokens)] if single_ending else [])
    segments = []
    last = 0
    for cut in slices:
        part = tokens[last:cut]
        stamps = [time_of(t) for t in part if t >= timestamp_begin]
        text = [t for t in part if t < timestamp_begin]
        if text and stamps:
            segments.append(RawSegment(min(stamps[0], duration), min(stamps[-1], duration), text))
        last = cut
    if single_ending:
        return WindowParse(segments)
    resume = time_of(tokens[pair_ends[-1] - 1])
    # Nothing left after the last pair, or no progress possible: the window is done.
    if last >= len(tokens) or resume <= 0 or resume >= duration:
        return WindowParse(segments)
    return WindowParse(segments, resume_at=resume)


@dataclass
class PlacedSegment:
    start: float  # seconds on the job's timeline
    end: float
    tokens: list[int]
    text: str = ""
    words: list[dict] | None = None
    window_start: float = 0.0  # where its window began (word times are relative to it)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0
    extra: dict = field(default_factory=dict)


def place(segments: Iterable[RawSegment], offset: float) -> list[PlacedSegment]:
    return [
        PlacedSegment(
            start=round(offset + s.start, 3), end=round(offset + s.end, 3), tokens=s.tokens, window_start=offset
        )
        for s in segments
    ]


def stitch(pieces: Iterable[PlacedSegment]) -> list[PlacedSegment]:
    """One job's segments from all its windows, in time order, none starting before the previous one ends
    (a window's first timestamp can sit a little before the silence cut that began it)."""
    ordered = sorted(pieces, key=lambda s: (s.window_start, s.start, s.end))
    out: list[PlacedSegment] = []
    for seg in ordered:
        if out and seg.start < out[-1].end:
            seg.start = min(out[-1].end, seg.end)
        out.append(seg)
    return out


def apply_word_times(segments: list[PlacedSegment], relative: list[dict]) -> None:
    """Put word-timing results (times relative to each segment's window) on the global timeline."""
    for seg, rel in zip(segments, relative, strict=True):
        offset = seg.window_start
        seg.start, seg.end = round(offset + rel["start"], 3), round(offset + rel["end"], 3)
        seg.words = [
            {**w, "start": round(offset + w["start"], 3), "end": round(offset + w["end"], 3)}
            for w in rel.get("words", [])
        ]
