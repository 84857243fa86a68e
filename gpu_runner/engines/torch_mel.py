"""Log-mel spectrograms of many windows in one STFT (openai-whisper's features, batched).

openai-whisper's ``log_mel_spectrogram`` takes one signal and normalises by its global maximum, so a
batch through it would share one maximum. Here each window is normalised by its own, and each comes out
as whisper's ``transcribe`` makes its last window: the log-mel of the audio followed by silence, the
frames after the audio set to zero.
"""

from __future__ import annotations

import numpy as np
import torch
from whisper.audio import HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES, mel_filters

CHUNK = 64  # windows per STFT call (bounds the complex spectrogram's memory)


def window_mels(audios: list[np.ndarray], n_mels: int, device: torch.device) -> torch.Tensor:
    """(windows, n_mels, 3000) float32 for windows of at most 30 s."""
    return torch.cat([_mels(audios[i : i + CHUNK], n_mels, device) for i in range(0, len(audios), CHUNK)])


def _mels(audios: list[np.ndarray], n_mels: int, device: torch.device) -> torch.Tensor:
    # N_FFT zeros after 30 s: the last frames see silence past the audio, as with whisper's padding.
    signal = np.zeros((len(audios), N_SAMPLES + N_FFT), np.float32)
    lengths = np.zeros(len(audios), np.int64)
    for row, audio in enumerate(audios):
        lengths[row] = min(len(audio), N_SAMPLES)
        signal[row, : lengths[row]] = audio[:N_SAMPLES]
    samples = torch.from_numpy(signal).to(device)
    window = torch.hann_window(N_FFT, device=device)
    stft = torch.stft(samples, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    log_spec = torch.clamp(mel_filters(device, n_mels) @ power, min=1e-10).log10()
    # Whisper's floor: 8 below the maximum over the signal and its silent padding (which sits at -10).
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    log_spec = (torch.maximum(log_spec, peak - 8.0)[..., :N_FRAMES] + 4.0) / 4.0
    frames = torch.from_numpy(lengths // HOP_LENGTH).to(device)
    inside = torch.arange(N_FRAMES, device=device)[None, :] < frames[:, None]
    return log_spec.masked_fill(~inside[:, None, :], 0.0)
