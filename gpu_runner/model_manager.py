"""The models of one device: which exist, which are loaded, and loading them on demand.

States (as in /api/model_status): not_downloaded, downloading, loading, loaded, unloaded, error.
Room for one more model is made by unloading the least recently used ones: past a count, when the
device's free memory would not hold the new weights plus a reserve, and when a load runs out of memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpu_runner import device_memory
from gpu_runner.engines import Engine
from whisperq import models

log = logging.getLogger(__name__)

EngineFactory = Callable[[Path], Engine]
FreeMemory = Callable[[], int | None]  # free bytes of the device, None if unknown


class ModelManager:
    def __init__(
        self,
        engine_factory: EngineFactory,
        model_dirs: list[Path],
        cache_dir: Path,
        max_loaded: int = 0,
        *,
        free_memory: FreeMemory | None = None,
        reserve_bytes: int = 0,
    ):
        self._engine_factory = engine_factory
        self._model_dirs = list(model_dirs)
        self._cache_dir = Path(cache_dir)
        self._max_loaded = max_loaded  # 0: no limit
        self._free_memory = free_memory
        self._reserve_bytes = reserve_bytes  # kept free beyond the weights, for decoding
        self._lock = threading.RLock()
        self._engines: dict[str, Engine] = {}
        self._last_used: dict[str, float] = {}
        self._states: dict[str, str] = {}
        self._errors: dict[str, str] = {}

    def states(self) -> dict[str, str]:
        with self._lock:
            sources = models.discover(self._model_dirs)
            out = {}
            for name, source in sorted(sources.items()):
                default = "unloaded" if models.is_assembled(source, self._cache_dir) else "not_downloaded"
                out[name] = self._states.get(name, default)
            return out

    def available(self) -> list[str]:
        return sorted(models.discover(self._model_dirs))

    def get(self, name: str) -> Engine:
        """The loaded engine for ``name``, loading it first if needed.

        Raises :class:`whisperq.models.ModelNotAvailable` for a model that is not installed.
        """
        with self._lock:
            engine = self._engines.get(name)
            if engine is not None:
                self._last_used[name] = time.monotonic()
                return engine
            sources = models.discover(self._model_dirs)
            if name not in sources:
                raise models.ModelNotAvailable(
                    f"model {name!r} is not installed on this runner; installed: {', '.join(sorted(sources))}"
                )
            self._make_room()
            try:
                source = sources[name]
                if not models.is_assembled(source, self._cache_dir):
                    self._states[name] = "downloading"
                folder = models.model_folder(source, self._cache_dir)
                self._states[name] = "loading"
                self._make_memory_room(device_memory.weights_bytes(folder))
                started = time.monotonic()
                engine = self._load(folder)
            except Exception as exc:
                self._states[name] = "error"
                self._errors[name] = str(exc)
                raise
            log.info("loaded model %s in %.1fs", name, time.monotonic() - started)
            self._engines[name] = engine
            self._states[name] = "loaded"
            self._last_used[name] = time.monotonic()
            return engine

    def _load(self, folder: Path) -> Engine:
        """Load, and on running out of memory unload the least recently used model and try again."""
        while True:
            try:
                return self._engine_factory(folder)
            except Exception as exc:
                if not (device_memory.is_out_of_memory(exc) and self._engines):
                    raise
                log.warning("out of memory loading %s: %s", folder.name, exc)
                self.unload(self._least_recent())

    def _least_recent(self) -> str:
        return min(self._engines, key=lambda n: self._last_used.get(n, 0.0))

    def _make_room(self) -> None:
        """Unload the least recently used models until one more fits under the count limit."""
        while self._max_loaded and len(self._engines) >= self._max_loaded:
            oldest = self._least_recent()
            log.info("unloading %s to make room (at most %d loaded)", oldest, self._max_loaded)
            self.unload(oldest)

    def _make_memory_room(self, weights: int) -> None:
        """Unload the least recently used models while free memory is short of ``weights`` + the reserve."""
        if self._free_memory is None:
            return
        while self._engines:
            free = self._free_memory()
            if free is None or free >= weights + self._reserve_bytes:
                return
            oldest = self._least_recent()
            log.info(
                "unloading %s: %d MiB free, the next model needs %d MiB + %d MiB reserve",
                oldest, free // 2**20, weights // 2**20, self._reserve_bytes // 2**20,
            )  # fmt: skip
            self.unload(oldest)

    def unload(self, name: str) -> bool:
        with self._lock:
            engine = self._engines.pop(name, None)
            if engine is None:
                return False
            engine.close()
            self._states[name] = "unloaded"
            return True

    def unload_idle(self, idle_s: float) -> list[str]:
        now = time.monotonic()
        with self._lock:
            idle = [n for n in self._engines if now - self._last_used.get(n, now) > idle_s]
        return [n for n in idle if self.unload(n)]

    def close(self) -> None:
        for name in list(self._engines):
            self.unload(name)
