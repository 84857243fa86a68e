"""Silero VAD in torch (the GPU path) gives the ONNX model's probabilities and chunks on real speech."""

from __future__ import annotations

import numpy as np

from gpu_runner import silero_torch, vad
from gpu_runner.audio import decode
from tests.speech import SPEECH_DIR


def _speech() -> list[np.ndarray]:
    reading = decode(SPEECH_DIR / "en_reading.wav")
    long = np.concatenate([reading, decode(SPEECH_DIR / "ru_ivr.wav"), reading, reading])  # 83 s: two slices
    return [long, decode(SPEECH_DIR / "en_ivr.ogg"), reading[:10_000]]


def test_weights_are_read_from_the_onnx_file_faster_whisper_bundles():
    weights, inputs = silero_torch.read_onnx(silero_torch.onnx_path())
    assert weights["encoder.feature_extractor.forward_basis_buffer"].shape == (258, 1, 256)
    assert weights["encoder.conv_layers.3.weight"].shape == (128, 64, 3)
    w, r, b = (weights[name].shape for name in inputs["LSTM"][1:4])
    assert (w, r, b) == ((1, 512, 128), (1, 512, 128), (1, 1024))


def test_torch_probabilities_are_the_onnx_models_for_audios_of_any_length_in_one_batch():
    audios = _speech()
    expected = vad.speech_probabilities_many(audios)
    got = vad.speech_probabilities_many(audios, device="cpu")
    assert [len(p) for p in got] == [len(p) for p in expected]
    for ours, theirs in zip(got, expected, strict=True):
        assert np.abs(ours - theirs).max() < 1e-4
    assert (expected[0] > 0.5).mean() > 0.5  # mostly speech: the comparison is not between silences


def test_the_same_speech_chunks_come_out():
    audios = _speech()
    assert vad.speech_chunks_many(audios, device="cpu")[0][0] == vad.speech_chunks_many(audios)[0][0]
