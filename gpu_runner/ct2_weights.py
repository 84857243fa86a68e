"""CTranslate2 Whisper model folders read without CTranslate2, mapped onto openai-whisper's layout.

``model.bin`` (binary version 6, little-endian)::

    u32 version | str spec name | u32 revision | u32 n_variables
    n_variables x (str name | u8 rank | rank x u32 dim | u8 dtype | u32 n_bytes | bytes)
    u32 n_aliases | n_aliases x (str alias | str target)

where ``str`` is a u16 length (with the trailing NUL) followed by UTF-8 bytes and a NUL.
dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Quantized weights come with
a ``<name>_scale`` variable (per output row for int8, one number for int16).

Only numpy here: the torch engine turns the arrays into tensors.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SUPPORTED_VERSIONS = (5, 6)
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


class Ct2FormatError(ValueError):
    pass


@dataclass
class Ct2Model:
    version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]


@dataclass(frozen=True)
class Ct2Config:
    """``config.json`` of the folder; empty for an openai-whisper checkpoint (its defaults apply)."""

    alignment_heads: list[tuple[int, int]] = field(default_factory=list)
    lang_ids: list[int] = field(default_factory=list)
    suppress_ids: list[int] = field(default_factory=list)
    suppress_ids_begin: list[int] = field(default_factory=list)


class _Reader:
    def __init__(self, data: memoryview):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise Ct2FormatError("model.bin is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        return bytes(self.take(self.unpack("H"))).rstrip(b"\0").decode("utf-8")


def read_model_bin(path: Path | str) -> Ct2Model:
    data = memoryview(Path(path).read_bytes())
    reader = _Reader(data)
    version = reader.unpack("I")
    if version not in SUPPORTED_VERSIONS:
        raise Ct2FormatError(f"unsupported CTranslate2 binary version {version} (supported: {SUPPORTED_VERSIONS})")
    spec = reader.string()
    revision = reader.unpack("I")
    variables = {}
    for _ in range(reader.unpack("I")):
        name, array = _read_variable(reader)
        variables[name] = array
    aliases = {}
    for _ in range(reader.unpack("I")):
        alias = reader.string()
        aliases[alias] = reader.string()
    return Ct2Model(version, spec, revision, variables, aliases)


def _read_variable(reader: _Reader) -> tuple[str, np.ndarray]:
    name = reader.string()
    shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
    dtype_id = reader.unpack("B")
    raw = reader.take(reader.unpack("I"))
    if dtype_id not in _DTYPES:
        raise Ct2FormatError(f"variable {name}: unknown dtype id {dtype_id}")
    dtype = _DTYPES[dtype_id]
    if dtype == "bfloat16":  # numpy has no bfloat16: widen the 16 bits into float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return name, bits.view(np.float32).reshape(shape)
    return name, np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def read_config(folder: Path | str) -> Ct2Config:
    path = Path(folder) / "config.json"
    raw = json.loads(path.read_text()) if path.is_file() else {}
    return Ct2Config(
        alignment_heads=[(int(layer), int(head)) for layer, head in raw.get("alignment_heads") or []],
        lang_ids=list(raw.get("lang_ids") or []),
        suppress_ids=list(raw.get("suppress_ids") or []),
        suppress_ids_begin=list(raw.get("suppress_ids_begin") or []),
    )


# --- Whisper mapping --------------------------------------------------------------------------


def _float(model: Ct2Model, name: str) -> np.ndarray:
    """A weight as float32, dequantized when the model was converted with int8/int16."""
    value = model.get(name)
    if value.dtype in (np.int8, np.int16):
        scale = model.get(name + "_scale").astype(np.float32)
        scale = scale.reshape(-1, *([1] * (value.ndim - 1))) if scale.ndim else scale
        return value.astype(np.float32) / scale
    return value.astype(np.float32)


def _count_layers(model: Ct2Model, prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in model.variables:
        n += 1
    return n


def _scalar(model: Ct2Model, name: str) -> int:
    return int(model.get(name).reshape(-1)[0])


def whisper_dims(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ``ModelDimensions`` fields, derived from the tensor shapes."""
    if model.spec != "WhisperSpec":
        raise Ct2FormatError(f"not a Whisper model: spec {model.spec!r}")
    conv1 = model.get("encoder/conv1/weight")
    embeddings = model.get("decoder/embeddings/weight")
    return {
        "n_mels": conv1.shape[1],
        "n_audio_ctx": model.get("encoder/position_encodings/encodings").shape[0],
        "n_audio_state": conv1.shape[0],
        "n_audio_head": _scalar(model, "encoder/num_heads"),
        "n_audio_layer": _count_layers(model, "encoder"),
        "n_vocab": embeddings.shape[0],
        "n_text_ctx": model.get("decoder/position_encodings/encodings").shape[0],
        "n_text_state": embeddings.shape[1],
        "n_text_head": _scalar(model, "decoder/num_heads"),
        "n_text_layer": _count_layers(model, "decoder"),
    }


def _linear(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.weight"] = _float(model, f"{src}/weight")
    out[f"{dst}.bias"] = _float(model, f"{src}/bias")


def _norm(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.weight"] = _float(model, f"{src}/gamma")
    out[f"{dst}.bias"] = _float(model, f"{src}/beta")


def _split_rows(weight: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(weight, parts, axis=0)


def _attention(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray], *, cross: bool) -> None:
    """CTranslate2 fuses Q,K,V (self-attention) or K,V (cross-attention) into one projection.

    openai-whisper's key projection has no bias: a key bias adds the same amount to every score of
    a query, which softmax cancels, so dropping it is exact.
    """
    if cross:
        _linear(model, f"{src}/linear_0", f"{dst}.query", out)
        fused_w, fused_b = _float(model, f"{src}/linear_1/weight"), _float(model, f"{src}/linear_1/bias")
        (k_w, v_w), (_, v_b) = _split_rows(fused_w, 2), _split_rows(fused_b, 2)
        out_name = "linear_2"
    else:
        fused_w, fused_b = _float(model, f"{src}/linear_0/weight"), _float(model, f"{src}/linear_0/bias")
        (q_w, k_w, v_w), (q_b, _, v_b) = _split_rows(fused_w, 3), _split_rows(fused_b, 3)
        out[f"{dst}.query.weight"], out[f"{dst}.query.bias"] = q_w, q_b
        out_name = "linear_1"
    out[f"{dst}.key.weight"] = k_w
    out[f"{dst}.value.weight"], out[f"{dst}.value.bias"] = v_w, v_b
    _linear(model, f"{src}/{out_name}", f"{dst}.out", out)


def _block(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray], *, cross: bool) -> None:
    _attention(model, f"{src}/self_attention", f"{dst}.attn", out, cross=False)
    _norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", out)
    if cross:
        _attention(model, f"{src}/attention", f"{dst}.cross_attn", out, cross=True)
        _norm(model, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln", out)
    _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0", out)
    _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2", out)
    _norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln", out)


def whisper_state_dict(model: Ct2Model) -> dict[str, np.ndarray]:
    """openai-whisper ``Whisper.state_dict()`` names -> float32 arrays."""
    dims = whisper_dims(model)
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"] = _float(model, f"encoder/{conv}/weight")
        out[f"encoder.{conv}.bias"] = _float(model, f"encoder/{conv}/bias")
    out["encoder.positional_embedding"] = _float(model, "encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        _block(model, f"encoder/layer_{i}", f"encoder.blocks.{i}", out, cross=False)
    _norm(model, "encoder/layer_norm", "encoder.ln_post", out)
    out["decoder.token_embedding.weight"] = _float(model, "decoder/embeddings/weight")
    out["decoder.positional_embedding"] = _float(model, "decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        _block(model, f"decoder/layer_{i}", f"decoder.blocks.{i}", out, cross=True)
    _norm(model, "decoder/layer_norm", "decoder.ln", out)
    return out


def is_ct2_folder(path: Path | str) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "model.bin").is_file()
