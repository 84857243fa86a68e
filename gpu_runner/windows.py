"""Speech windows of at most 30 s, cut only in silence.

Whisper decodes 30 s at a time. Fixed 30 s cuts fall inside words and lose them (see DESIGN.md,
Runner), so windows are built from the speech chunks VAD found: whole chunks are packed into a
window while it stays within ``max_samples``; the silence between two windows belongs to neither.
Only a chunk longer than a window on its own is cut, at its least speech-like frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpu_runner.audio import SAMPLE_RATE

WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Span:
    start: int  # samples
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def seconds(self, rate: int = SAMPLE_RATE) -> tuple[float, float]:
        return self.start / rate, self.end / rate


def normalize_chunks(chunks: Sequence[tuple[int, int]], total: int) -> list[Span]:
    """Chunks clipped to ``[0, total]``, sorted, overlaps merged, empty ones dropped."""
    spans: list[Span] = []
    for start, end in sorted(chunks):
        start, end = max(0, int(start)), min(total, int(end))
        if end <= start:
            continue
        if spans and start <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, max(spans[-1].end, end))
        else:
            spans.append(Span(start, end))
    return spans


def split_long(span: Span, max_samples: int, probs: np.ndarray | None = None, frame: int = 512) -> list[Span]:
    """Cut a chunk longer than ``max_samples`` where speech is least likely (or evenly without
    probabilities), each piece at least half a window long where possible."""
    pieces = []
    start = span.start
    while span.end - start > max_samples:
        lo, hi = start + max_samples // 2, start + max_samples
        cut = hi
        if probs is not None and len(probs):
            first, last = lo // frame, min(hi // frame, len(probs))
            if last > first:
                cut = (first + int(np.argmin(probs[first:last]))) * frame
        cut = min(max(cut, start + 1), hi)
        pieces.append(Span(start, cut))
        start = cut
    pieces.append(Span(start, span.end))
    return pieces


def plan_windows(
    chunks: Sequence[tuple[int, int]],
    total: int,
    max_samples: int = int(WINDOW_SECONDS * SAMPLE_RATE),
    probs: np.ndarray | None = None,
    frame: int = 512,
) -> list[Span]:
    """Pack speech chunks (sample ranges) into windows of at most ``max_samples``."""
    pieces = [p for s in normalize_chunks(chunks, total) for p in split_long(s, max_samples, probs, frame)]
    windows: list[Span] = []
    for piece in pieces:
        if windows and piece.end - windows[-1].start <= max_samples:
            windows[-1] = Span(windows[-1].start, piece.end)
        else:
            windows.append(piece)
    return windows


def fixed_windows(total: int, max_samples: int = int(WINDOW_SECONDS * SAMPLE_RATE)) -> list[Span]:
    """Plain consecutive windows (no VAD)."""
    return [Span(s, min(total, s + max_samples)) for s in range(0, total, max_samples)]
