"""Batched transcription of several jobs at once, independent of the model backend.

Each job's audio is cut into speech windows (VAD, at most 30 s, cut in silence); windows of all jobs
are decoded together, with timestamps; a window whose text ran past its last complete timestamp pair
goes on as a new window from there (as Whisper's sequential ``transcribe`` seeks), a window that
fails the compression-ratio or log-probability checks is decoded again at the next temperature, and
each job's segments are stitched back in time order.

The backend (torch or CTranslate2) only has to decode a list of windows: :class:`WindowDecoder`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, TypeVar

import numpy as np

from gpu_runner import device_memory, vad, windows
from gpu_runner.audio import SAMPLE_RATE
from gpu_runner.engines.base import BatchItemsFailed, ProgressCallback, TranscribeOptions, Transcript
from gpu_runner.stitch import PlacedSegment, RawSegment, parse_window, place, stitch
from whisperq.jobs import Segment, Word

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class DecodeRequest:
    """What one decode call shares across its windows (the decoder prompt is built from it)."""

    language: str | None
    task: str
    temperature: float
    beam_size: int
    best_of: int
    prompt: str | None = None


@dataclass
class WindowResult:
    tokens: list[int]  # sampled tokens, timestamps included, final EOT excluded
    avg_logprob: float
    no_speech_prob: float


class WindowDecoder(Protocol):
    multilingual: bool
    timestamp_begin: int

    def detect_language(self, audios: list[np.ndarray]) -> list[dict[str, float]]: ...

    def decode(
        self, audios: list[np.ndarray], request: DecodeRequest, prompts: list[str | None] | None = None
    ) -> list[WindowResult]:
        """``prompts``: one per window (they may differ); without it, ``request.prompt`` for all."""
        ...

    def text(self, tokens: list[int]) -> str: ...

    def add_words(self, audio: np.ndarray, segments: list[PlacedSegment], request: DecodeRequest) -> None: ...


@dataclass(frozen=True)
class BatchSettings:
    batch_size: int = 16  # windows per decode call
    window_s: float = windows.WINDOW_SECONDS
    use_vad: bool = True  # without it: fixed 30 s windows
    vad: vad.VadParams = field(default_factory=vad.VadParams)
    vad_device: str | None = None  # a torch device runs the VAD there (all slices in one batch); None: ONNX on CPU
    compression_ratio_threshold: float = 2.4
    logprob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    best_of: int = 5  # samples per window at a temperature above 0
    # A long segment with few tokens means the model skipped speech: decode that window again.
    sparse_segment_s: float = 10.0
    min_tokens_per_s: float = 1.0
    language_windows: int = 3  # a job's language is detected from its first windows


@dataclass
class _Item:
    audio: np.ndarray
    options: TranscribeOptions
    progress: ProgressCallback | None
    spans: list[windows.Span] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None
    segments: list[PlacedSegment] = field(default_factory=list)
    done_samples: int = 0
    error: BaseException | None = None

    @property
    def total_samples(self) -> int:
        return sum(s.length for s in self.spans)


@dataclass(frozen=True)
class _Work:
    item: int
    span: windows.Span
    temperature_index: int = 0


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class BatchTranscriber:
    def __init__(self, decoder: WindowDecoder, settings: BatchSettings = BatchSettings()):
        self.decoder = decoder
        self.settings = settings
        self.stats: Counter[str] = Counter()  # of the last batch: seconds per stage, windows, rounds, fallbacks

    # --- public ------------------------------------------------------------------------------
    def transcribe_batch(
        self,
        jobs: Sequence[tuple[np.ndarray, TranscribeOptions]],
        progress: Sequence[ProgressCallback | None] | None = None,
    ) -> list[Transcript]:
        """Transcripts in the order of ``jobs``. A job whose progress callback raises is dropped
        from the batch; the others finish, then :class:`BatchItemsFailed` carries both."""
        callbacks = list(progress) if progress is not None else [None] * len(jobs)
        items = [
            _Item(np.asarray(audio, np.float32), opts, cb) for (audio, opts), cb in zip(jobs, callbacks, strict=True)
        ]
        self.stats = Counter()
        started = time.perf_counter()
        self._plan(items)
        self.stats["vad_s"] = time.perf_counter() - started
        self._detect_languages(items)
        self.stats["language_s"] = time.perf_counter() - started - self.stats["vad_s"]
        pending = [_Work(i, span) for i, item in enumerate(items) for span in item.spans]
        self.stats["windows"] = len(pending)
        while pending:
            self.stats["rounds"] += 1
            pending = self._round(items, pending)
        self.stats["total_s"] = time.perf_counter() - started
        for item in items:
            self._report(item, 1.0)
        transcripts = [None if item.error else self._transcript(item) for item in items]
        errors = {i: item.error for i, item in enumerate(items) if item.error is not None}
        if errors:
            raise BatchItemsFailed(transcripts, errors)
        return transcripts  # type: ignore[return-value]

    # --- windows and language ----------------------------------------------------------------
    def _plan(self, items: list[_Item]) -> None:
        max_samples = int(self.settings.window_s * SAMPLE_RATE)
        if not self.settings.use_vad:
            for item in items:
                item.spans = windows.fixed_windows(len(item.audio), max_samples)
            return
        audios = [item.audio for item in items]
        found = vad.speech_chunks_many(audios, self.settings.vad, device=self.settings.vad_device)
        for item, (chunks, probs) in zip(items, found, strict=True):
            item.spans = windows.plan_windows(chunks, len(item.audio), max_samples, probs, vad.FRAME)

    def _detect_languages(self, items: list[_Item]) -> None:
        need = []
        for index, item in enumerate(items):
            if item.options.language:
                item.language, item.language_probability = item.options.language, 1.0
            elif not self.decoder.multilingual:
                item.language, item.language_probability = "en", 1.0
            elif item.spans:
                need.append(index)
        clips = [(i, self._slice(items[i], s)) for i in need for s in items[i].spans[: self.settings.language_windows]]
        probs: dict[int, list[dict[str, float]]] = defaultdict(list)
        for start in range(0, len(clips), self.settings.batch_size):
            part = clips[start : start + self.settings.batch_size]
            detected = self._halving_on_oom(self.decoder.detect_language, [c for _, c in part])
            for (i, _), p in zip(part, detected, strict=True):
                probs[i].append(p)
        for i in need:
            mean = {lang: float(np.mean([p[lang] for p in probs[i]])) for lang in probs[i][0]}
            items[i].language = max(mean, key=mean.get)
            items[i].language_probability = mean[items[i].language]

    # --- decoding rounds ---------------------------------------------------------------------
    def _request(self, item: _Item, temperature_index: int) -> DecodeRequest:
        temperatures = item.options.temperature or (0.0,)
        temperature = temperatures[min(temperature_index, len(temperatures) - 1)]
        return DecodeRequest(
            language=item.language,
            task=item.options.task,
            temperature=temperature,
            beam_size=item.options.beam_size if temperature == 0 else 1,
            best_of=self.settings.best_of if temperature > 0 else 1,
            prompt=item.options.initial_prompt or None,
        )

    def _round(self, items: list[_Item], pending: list[_Work]) -> list[_Work]:
        # Windows with different prompts share a batch: the decoder takes one prompt per window.
        groups: dict[DecodeRequest, list[_Work]] = defaultdict(list)
        for work in pending:
            if items[work.item].error is None:
                request = replace(self._request(items[work.item], work.temperature_index), prompt=None)
                groups[request].append(work)
        following: list[_Work] = []
        for request, works in groups.items():
            for start in range(0, len(works), self.settings.batch_size):
                batch = [w for w in works[start : start + self.settings.batch_size] if items[w.item].error is None]
                if not batch:
                    continue
                audios = [self._slice(items[w.item], w.span) for w in batch]
                prompts = [items[w.item].options.initial_prompt or None for w in batch]
                windows_and_prompts = list(zip(audios, prompts, strict=True))
                results = self._halving_on_oom(partial(self._decode, request, any(prompts)), windows_and_prompts)
                for work, prompt, result in zip(batch, prompts, results, strict=True):
                    following.extend(self._settle(items, work, result, replace(request, prompt=prompt)))
                for index in {w.item for w in batch}:
                    item = items[index]
                    self._report(item, item.done_samples / max(1, item.total_samples))
        return following

    def _decode(
        self, request: DecodeRequest, with_prompts: bool, windows_and_prompts: list[tuple[np.ndarray, str | None]]
    ) -> list[WindowResult]:
        audios = [audio for audio, _ in windows_and_prompts]
        prompts = [prompt for _, prompt in windows_and_prompts] if with_prompts else None
        return self.decoder.decode(audios, request, prompts)

    def _settle(self, items: list[_Item], work: _Work, result: WindowResult, request: DecodeRequest) -> list[_Work]:
        item, s = items[work.item], self.settings
        if item.error is not None:
            return []
        silent = result.no_speech_prob > s.no_speech_threshold and result.avg_logprob < s.logprob_threshold
        duration = work.span.length / SAMPLE_RATE
        parsed = parse_window(result.tokens, self.decoder.timestamp_begin, duration)
        failed = (
            compression_ratio(self.decoder.text(result.tokens)) > s.compression_ratio_threshold
            or result.avg_logprob < s.logprob_threshold
            or any(self._sparse(seg) for seg in parsed.segments)
        )
        if failed and not silent and work.temperature_index + 1 < len(item.options.temperature):
            self.stats["fallbacks"] += 1
            return [replace(work, temperature_index=work.temperature_index + 1)]
        if silent:
            item.done_samples += work.span.length
            return []
        placed = place(parsed.segments, work.span.start / SAMPLE_RATE)
        for seg in placed:
            seg.text = self.decoder.text(seg.tokens)
            seg.avg_logprob, seg.no_speech_prob, seg.temperature = (
                result.avg_logprob, result.no_speech_prob, request.temperature,
            )  # fmt: skip
        placed = [seg for seg in placed if seg.text.strip()]
        if item.options.word_timestamps and placed:
            self.decoder.add_words(self._slice(item, work.span), placed, request)
        item.segments.extend(placed)
        if parsed.resume_at is None:
            item.done_samples += work.span.length
            return []
        self.stats["continuations"] += 1
        resume = work.span.start + int(round(parsed.resume_at * SAMPLE_RATE))
        item.done_samples += resume - work.span.start
        return [_Work(work.item, windows.Span(resume, work.span.end))]

    # --- helpers -----------------------------------------------------------------------------
    def _halving_on_oom(self, run: Callable[[list[T]], list[R]], inputs: list[T]) -> list[R]:
        """``run(inputs)``; while the device runs out of memory, in two halves, and later batches
        keep the smaller size (the auto size is only an estimate of what fits)."""
        try:
            return run(inputs)
        except Exception as exc:
            if len(inputs) <= 1 or not device_memory.is_out_of_memory(exc):
                raise
            log.warning("out of memory decoding %d windows together; trying halves", len(inputs))
        half = (len(inputs) + 1) // 2
        self.stats["oom_splits"] += 1
        self.settings = replace(self.settings, batch_size=max(1, min(self.settings.batch_size, half)))
        return self._halving_on_oom(run, inputs[:half]) + self._halving_on_oom(run, inputs[half:])

    def _sparse(self, segment: RawSegment) -> bool:
        length, s = segment.end - segment.start, self.settings
        return length >= s.sparse_segment_s and len(segment.tokens) < s.min_tokens_per_s * length

    @staticmethod
    def _slice(item: _Item, span: windows.Span) -> np.ndarray:
        return item.audio[span.start : span.end]

    @staticmethod
    def _report(item: _Item, fraction: float) -> None:
        if item.progress is None or item.error is not None:
            return
        try:
            item.progress(min(1.0, fraction))
        except Exception as exc:  # noqa: BLE001 - a cancelled job leaves the batch, the others go on
            item.error = exc

    @staticmethod
    def _transcript(item: _Item) -> Transcript:
        segments = [_segment(p) for p in stitch(item.segments)]
        return Transcript(segments, item.language, item.language_probability, len(item.audio) / SAMPLE_RATE)


def _segment(placed: PlacedSegment) -> Segment:
    words = None
    if placed.words is not None:
        words = [
            Word(start=w["start"], end=w["end"], word=w["word"], probability=w.get("probability")) for w in placed.words
        ]
    return Segment(start=placed.start, end=placed.end, text=placed.text, words=words)
