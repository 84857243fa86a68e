"""Recognition engines behind one interface (see :mod:`gpu_runner.engines.base`).

Engine modules are imported only when an engine is created: torch stays out of any process that
does not run the torch engine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gpu_runner.engines.base import BatchItemsFailed, Engine, TranscribeOptions, Transcript

__all__ = [
    "ENGINES",
    "BatchItemsFailed",
    "Engine",
    "TranscribeOptions",
    "Transcript",
    "create_engine",
    "default_engine_name",
    "torch_available",
]

ENGINES = ("ctranslate2", "torch")


def torch_available() -> bool:
    """torch and openai-whisper are installed (found without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "whisper"))


def default_engine_name(device: str) -> str:
    """torch on CUDA when it is installed (batched fp16 decoding); CTranslate2 (int8) on CPU."""
    if device.startswith("cuda") and torch_available():
        return "torch"
    return "ctranslate2"


def create_engine(
    name: str,
    model_dir: Path | str,
    *,
    device: str,
    compute_type: str = "auto",
    cpu_threads: int = 0,
    batch_size: int = 0,
) -> Engine:
    if name == "auto":
        name = default_engine_name(device)
    if name == "ctranslate2":
        from gpu_runner.engines.ctranslate2_engine import CTranslate2Engine

        return CTranslate2Engine(
            model_dir, device=device, compute_type=compute_type, cpu_threads=cpu_threads, batch_size=batch_size
        )
    if name == "torch":
        if not torch_available():
            raise RuntimeError("the torch engine needs torch and openai-whisper: pip install 'whisperq[gpu]'")
        from gpu_runner.engines.torch_engine import TorchEngine

        return TorchEngine(
            model_dir, device=device, compute_type=compute_type, cpu_threads=cpu_threads, batch_size=batch_size
        )
    raise ValueError(f"unknown engine {name!r}; available: {', '.join(ENGINES)}")
