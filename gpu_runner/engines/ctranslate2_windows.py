"""Windows decoded in batches by CTranslate2, for :class:`gpu_runner.batch_pipeline.BatchTranscriber`.

The same windows, fallback and stitching as the torch engine; CTranslate2's ``generate`` applies
Whisper's timestamp rules itself when the prompt leaves out ``<|notimestamps|>``.
"""

from __future__ import annotations

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from gpu_runner.batch_pipeline import DecodeRequest, WindowResult
from gpu_runner.stitch import PlacedSegment, apply_word_times

N_SAMPLES = 480_000
N_FRAMES = 3000
HOP = 160
MAX_LENGTH = 448
PUNCT_BEFORE = "\"'“¿([{-"
PUNCT_AFTER = "\"'.。,，!！?？:：”)]}、"


class Ct2WindowDecoder:
    def __init__(self, model: WhisperModel):
        self.model = model
        self.multilingual = model.model.is_multilingual
        self._tokenizers: dict[tuple[str | None, str], Tokenizer] = {}
        self._base = self._tokenizer(None, "transcribe")
        self.timestamp_begin = self._base.timestamp_begin

    def detect_language(self, audios: list[np.ndarray]) -> list[dict[str, float]]:
        results = self.model.model.detect_language(self._encode(audios))
        return [{token[2:-2]: prob for token, prob in pairs} for pairs in results]

    def decode(
        self, audios: list[np.ndarray], request: DecodeRequest, prompts: list[str | None] | None = None
    ) -> list[WindowResult]:
        tokenizer = self._tokenizer(request.language, request.task)
        texts = prompts if prompts is not None else [request.prompt] * len(audios)
        prompt_tokens = [self._prompt(tokenizer, text) for text in texts]
        # CTranslate2 wants SOT at one position across a batch: one generate call per prompt length.
        by_length: dict[int, list[int]] = {}
        for index, tokens in enumerate(prompt_tokens):
            by_length.setdefault(len(tokens), []).append(index)
        out: list[WindowResult | None] = [None] * len(audios)
        for indexes in by_length.values():
            parts = self._generate([audios[i] for i in indexes], [prompt_tokens[i] for i in indexes], request)
            for index, result in zip(indexes, parts, strict=True):
                out[index] = result
        return out  # type: ignore[return-value]

    def _generate(self, audios: list[np.ndarray], prompts: list[list[int]], request: DecodeRequest):
        if request.temperature > 0:
            search = {"beam_size": 1, "num_hypotheses": request.best_of, "sampling_topk": 0}
            search["sampling_temperature"] = request.temperature
        else:
            search = {"beam_size": request.beam_size, "patience": 1.0}
        results = self.model.model.generate(
            self._encode(audios),
            prompts,
            max_length=MAX_LENGTH,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
            max_initial_timestamp_index=50,
            **search,
        )
        out = []
        for result in results:
            tokens = list(result.sequences_ids[0])
            # CTranslate2 returns the length-normalised score: back to whisper's avg_logprob.
            out.append(WindowResult(tokens, result.scores[0] * len(tokens) / (len(tokens) + 1), result.no_speech_prob))
        return out

    @staticmethod
    def _prompt(tokenizer: Tokenizer, text: str | None) -> list[int]:
        if not text:
            return list(tokenizer.sot_sequence)
        return [tokenizer.sot_prev, *tokenizer.encode(" " + text.strip())[-223:], *tokenizer.sot_sequence]

    def text(self, tokens: list[int]) -> str:
        return self._base.decode([t for t in tokens if t < self._base.eot])

    def add_words(self, audio: np.ndarray, segments: list[PlacedSegment], request: DecodeRequest) -> None:
        relative = [
            {"seek": 0, "start": s.start - s.window_start, "end": s.end - s.window_start, "tokens": s.tokens}
            for s in segments
        ]
        self.model.add_word_timestamps(
            [relative], self._tokenizer(request.language, request.task), self._encode([audio]),
            len(audio) // HOP, PUNCT_BEFORE, PUNCT_AFTER, 0.0,
        )  # fmt: skip
        apply_word_times(segments, relative)

    def _tokenizer(self, language: str | None, task: str) -> Tokenizer:
        # Cached on the decoder, not the module: a module cache would keep an unloaded model alive.
        key = (language, task)
        if key not in self._tokenizers:
            self._tokenizers[key] = _make_tokenizer(self.model, self.multilingual, language, task)
        return self._tokenizers[key]

    def _encode(self, audios: list[np.ndarray]):
        features = np.stack([self._mel(a) for a in audios])
        return self.model.encode(features)

    def _mel(self, audio: np.ndarray) -> np.ndarray:
        """As openai-whisper's ``transcribe`` makes its last window: audio padded with 30 s of silence,
        frames past the audio set to zero."""
        audio = np.ascontiguousarray(audio[:N_SAMPLES], dtype=np.float32)
        mel = self.model.feature_extractor(audio, padding=N_SAMPLES)[:, : len(audio) // HOP]
        return np.pad(mel, ((0, 0), (0, N_FRAMES - mel.shape[1]))).astype(np.float32)


def _make_tokenizer(model: WhisperModel, multilingual: bool, language: str | None, task: str) -> Tokenizer:
    if not multilingual:
        return Tokenizer(model.hf_tokenizer, False, task=None, language=None)
    return Tokenizer(model.hf_tokenizer, True, task=task, language=language or "en")
