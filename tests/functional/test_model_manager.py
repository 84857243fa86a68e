"""Model states, loading on demand, least-recently-used unloading, and unloading freeing the model."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from gpu_runner.engines import create_engine
from gpu_runner.model_manager import ModelManager
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
