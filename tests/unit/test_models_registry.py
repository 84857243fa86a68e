from __future__ import annotations

from pathlib import Path

import pytest

from whisperq import models


def test_packaged_models_are_found():
    found = models.discover()
    assert {"tiny.en", "base"} <= set(found)
    assert not found["tiny.en"].needs_assembly
    assert found["base"].needs_assembly


def test_model_in_parts_is_assembled_once(tmp_path: Path):
    source = models.discover()["base"]
    assert not models.is_assembled(source, tmp_path)
    folder = models.model_folder(source, tmp_path)
    parts = [f / "model.bin.part1" for f in source.folders] + [f / "model.bin.part2" for f in source.folders]
    expected = sum(p.stat().st_size for p in parts if p.exists())
    assert (folder / "model.bin").stat().st_size == expected
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert models.is_assembled(source, tmp_path)
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert models.model_folder(source, tmp_path) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt


def test_local_folder_models_are_found(tmp_path: Path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.bin").write_bytes(b"x")
    assert models.discover([tmp_path])["my-model"].folders == (folder,)


def test_unknown_model_says_what_is_installed(tmp_path: Path):
    with pytest.raises(models.ModelNotAvailable, match="installed: .*tiny.en"):
        models.resolve("large-v3", [], tmp_path)
