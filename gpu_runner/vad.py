"""Speech detection with the Silero VAD model that faster-whisper bundles (ONNX, CPU).

The model runs over slices of the audio in a thread pool (onnxruntime releases the GIL), so a long
file or many jobs use every core; given a torch ``device`` (the torch engine on CUDA), the same model
runs there on all slices at once (:mod:`gpu_runner.silero_torch`). The chunks are then found with
numpy (hysteresis on the per-frame probabilities) rather than a Python loop over frames.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gpu_runner.audio import SAMPLE_RATE

FRAME = 512  # samples per Silero frame at 16 kHz
SLICE_FRAMES = 1875  # 60 s per model call: its recurrent state starts afresh at each slice


@dataclass(frozen=True)
class VadParams:
    threshold: float = 0.5
    neg_threshold: float | None = None  # default: threshold - 0.15
    min_silence_s: float = 0.3  # a shorter pause does not end a chunk
    min_speech_s: float = 0.1
    pad_s: float = 0.2  # added around each chunk, at most half the pause to its neighbour


@lru_cache(maxsize=1)
def _model():
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="vad")


def _slices(audio: np.ndarray) -> list[np.ndarray]:
    padded = np.pad(audio.astype(np.float32, copy=False), (0, -len(audio) % FRAME))
    step = SLICE_FRAMES * FRAME
    return [padded[i : i + step] for i in range(0, len(padded), step)]


def speech_probabilities_many(
    audios: list[np.ndarray], executor: Executor | None = None, device: str | None = None
) -> list[np.ndarray]:
    """One speech probability per FRAME samples of each audio; all slices of all audios share the pool
    (or, with a torch ``device``, one batch there)."""
    slices = [_slices(a) if len(a) else [] for a in audios]
    flat = [s for per_audio in slices for s in per_audio]
    if device is not None:
        from gpu_runner import silero_torch

        outputs = iter(silero_torch.probabilities(flat, device))
    else:
        model = _model()
        outputs = iter(list((executor or _pool()).map(lambda s: np.asarray(model(s)).reshape(-1), flat)))
    return [
        np.concatenate([next(outputs) for _ in per_audio]).astype(np.float32) if per_audio else np.zeros(0, np.float32)
        for per_audio in slices
    ]


def speech_probabilities(audio: np.ndarray, executor: Executor | None = None) -> np.ndarray:
    """One speech probability per FRAME samples."""
    return speech_probabilities_many([audio], executor)[0]


def _hysteresis(probs: np.ndarray, on: float, off: float) -> np.ndarray:
    """Speech from ``on`` upwards until the probability drops below ``off``."""
    state = np.full(len(probs), -1, np.int8)
    state[probs >= on] = 1
    state[probs < off] = 0
    known = np.where(state >= 0, np.arange(len(probs)), 0)
    np.maximum.accumulate(known, out=known)
    filled = state[known]
    filled[filled < 0] = 0
    return filled.astype(bool)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def chunks_from_probabilities(probs: np.ndarray, total: int, params: VadParams = VadParams()) -> list[tuple[int, int]]:
    """Speech chunks as ``(start, end)`` samples within ``[0, total]``."""
    off = params.neg_threshold if params.neg_threshold is not None else max(params.threshold - 0.15, 0.01)
    runs = _runs(_hysteresis(probs, params.threshold, off))
    min_gap = params.min_silence_s * SAMPLE_RATE / FRAME
    merged: list[list[int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    min_len = params.min_speech_s * SAMPLE_RATE / FRAME
    frames = [(s, e) for s, e in merged if e - s >= min_len]
    return _padded([(s * FRAME, min(total, e * FRAME)) for s, e in frames], total, int(params.pad_s * SAMPLE_RATE))


def _padded(chunks: list[tuple[int, int]], total: int, pad: int) -> list[tuple[int, int]]:
    out = []
    for i, (start, end) in enumerate(chunks):
        # Padding takes at most half of a pause between two chunks, all of it at either end.
        before = (start - chunks[i - 1][1]) // 2 if i else start
        after = (chunks[i + 1][0] - end) // 2 if i + 1 < len(chunks) else total - end
        out.append((start - min(pad, before), end + min(pad, after)))
    return out


def speech_chunks_many(
    audios: list[np.ndarray],
    params: VadParams = VadParams(),
    executor: Executor | None = None,
    device: str | None = None,
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """Speech chunks of each audio, with the per-frame probabilities they came from."""
    probs = speech_probabilities_many(audios, executor, device)
    return [(chunks_from_probabilities(p, len(a), params), p) for a, p in zip(audios, probs, strict=True)]


def speech_chunks(
    audio: np.ndarray, params: VadParams = VadParams(), executor: Executor | None = None
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Speech chunks of ``audio`` and the per-frame probabilities they came from."""
    return speech_chunks_many([audio], params, executor)[0]
