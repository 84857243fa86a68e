"""The models of one device: which exist, which are loaded, and loading them on demand.

States (as in /api/model_status): not_downloaded, downloading, loading, loaded, unloaded, error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpu_runner.engines import Engine
from whisperq import models

log = logging.getLogger(__name__)

EngineFactory = Callable[[Path], Engine]


class ModelManager:
    def __init__(
        self, engine_factory: EngineFactory, model_dirs: list[Path], cache_dir: Path, max_loaded: int = 0
    ):
        self._engine_factory = engine_factory
        self._model_dirs = list(model_dirs)
        self._cache_dir = Path(cache_dir)
        self._max_loaded = max_loaded  # 0: no limit
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
                started = time.monotonic()
                engine = self._engine_factory(folder)
            except Exception as exc:
                self._states[name] = "error"
                self._errors[name] = str(exc)
                raise
            log.info("loaded model %s in %.1fs", name, time.monotonic() - started)
            self._engines[name] = engine
            self._states[name] = "loaded"
            self._last_used[name] = time.monotonic()
            return engine

    def _make_room(self) -> None:
        """Unload the least recently used models until one more fits under the limit."""
        while self._max_loaded and len(self._engines) >= self._max_loaded:
            oldest = min(self._engines, key=lambda n: self._last_used.get(n, 0.0))
            log.info("unloading %s to make room (at most %d loaded)", oldest, self._max_loaded)
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
