"""Model states, loading on demand, least-recently-used unloading, and unloading freeing the model."""

from __future__ import annotations

import gc
import time
import weakref
from functools import partial
from pathlib import Path

import pytest

from gpu_runner import device_memory
from gpu_runner.engines import create_engine
from gpu_runner.model_manager import ModelManager
from whisperq import models
from whisperq.models import ModelNotAvailable


def _factory(folder):
    return create_engine("ctranslate2", folder, device="cpu", compute_type="int8", cpu_threads=1)


@pytest.fixture
def manager(tmp_path):
    return ModelManager(_factory, [], tmp_path / "cache", max_loaded=1)


def test_states_follow_the_models_life(manager: ModelManager):
    assert manager.states() == {"base": "not_downloaded", "tiny.en": "unloaded"}
    manager.get("tiny.en")
    assert manager.states()["tiny.en"] == "loaded"
    manager.get("base")  # assembled from its two packages, then loaded; tiny.en makes room
    assert manager.states() == {"base": "loaded", "tiny.en": "unloaded"}


def test_unknown_model_is_refused(manager: ModelManager):
    with pytest.raises(ModelNotAvailable, match="installed: base, tiny.en"):
        manager.get("large-v3")


def test_unloading_frees_the_model(manager: ModelManager):
    engine = manager.get("tiny.en")
    model_ref = weakref.ref(engine.model.model)  # the CTranslate2 model behind faster-whisper
    del engine
    assert manager.unload("tiny.en")
    gc.collect()
    assert model_ref() is None
    assert manager.states()["tiny.en"] == "unloaded"


def test_idle_models_are_unloaded(tmp_path):
    manager = ModelManager(_factory, [], tmp_path / "cache")
    manager.get("tiny.en")
    assert manager.unload_idle(60) == []
    time.sleep(0.2)
    assert manager.unload_idle(0.1) == ["tiny.en"]


@pytest.fixture
def three_models(tmp_path) -> list[Path]:
    """tiny.en under a second name (its files linked), so three models can be loaded at once."""
    tiny = models.resolve("tiny.en", [], tmp_path / "cache")
    copy = tmp_path / "models" / "tiny-copy"
    copy.mkdir(parents=True)
    for item in tiny.iterdir():
        (copy / item.name).symlink_to(item)
    return [tmp_path / "models"]


def test_short_memory_unloads_the_least_recently_used_model(tmp_path, three_models):
    readings = iter([2**40, 0])  # plenty for the second load (the first asks nothing); then short, once
    manager = ModelManager(
        _factory, three_models, tmp_path / "cache", free_memory=lambda: next(readings, None), reserve_bytes=2**20
    )
    manager.get("tiny.en")
    manager.get("tiny-copy")
    manager.get("tiny.en")  # tiny-copy is now the least recently used
    manager.get("base")
    assert manager.states() == {"base": "loaded", "tiny-copy": "unloaded", "tiny.en": "loaded"}


def test_memory_check_reads_the_real_device(tmp_path):
    """On this machine the CPU's MemAvailable: a reserve beyond it leaves room for one model only."""
    available = device_memory.free_bytes("cpu")
    assert available is not None and 0 < available < 2**50
    assert 50 * 2**20 < device_memory.weights_bytes(models.resolve("tiny.en", [], tmp_path / "cache")) < 200 * 2**20
    manager = ModelManager(
        _factory, [], tmp_path / "cache", free_memory=partial(device_memory.free_bytes, "cpu"),
        reserve_bytes=available * 4,
    )  # fmt: skip
    manager.get("tiny.en")
    manager.get("base")
    assert manager.states() == {"base": "loaded", "tiny.en": "unloaded"}


def test_a_load_out_of_memory_unloads_one_model_and_tries_again(tmp_path):
    calls = []

    def factory_short_of_memory_once(folder):
        calls.append(folder.name)
        if len(calls) == 2:  # the second load finds the device full, as CTranslate2 reports it
            raise RuntimeError("CUDA failed with error out of memory")
        return _factory(folder)

    manager = ModelManager(factory_short_of_memory_once, [], tmp_path / "cache")
    manager.get("tiny.en")
    manager.get("base")
    assert calls[1:] == ["base", "base"]  # tiny.en's packaged folder is called "model"
    assert manager.states() == {"base": "loaded", "tiny.en": "unloaded"}


def test_other_load_errors_unload_nothing(tmp_path):
    def broken_factory(folder):
        if folder.name == "base":
            raise ValueError("model.bin is corrupt")
        return _factory(folder)

    manager = ModelManager(broken_factory, [], tmp_path / "cache")
    manager.get("tiny.en")
    with pytest.raises(ValueError, match="corrupt"):
        manager.get("base")
    assert manager.states() == {"base": "error", "tiny.en": "loaded"}
