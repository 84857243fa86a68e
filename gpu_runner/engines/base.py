"""What every engine takes and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

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


class Engine(ABC):
    name: str

    @abstractmethod
    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: ProgressCallback | None = None
    ) -> Transcript: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model's memory."""
