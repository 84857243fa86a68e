from __future__ import annotations

import math
import wave

import numpy as np
import pytest

from gpu_runner.audio import (
    AudioDecodeError,
    atempo_chain,
    decode,
    decode_with_ffmpeg,
    read_model_ready_wav,
    to_original_time,
)
from tests.speech import SPEECH_DIR


@pytest.mark.parametrize("speed", [0.25, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
def test_atempo_chain_multiplies_to_speed_within_filter_limits(speed: float):
    chain = atempo_chain(speed)
    assert all(0.5 <= f <= 2.0 for f in chain)
    assert math.isclose(math.prod(chain), speed, rel_tol=1e-9)


def test_atempo_chain_refuses_non_positive():
    with pytest.raises(ValueError):
        atempo_chain(0)


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5, 3.0])
def test_decode_speeds_up_and_maps_back(speed: float):
    audio = decode(SPEECH_DIR / "en_ivr.wav", up_speed=speed)
    assert audio.dtype == np.float32
    original = 14.87
    assert abs(len(audio) / 16000 - original / speed) < 0.1
    assert abs(to_original_time(len(audio) / 16000, speed) - original) < 0.15


def test_opus_at_48k_decodes_to_16k_mono():
    wav = decode(SPEECH_DIR / "en_ivr.wav")
    ogg = decode(SPEECH_DIR / "en_ivr.ogg")
    assert abs(len(ogg) - len(wav)) < 16000 * 0.1


def test_garbage_is_a_clear_decode_error(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio" * 500)
    with pytest.raises(AudioDecodeError, match="^cannot decode audio: "):
        decode(junk)


def _write_wav(path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())


def test_model_ready_wav_is_read_directly_to_the_samples_ffmpeg_gives():
    path = SPEECH_DIR / "en_reading.wav"  # 16 kHz mono 16-bit: the direct path
    direct = read_model_ready_wav(path)
    assert direct is not None
    assert np.array_equal(direct, decode_with_ffmpeg(path))
    assert np.array_equal(decode(path), direct)


def test_other_wavs_go_through_ffmpeg(tmp_path):
    assert read_model_ready_wav(SPEECH_DIR / "en_ivr.wav") is None  # 8 kHz
    stereo = tmp_path / "stereo.wav"
    _write_wav(stereo, np.zeros(32000, np.int16), channels=2)
    assert read_model_ready_wav(stereo) is None
    assert len(decode(stereo)) == 16000


def test_a_damaged_wav_still_gets_ffmpegs_verdict(tmp_path):
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes((SPEECH_DIR / "en_reading.wav").read_bytes()[:30])  # header cut short
    assert read_model_ready_wav(truncated) is None
    with pytest.raises(AudioDecodeError, match="^cannot decode audio: "):
        decode(truncated)
