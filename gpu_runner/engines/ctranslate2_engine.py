"""The CTranslate2 engine (faster-whisper): the default on CPU.

One job goes through faster-whisper's own sequential ``transcribe``; several jobs at once go through
the batched pipeline shared with the torch engine (VAD windows of all jobs decoded together).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from gpu_runner.audio import SAMPLE_RATE
from gpu_runner.batch_pipeline import BatchSettings, BatchTranscriber
from gpu_runner.engines.base import BatchedEngine, ProgressCallback, TranscribeOptions, Transcript
from gpu_runner.engines.ctranslate2_windows import Ct2WindowDecoder
from whisperq.jobs import Segment, Word


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "int8" if device == "cpu" else "float16"


class CTranslate2Engine(BatchedEngine):
    name = "ctranslate2"

    def __init__(
        self, model_dir: Path, *, device: str, compute_type: str = "auto", cpu_threads: int = 0, batch_size: int = 0
    ):
        kind, _, index = device.partition(":")
        self.model = WhisperModel(
            str(model_dir),
            device="cuda" if kind == "cuda" else "cpu",
            device_index=int(index or 0),
            compute_type=resolve_compute_type(compute_type, kind),
            cpu_threads=cpu_threads,
            num_workers=1,
        )
        default_batch = 8 if kind == "cpu" else 64
        self.pipeline = BatchTranscriber(
            Ct2WindowDecoder(self.model), BatchSettings(batch_size=batch_size or default_batch)
        )

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: ProgressCallback | None = None
    ) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        segments_iter, info = self.model.transcribe(
            audio,
            beam_size=options.beam_size,
            initial_prompt=options.initial_prompt or None,
            language=options.language,
            task=options.task,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
            temperature=list(options.temperature),
        )
        segments = []
        for seg in segments_iter:
            segments.append(_segment(seg))
            if progress is not None and duration > 0:
                progress(min(1.0, seg.end / duration))
        return Transcript(segments, info.language, info.language_probability, duration)


def _segment(seg) -> Segment:
    words = None
    if seg.words:
        words = [Word(start=w.start, end=w.end, word=w.word, probability=w.probability) for w in seg.words]
    return Segment(start=seg.start, end=seg.end, text=seg.text, words=words)
