"""The CTranslate2 engine's batched path (the same windows and stitching as the torch engine)."""

from __future__ import annotations

from pathlib import Path

from gpu_runner.audio import decode
from gpu_runner.engines import TranscribeOptions, create_engine
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate
from whisperq import models


def test_jobs_batched_together_get_the_text_each_gets_alone():
    folder = models.model_folder(models.discover()["tiny.en"], Path.home() / ".cache" / "whisperq" / "models")
    engine = create_engine("ctranslate2", folder, device="cpu", compute_type="int8", cpu_threads=2)
    names = ["en_ivr.wav", "en_reading.wav"]
    jobs = [(decode(SPEECH_DIR / n), TranscribeOptions(word_timestamps=True)) for n in names]
    alone = [engine.transcribe_batch([job])[0] for job in jobs]
    together = engine.transcribe_batch(jobs)
    assert [t.text for t in together] == [t.text for t in alone]
    manifest = load_manifest()
    for name, transcript in zip(names, together, strict=True):
        assert word_error_rate(manifest[name]["text"], transcript.text, "en") <= 0.12, transcript.text
        words = [w for s in transcript.segments for w in s.words or []]
        assert words and all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))
    engine.close()
