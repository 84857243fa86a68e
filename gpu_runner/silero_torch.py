"""Silero VAD (v6, 16 kHz) in torch, with the weights of the ONNX file that faster-whisper bundles.

onnxruntime runs the model on the CPU one slice at a time (its LSTM steps through the slice's frames).
Here the slices of every audio of a batch are the batch of one LSTM: on a GPU, all the audio of a batch
of jobs goes through in a few kernel calls instead of one CPU core-second per 450 s of audio. The
probabilities are those of the ONNX model (a test compares them on real speech).

The graph, as read from the ONNX file: each 512-sample frame with the 64 samples before it, reflect-padded
by 128; a 256-point STFT by convolution (stride 128), magnitudes of frames 1..4; four 3-tap convolutions
with ReLU (strides 1, 2, 2, 1) down to one 128-vector per frame; an LSTM across the frames; ReLU, a 1x1
convolution and a sigmoid.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gpu_runner.vad import FRAME

CONTEXT = 64
HIDDEN = 128
SLICES_PER_CALL = 32  # slices of 60 s per forward: about 1 GB of intermediates


def onnx_path() -> Path:
    import faster_whisper

    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


# --- reading the weights (a minimal protobuf reader: ModelProto.graph.initializer) --------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of each field of one protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _tensor(message: bytes) -> tuple[str, np.ndarray]:
    """A float32 TensorProto: dims (1), data_type (2), float_data (4), name (8), raw_data (9)."""
    dims: list[int] = []
    name, raw, floats = "", b"", b""
    for number, wire, value in _fields(message):
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1:  # packed dims
            pos = 0
            while pos < len(value):
                dim, pos = _varint(value, pos)
                dims.append(dim)
        elif number == 8:
            name = value.decode()
        elif number == 9:
            raw = value
        elif number == 4 and wire == 2:
            floats = value
    return name, np.frombuffer(raw or floats, dtype="<f4").reshape(dims).copy()


def read_onnx(path: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The float initializers of an ONNX model's graph by name, and each operator type's input names
    (of its last node of that type). GraphProto: node (1), initializer (5); NodeProto: input (1), op_type (4)."""
    weights: dict[str, np.ndarray] = {}
    inputs: dict[str, list[str]] = {}
    graph = next(value for number, _, value in _fields(path.read_bytes()) if number == 7)
    for number, _, value in _fields(graph):
        if number == 1:
            fields = list(_fields(value))
            op_type = next(v.decode() for n, _, v in fields if n == 4)
            inputs[op_type] = [v.decode() for n, _, v in fields if n == 1]
        elif number == 5 and next((v for n, w, v in _fields(value) if n == 2 and w == 0), None) == 1:  # FLOAT
            name, array = _tensor(value)
            weights[name] = array
    return weights, inputs


# --- the model ---------------------------------------------------------------------------------


def _ifgo(onnx_iofc: np.ndarray) -> torch.Tensor:
    """ONNX orders an LSTM's gate blocks i, o, f, c; torch orders them i, f, g(=c), o."""
    i, o, f, c = np.split(onnx_iofc, 4, axis=0)
    return torch.from_numpy(np.concatenate([i, f, c, o], axis=0))


class SileroVad(torch.nn.Module):
    def __init__(self, weights: dict[str, np.ndarray], lstm_inputs: list[str]):
        """``lstm_inputs``: the ONNX LSTM node's inputs (X, W, R, B, ...), naming its weights."""
        super().__init__()
        self.register_buffer("basis", torch.from_numpy(weights["encoder.feature_extractor.forward_basis_buffer"]))
        self.convs = torch.nn.ModuleList()
        for index, stride in enumerate((1, 2, 2, 1)):
            weight = torch.from_numpy(weights[f"encoder.conv_layers.{index}.weight"])
            conv = torch.nn.Conv1d(weight.shape[1], weight.shape[0], 3, stride=stride, padding=1)
            conv.weight.data, conv.bias.data = weight, torch.from_numpy(weights[f"encoder.conv_layers.{index}.bias"])
            self.convs.append(conv)
        w_input, w_hidden, bias = (weights[name][0] for name in lstm_inputs[1:4])
        self.lstm = torch.nn.LSTM(HIDDEN, HIDDEN)
        self.lstm.weight_ih_l0.data, self.lstm.weight_hh_l0.data = _ifgo(w_input), _ifgo(w_hidden)
        self.lstm.bias_ih_l0.data, self.lstm.bias_hh_l0.data = _ifgo(bias[: 4 * HIDDEN]), _ifgo(bias[4 * HIDDEN :])
        self.out_weight = torch.nn.Parameter(torch.from_numpy(weights["decoder.conv1d.weight"][:, :, 0]))
        self.out_bias = torch.nn.Parameter(torch.from_numpy(weights["decoder.conv1d.bias"]))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: (slices, frames, 64 + 512) samples; the speech probability of each frame."""
        slices, count, width = frames.shape
        x = F.pad(frames.reshape(slices * count, 1, width), (128, 128), mode="reflect")
        spectrum = F.conv1d(x, self.basis, stride=128)
        half = spectrum.shape[1] // 2
        x = torch.sqrt(spectrum[:, :half, 1:] ** 2 + spectrum[:, half:, 1:] ** 2)
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.reshape(slices, count, HIDDEN).transpose(0, 1)  # the LSTM runs across frames
        y, _ = self.lstm(x)
        logits = F.relu(y) @ self.out_weight.T + self.out_bias
        return torch.sigmoid(logits[..., 0]).transpose(0, 1)


@lru_cache(maxsize=4)
def load(device: str) -> SileroVad:
    weights, inputs = read_onnx(onnx_path())
    return SileroVad(weights, inputs["LSTM"]).to(device).eval()


def frames_with_context(slice_: np.ndarray, count: int) -> np.ndarray:
    """(count, 576): each 512-sample frame after the 64 samples before it (zeros before the first),
    as faster-whisper feeds the ONNX model; frames past the slice's end are zeros."""
    out = np.zeros((count, CONTEXT + FRAME), np.float32)
    framed = slice_.reshape(-1, FRAME)
    out[: len(framed), CONTEXT:] = framed
    out[1 : len(framed), :CONTEXT] = framed[:-1, -CONTEXT:]
    # faster-whisper zeroes the context row of the last frame through a view of the audio, which
    # silences that frame's own last 64 samples; done here too, so both paths give the same numbers.
    out[len(framed) - 1, -CONTEXT:] = 0.0
    return out


@torch.inference_mode()
def probabilities(slices: list[np.ndarray], device: str) -> list[np.ndarray]:
    """One probability per frame of each slice (each a multiple of 512 samples, state fresh per slice)."""
    model = load(device)
    results: list[np.ndarray] = []
    for start in range(0, len(slices), SLICES_PER_CALL):
        group = slices[start : start + SLICES_PER_CALL]
        count = max(len(s) // FRAME for s in group)
        batch = np.stack([frames_with_context(s, count) for s in group])
        probs = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()
        results.extend(p[: len(s) // FRAME] for p, s in zip(probs, group, strict=True))
    return results
