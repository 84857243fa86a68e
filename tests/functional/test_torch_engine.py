"""The torch engine on CPU with the packaged weights (CTranslate2 folders mapped at load time)."""

from __future__ import annotations

import gc
import re
import weakref
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("whisper")

from gpu_runner.audio import decode  # noqa: E402
from gpu_runner.batch_pipeline import DecodeRequest  # noqa: E402
from gpu_runner.engines import TranscribeOptions, create_engine  # noqa: E402
from gpu_runner.engines.torch_engine import TorchEngine  # noqa: E402
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate  # noqa: E402
from whisperq import models  # noqa: E402

CACHE = Path.home() / ".cache" / "whisperq" / "models"
THREADS = 2


def folder(name: str) -> Path:
    return models.model_folder(models.discover()[name], CACHE)


def clip(name: str):
    return decode(SPEECH_DIR / name)


def wer(name: str, text: str) -> float:
    entry = load_manifest()[name]
    return word_error_rate(entry["text"], text, entry["language"])


@pytest.fixture(scope="module")
def tiny() -> TorchEngine:
    engine = create_engine("torch", folder("tiny.en"), device="cpu", cpu_threads=THREADS)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def base() -> TorchEngine:
    engine = TorchEngine(folder("base"), device="cpu", cpu_threads=THREADS)
    yield engine
    engine.close()


def test_mapped_weights_decode_exactly_like_ctranslate2(tiny: TorchEngine):
    from faster_whisper import WhisperModel

    from gpu_runner.engines.ctranslate2_windows import Ct2WindowDecoder

    reference = Ct2WindowDecoder(WhisperModel(str(folder("tiny.en")), device="cpu", compute_type="float32"))
    request = DecodeRequest("en", "transcribe", 0.0, beam_size=1, best_of=1)
    audio = clip("en_ivr.wav")
    ours, theirs = tiny.decode([audio], request)[0], reference.decode([audio], request)[0]
    assert ours.tokens == theirs.tokens
    assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-4)
    assert ours.no_speech_prob == pytest.approx(theirs.no_speech_prob, abs=1e-4)


def test_windows_with_different_prompts_decode_together_as_openai_whisper_decodes_each(tiny: TorchEngine):
    """Beam search over a batch whose prompts differ in length (left-padded, masked) gives, window by
    window, the tokens and scores of openai-whisper's own ``decode`` on that window alone."""
    import whisper

    ivr, reading = clip("en_ivr.wav"), clip("en_reading.wav")
    audios, prompts = [ivr, reading, ivr], ["Phone prompts: password, pound key.", None, "Hello."]
    request = DecodeRequest("en", "transcribe", 0.0, beam_size=5, best_of=1)
    together = tiny.decode(audios, request, prompts)
    mels = tiny._mels(audios)
    for mel, prompt, ours in zip(mels, prompts, together, strict=True):
        options = whisper.DecodingOptions(language="en", beam_size=5, prompt=prompt, fp16=False)
        theirs = whisper.decode(tiny.model, mel, options)
        assert ours.tokens == list(theirs.tokens)
        assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-4)
        assert ours.no_speech_prob == pytest.approx(theirs.no_speech_prob, abs=1e-4)


def test_real_speech_within_word_error_bound_and_same_text_alone_or_batched(tiny: TorchEngine):
    names = ["en_reading.wav", "en_ivr.wav"]
    audios = [clip(n) for n in names]
    alone = [tiny.transcribe(a, TranscribeOptions()) for a in audios]
    for name, transcript in zip(names, alone, strict=True):
        assert wer(name, transcript.text) <= 0.12, transcript.text
        assert transcript.language == "en"
    fractions: list[list[float]] = [[], []]
    together = tiny.transcribe_batch(
        [(a, TranscribeOptions()) for a in audios], [fractions[0].append, fractions[1].append]
    )
    assert [t.text for t in together] == [t.text for t in alone]
    assert [[(s.start, s.end) for s in t.segments] for t in together] == [
        [(s.start, s.end) for s in t.segments] for t in alone
    ]
    assert all(f and f[-1] == 1.0 and f == sorted(f) for f in fractions)


def test_word_timestamps_are_monotonic_and_inside_the_audio(tiny: TorchEngine):
    audio = clip("en_ivr.wav")
    transcript = tiny.transcribe(audio, TranscribeOptions(word_timestamps=True, beam_size=1))
    words = [w for s in transcript.segments for w in s.words or []]
    assert len(words) >= 30
    assert " ".join(w.word.strip() for w in words) == transcript.text
    times = [t for w in words for t in (w.start, w.end)]
    assert times == sorted(times)
    assert times[0] >= 0.0 and times[-1] <= len(audio) / 16000 + 0.02
    assert all(0.0 <= w.probability <= 1.0 for w in words)


def test_openai_whisper_checkpoint_loads_and_transcribes_the_same(tiny: TorchEngine, tmp_path: Path):
    checkpoint = tmp_path / "tiny.en.pt"
    dims = tiny.model.dims.__dict__
    torch.save({"dims": dims, "model_state_dict": tiny.model.state_dict()}, checkpoint)
    engine = TorchEngine(checkpoint, device="cpu", cpu_threads=THREADS)
    options = TranscribeOptions(beam_size=1)
    audio = clip("en_ivr.wav")
    assert engine.transcribe(audio, options).text == tiny.transcribe(audio, options).text
    engine.close()


def test_base_detects_russian_and_translates_it_to_english(base: TorchEngine):
    audio = clip("ru_ivr.wav")
    transcript = base.transcribe(audio, TranscribeOptions())
    assert transcript.language == "ru" and transcript.language_probability > 0.8
    assert wer("ru_ivr.wav", transcript.text) <= 0.2, transcript.text
    english = base.transcribe(audio, TranscribeOptions(task="translate", language="ru", beam_size=1))
    assert english.text and not re.search("[а-яА-ЯёЁ]", english.text)
    assert re.search(r"\b(please|call|line|password|moment)\b", english.text, re.I), english.text


def test_float16_weights_as_on_cuda_give_the_same_words():
    """The CUDA precision (float16 weights, float32 layer norms) run on CPU: same text, word times."""
    engine = TorchEngine(folder("tiny.en"), device="cpu", cpu_threads=THREADS, dtype=torch.float16)
    assert engine.model.decoder.token_embedding.weight.dtype == torch.float16
    assert engine.model.decoder.ln.weight.dtype == torch.float32
    transcript = engine.transcribe(clip("en_ivr.wav"), TranscribeOptions(beam_size=1, word_timestamps=True))
    assert wer("en_ivr.wav", transcript.text) <= 0.12, transcript.text
    assert transcript.segments[0].words
    engine.close()


def test_unloading_frees_the_model():
    engine = TorchEngine(folder("tiny.en"), device="cpu", cpu_threads=THREADS)
    model = weakref.ref(engine.model)
    engine.close()
    gc.collect()
    assert model() is None


def test_batched_log_mels_equal_openai_whispers_per_window():
    import numpy as np
    from whisper.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim

    from gpu_runner.engines.torch_mel import window_mels

    reading, ivr = clip("en_reading.wav"), clip("en_ivr.wav")
    noise = np.random.default_rng(0).normal(0, 0.1, N_SAMPLES).astype(np.float32)
    windows = [reading, ivr, np.concatenate([reading, ivr])[:N_SAMPLES], reading[:1000], np.zeros(16000), noise]
    batched = window_mels(windows, 80, torch.device("cpu"))
    for row, audio in enumerate(windows):
        samples = torch.from_numpy(np.asarray(audio, dtype=np.float32))
        mel = log_mel_spectrogram(samples, 80, padding=N_SAMPLES)
        alone = pad_or_trim(mel[:, : len(audio) // HOP_LENGTH], N_FRAMES)
        torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=0)
