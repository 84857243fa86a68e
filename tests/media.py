"""Test media made from the committed speech clips: video containers and multi-channel files."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gpu_runner.audio import decode

# container -> (video codec, audio codec, audio sample rate)
VIDEO_FORMATS = {
    "mp4": ("mpeg4", "aac", 16000),
    "mov": ("mpeg4", "aac", 16000),
    "mkv": ("libvpx", "libopus", 48000),
    "webm": ("libvpx", "libopus", 48000),
}


def make_video(source: Path, dest: Path) -> Path:
    """A small video (a moving grey square) with ``source`` as its sound track."""
    video_codec, audio_codec, rate = VIDEO_FORMATS[dest.suffix.lstrip(".")]
    samples = (decode(source) * 32767).astype(np.int16)
    if rate != 16000:
        samples = np.repeat(samples, rate // 16000)
    with av.open(str(dest), "w") as out:
        video = out.add_stream(video_codec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(audio_codec, rate=rate)
        audio.layout = "mono"
        seconds = len(samples) / rate
        for n in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (n * 7) % 255, np.uint8), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        chunk = 1024
        for start in range(0, len(samples), chunk):
            piece = samples[start : start + chunk]
            frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return dest


def _to_8k(samples: np.ndarray) -> np.ndarray:
    even = samples[: len(samples) // 2 * 2]
    return (even[0::2] + even[1::2]) / 2  # averaging pairs: a crude low-pass, fine for telephone speech


def make_stereo(left: Path, right: Path, dest: Path, right_delay_s: float) -> Path:
    """Two speakers on two 8 kHz channels (as in call recordings): ``left`` from the start,
    ``right`` after ``right_delay_s``."""
    a = _to_8k(decode(left))
    b = np.concatenate([np.zeros(int(right_delay_s * 8000), np.float32), _to_8k(decode(right))])
    length = max(len(a), len(b))
    pcm = np.zeros((length, 2), np.int16)
    pcm[: len(a), 0] = (a * 32767).astype(np.int16)
    pcm[: len(b), 1] = (b * 32767).astype(np.int16)
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())
    return dest
