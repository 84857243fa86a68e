"""The batched pipeline with a scripted decoder: rounds, continuation, fallback, silence, language, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_runner.batch_pipeline import BatchSettings, BatchTranscriber, DecodeRequest, WindowResult
from gpu_runner.engines import BatchItemsFailed, TranscribeOptions, default_engine_name

S = 16000
TS = 50363


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


class ScriptedDecoder:
    """Each window's first sample is a code saying what the "model" answers for it."""

    multilingual = True
    timestamp_begin = TS

    def __init__(self):
        self.calls: list[tuple[DecodeRequest, list[float]]] = []
        self.prompts: list[list[str | None] | None] = []
        self.detected: list[float] = []

    def detect_language(self, audios):
        self.detected += [float(a[0]) for a in audios]
        return [{"en": 0.3, "ru": 0.7} if a[0] == 4 else {"en": 0.8, "ru": 0.2} for a in audios]

    def decode(self, audios, request, prompts=None):
        self.calls.append((request, [float(a[0]) for a in audios]))
        self.prompts.append(prompts)
        return [self._answer(float(a[0]), request) for a in audios]

    @staticmethod
    def _answer(code: float, request: DecodeRequest) -> WindowResult:
        if code == 1:  # the second segment runs past the window's end of decoding: go on from 3.0 s
            return WindowResult([ts(0), 1, ts(3), ts(3.2), 2], -0.2, 0.01)
        if code == 2 and request.temperature == 0:  # a repetition loop
            return WindowResult([ts(0), *[9] * 60, ts(20)], -0.1, 0.01)
        if code == 8 and request.temperature == 0:  # 20 s of speech as two tokens: speech was skipped
            return WindowResult([ts(0), 1, 2, ts(20)], -0.1, 0.01)
        if code == 3:  # silence
            return WindowResult([ts(0), 7, ts(1)], -2.0, 0.9)
        return WindowResult([ts(0), 5 + int(code), ts(1)], -0.1, 0.01)

    def text(self, tokens):
        return " ".join(f"w{t}" for t in tokens if t < TS)

    def add_words(self, audio, segments, request):
        raise AssertionError("not asked for")


def audio_with(codes: list[int]) -> np.ndarray:
    audio = np.zeros(len(codes) * 30 * S, np.float32)
    for i, code in enumerate(codes):
        audio[i * 30 * S] = code
    return audio


def run(jobs, progress=None, batch_size=16):
    decoder = ScriptedDecoder()
    transcriber = BatchTranscriber(decoder, BatchSettings(batch_size=batch_size, use_vad=False))
    return decoder, transcriber.transcribe_batch(jobs, progress)


def test_unfinished_window_continues_from_its_last_timestamp_in_the_next_round():
    decoder, [transcript] = run([(audio_with([1]), TranscribeOptions(language="en"))])
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [(0.0, 3.0, "w1"), (3.0, 4.0, "w5")]
    assert [codes for _, codes in decoder.calls] == [[1.0], [0.0]]


def test_a_failing_window_falls_back_to_sampling_at_the_next_temperature():
    decoder, [transcript] = run([(audio_with([2]), TranscribeOptions(language="en", beam_size=5))])
    assert transcript.text == "w7"
    requests = [request for request, _ in decoder.calls]
    assert [(r.temperature, r.beam_size, r.best_of) for r in requests] == [(0.0, 5, 1), (0.2, 1, 5)]


def test_a_long_segment_with_too_few_tokens_is_decoded_again():
    decoder, [transcript] = run([(audio_with([8]), TranscribeOptions(language="en"))])
    assert transcript.text == "w13"
    assert [r.temperature for r, _ in decoder.calls] == [0.0, 0.2]


def test_silent_windows_are_skipped_without_fallback():
    decoder, [transcript] = run([(audio_with([3, 0]), TranscribeOptions(language="en"))])
    assert transcript.text == "w5" and transcript.segments[0].start == 30.0
    assert len(decoder.calls) == 1


def test_windows_of_several_jobs_share_decode_calls_and_results_keep_job_order():
    jobs = [(audio_with([0, 0]), TranscribeOptions(language="en")), (audio_with([6]), TranscribeOptions(language="en"))]
    decoder, transcripts = run(jobs, batch_size=3)
    assert [codes for _, codes in decoder.calls] == [[0.0, 0.0, 6.0]]
    assert [t.text for t in transcripts] == ["w5 w5", "w11"]
    assert transcripts[1].duration == 30.0


def test_jobs_with_different_prompts_share_a_decode_call_with_one_prompt_each():
    jobs = [
        (audio_with([0]), TranscribeOptions(language="en", initial_prompt="Asterisk")),
        (audio_with([0]), TranscribeOptions(language="en")),
        (audio_with([0]), TranscribeOptions(language="en", initial_prompt="Dashwood")),
    ]
    decoder, _ = run(jobs)
    assert len(decoder.calls) == 1 and decoder.calls[0][0].prompt is None
    assert decoder.prompts == [["Asterisk", None, "Dashwood"]]


def test_language_is_detected_per_job_from_its_first_windows():
    jobs = [
        (audio_with([4, 4, 0, 0]), TranscribeOptions()),
        (audio_with([0]), TranscribeOptions()),
        (audio_with([4]), TranscribeOptions(language="de")),
    ]
    decoder, transcripts = run(jobs)
    assert [t.language for t in transcripts] == ["ru", "en", "de"]
    assert transcripts[0].language_probability == pytest.approx((0.7 + 0.7 + 0.2) / 3)
    assert decoder.detected == [4.0, 4.0, 0.0, 0.0]  # three windows of the first job, one of the second
    assert {r.language for r, _ in decoder.calls} == {"ru", "en", "de"}


def test_a_job_whose_progress_raises_leaves_the_batch_and_the_others_finish():
    def cancel(fraction):
        raise RuntimeError("job is cancelled")

    jobs = [(audio_with([0]), TranscribeOptions(language="en")), (audio_with([0]), TranscribeOptions(language="en"))]
    with pytest.raises(BatchItemsFailed) as failed:
        run(jobs, progress=[None, cancel])
    assert failed.value.transcripts[0].text == "w5" and failed.value.transcripts[1] is None
    assert str(failed.value.errors[1]) == "job is cancelled"


class DecoderWithLittleMemory(ScriptedDecoder):
    """Runs out of device memory (as torch and CTranslate2 say it) above ``fits`` windows per call."""

    def __init__(self, fits: int):
        super().__init__()
        self.fits = fits

    def decode(self, audios, request, prompts=None):
        if len(audios) > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().decode(audios, request, prompts)

    def detect_language(self, audios):
        if len(audios) > self.fits:
            raise MemoryError()
        return super().detect_language(audios)


def test_out_of_memory_halves_the_batch_and_later_batches_stay_small():
    decoder = DecoderWithLittleMemory(fits=2)
    transcriber = BatchTranscriber(decoder, BatchSettings(batch_size=8, use_vad=False))
    jobs = [(audio_with([0, 6, 0]), TranscribeOptions(language="en")), (audio_with([1, 4]), TranscribeOptions())]
    transcripts = transcriber.transcribe_batch(jobs)
    assert [t.text for t in transcripts] == ["w5 w11 w5", "w1 w5 w9"]  # as with memory to spare
    assert [len(codes) for _, codes in decoder.calls] == [2, 1, 2, 1]  # 5 windows: 2 + (1 + 2); a continuation
    assert transcriber.settings.batch_size == 2 and transcriber.stats["oom_splits"] == 2


def test_other_decoder_errors_are_not_retried_in_halves():
    class Broken(ScriptedDecoder):
        def decode(self, audios, request, prompts=None):
            raise ValueError("bad tokenizer")

    transcriber = BatchTranscriber(Broken(), BatchSettings(batch_size=8, use_vad=False))
    with pytest.raises(ValueError, match="bad tokenizer"):
        transcriber.transcribe_batch([(audio_with([0, 0]), TranscribeOptions(language="en"))])
    assert transcriber.stats["oom_splits"] == 0


def test_default_engine_is_ctranslate2_on_cpu_and_torch_on_cuda_when_installed(monkeypatch):
    from gpu_runner import engines

    assert default_engine_name("cpu") == "ctranslate2"
    monkeypatch.setattr(engines, "torch_available", lambda: True)
    assert engines.default_engine_name("cuda:1") == "torch"
    monkeypatch.setattr(engines, "torch_available", lambda: False)
    assert engines.default_engine_name("cuda:0") == "ctranslate2"
