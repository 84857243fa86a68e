"""CTranslate2 ``model.bin`` parsing and the mapping onto openai-whisper names (numpy only)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from gpu_runner import ct2_weights
from whisperq import models

DTYPE_IDS = {np.float32: 0, np.int8: 1, np.int16: 2, np.int32: 3, np.float16: 4}


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def write_model_bin(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str], spec="WhisperSpec"):
    out = struct.pack("<I", 6) + _string(spec) + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for name, value in variables.items():
        out += _string(name) + struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", d) for d in value.shape)
        raw = value.tobytes()
        out += struct.pack("<B", DTYPE_IDS[value.dtype.type]) + struct.pack("<I", len(raw)) + raw
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    path.write_bytes(out)


def test_reads_every_dtype_and_alias(tmp_path: Path):
    values = {
        "a/f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "a/f16": np.array([1.5, -2.0], dtype=np.float16),
        "a/i8": np.array([[1, -2], [3, 4]], dtype=np.int8),
        "a/i32": np.array(7, dtype=np.int32),
    }
    write_model_bin(tmp_path / "model.bin", values, {"b/alias": "a/f32"})
    model = ct2_weights.read_model_bin(tmp_path / "model.bin")
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    for name, value in values.items():
        np.testing.assert_array_equal(model.variables[name], value)
        assert model.variables[name].dtype == value.dtype
    np.testing.assert_array_equal(model.get("b/alias"), values["a/f32"])


def test_bfloat16_widens_and_int8_dequantizes(tmp_path: Path):
    exact = np.array([1.0, -2.5, 0.15625], dtype=np.float32)  # representable in bfloat16
    bf16 = (exact.view(np.uint32) >> 16).astype(np.uint16)
    weight = np.array([[127, -64], [10, 20]], dtype=np.int8)
    scale = np.array([127.0, 10.0], dtype=np.float32)
    write_model_bin(tmp_path / "model.bin", {"w": weight, "w_scale": scale}, {})
    model = ct2_weights.read_model_bin(tmp_path / "model.bin")
    np.testing.assert_allclose(ct2_weights._float(model, "w"), [[1.0, -64 / 127], [1.0, 2.0]])
    # the writer has no bfloat16: write the bits as int16, then set the dtype byte to 5 (bfloat16)
    write_model_bin(tmp_path / "bf.bin", {"y": bf16.view(np.int16)}, {})
    data = bytearray((tmp_path / "bf.bin").read_bytes())
    data[data.index(b"y\0") + 2 + 1 + 4] = 5  # dtype id after name, rank and one dim
    (tmp_path / "bf.bin").write_bytes(bytes(data))
    np.testing.assert_array_equal(ct2_weights.read_model_bin(tmp_path / "bf.bin").variables["y"], exact)


def test_truncated_or_foreign_files_are_refused(tmp_path: Path):
    write_model_bin(tmp_path / "model.bin", {"a": np.zeros(4, np.float32)}, {})
    (tmp_path / "cut.bin").write_bytes((tmp_path / "model.bin").read_bytes()[:-10])
    with pytest.raises(ct2_weights.Ct2FormatError, match="truncated"):
        ct2_weights.read_model_bin(tmp_path / "cut.bin")
    (tmp_path / "v1.bin").write_bytes(struct.pack("<I", 1))
    with pytest.raises(ct2_weights.Ct2FormatError, match="version"):
        ct2_weights.read_model_bin(tmp_path / "v1.bin")
    write_model_bin(tmp_path / "t5.bin", {"a": np.zeros(1, np.float32)}, {}, spec="TransformerSpec")
    with pytest.raises(ct2_weights.Ct2FormatError, match="not a Whisper"):
        ct2_weights.whisper_dims(ct2_weights.read_model_bin(tmp_path / "t5.bin"))


@pytest.fixture(scope="module")
def packaged() -> dict[str, Path]:
    sources = models.discover()
    return {
        name: models.model_folder(sources[name], Path.home() / ".cache" / "whisperq" / "models") for name in sources
    }


@pytest.mark.parametrize(
    ("name", "state", "heads", "layers", "vocab"),
    [("tiny.en", 384, 6, 4, 51864), ("base", 512, 8, 6, 51865)],
)
def test_packaged_models_map_onto_whisper_names(packaged, name, state, heads, layers, vocab):
    model = ct2_weights.read_model_bin(packaged[name] / "model.bin")
    assert (model.version, model.spec) == (6, "WhisperSpec")
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    dims = ct2_weights.whisper_dims(model)
    assert dims == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": state, "n_audio_head": heads, "n_audio_layer": layers,
        "n_vocab": vocab, "n_text_ctx": 448, "n_text_state": state, "n_text_head": heads, "n_text_layer": layers,
    }  # fmt: skip
    sd = ct2_weights.whisper_state_dict(model)
    assert all(v.dtype == np.float32 for v in sd.values())
    for block in ("encoder.blocks.0.attn", "decoder.blocks.0.attn", "decoder.blocks.0.cross_attn"):
        for proj in ("query", "key", "value", "out"):
            assert sd[f"{block}.{proj}.weight"].shape == (state, state)
        assert f"{block}.key.bias" not in sd  # openai-whisper's key projection has no bias
    fused = model.get("decoder/layer_0/attention/linear_1/weight").astype(np.float32)
    np.testing.assert_array_equal(np.vstack([sd["decoder.blocks.0.cross_attn.key.weight"],
                                             sd["decoder.blocks.0.cross_attn.value.weight"]]), fused)  # fmt: skip
    assert sd["decoder.blocks.0.mlp.0.weight"].shape == (4 * state, state)
    assert sd["encoder.conv1.weight"].shape == (state, 80, 3)
    n_tensors = 4 + 1 + layers * 15 + 2 + 2 + layers * 24 + 2
    assert len(sd) == n_tensors
    config = ct2_weights.read_config(packaged[name])
    assert len(config.alignment_heads) > 0 and all(0 <= layer < layers for layer, _ in config.alignment_heads)
    assert config.suppress_ids and config.suppress_ids_begin
