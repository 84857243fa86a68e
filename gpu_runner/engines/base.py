"""What every engine takes and returns."""

from __future__ import annotations

import gc
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from whisperq.jobs import Segment

ProgressCallback = Callable[[float], None]  # fraction 0..1 of the audio done


@dataclass(frozen=True)
class TranscribeOptions:
    beam_size: int = 5
    initial_prompt: str | None = None
    language: str | None = None
    task: str = "transcribe"
    word_timestamps: bool = False
    vad_filter: bool = False  # skip silence (Silero VAD); times stay on the input's timeline
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class Transcript:
    segments: list[Segment]
    language: str | None
    language_probability: float | None
    duration: float  # seconds of the audio as decoded (after up_speed)
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = " ".join(s.text.strip() for s in self.segments if s.text.strip())


class BatchItemsFailed(Exception):
    """Some jobs of a batch failed (their progress callback raised, e.g. on cancel); the others finished."""

    def __init__(self, transcripts: list[Transcript | None], errors: dict[int, BaseException]):
        super().__init__(f"{len(errors)} of {len(transcripts)} jobs of the batch failed")
        self.transcripts = transcripts
        self.errors = errors


class Engine(ABC):
    name: str

    @abstractmethod
    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: ProgressCallback | None = None
    ) -> Transcript: ...

    def transcribe_batch(
        self,
        items: Sequence[tuple[np.ndarray, TranscribeOptions]],
        progress_per_item: Sequence[ProgressCallback | None] | None = None,
    ) -> list[Transcript]:
        """Several jobs at once, results in order. This default runs them one by one; engines that
        batch across jobs override it. A job whose progress callback raises is left out and the
        others still run; :class:`BatchItemsFailed` then carries both."""
        callbacks = list(progress_per_item) if progress_per_item is not None else [None] * len(items)
        transcripts: list[Transcript | None] = []
        errors: dict[int, BaseException] = {}
        for index, ((audio, options), progress) in enumerate(zip(items, callbacks, strict=True)):
            try:
                transcripts.append(self.transcribe(audio, options, progress))
            except Exception as exc:  # noqa: BLE001 - one job's failure must not sink the batch
                transcripts.append(None)
                errors[index] = exc
        if errors:
            raise BatchItemsFailed(transcripts, errors)
        return transcripts  # type: ignore[return-value]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model's memory."""


class BatchRunner(Protocol):
    def transcribe_batch(
        self,
        items: Sequence[tuple[np.ndarray, TranscribeOptions]],
        progress_per_item: Sequence[ProgressCallback | None] | None = None,
    ) -> list[Transcript]: ...


class BatchedEngine(Engine):
    """An engine whose jobs, several at once, go through the shared batched pipeline
    (:class:`gpu_runner.batch_pipeline.BatchTranscriber`, set as ``self.pipeline``)."""

    pipeline: BatchRunner | None
    model: Any

    def transcribe_batch(
        self,
        items: Sequence[tuple[np.ndarray, TranscribeOptions]],
        progress_per_item: Sequence[ProgressCallback | None] | None = None,
    ) -> list[Transcript]:
        assert self.pipeline is not None, "the engine is closed"
        return self.pipeline.transcribe_batch(items, progress_per_item)

    def close(self) -> None:
        self.pipeline = None
        self.model = None
        gc.collect()
        self.release_device_cache()

    def release_device_cache(self) -> None:  # noqa: B027 - optional hook
        """Hand memory that the framework keeps cached back to the device (torch on CUDA)."""
