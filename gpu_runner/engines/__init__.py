"""Recognition engines behind one interface (see :mod:`gpu_runner.engines.base`)."""

from __future__ import annotations

from gpu_runner.engines.base import Engine, TranscribeOptions, Transcript

__all__ = ["Engine", "TranscribeOptions", "Transcript", "create_engine", "default_engine_name"]


def default_engine_name(device: str) -> str:
    return "ctranslate2"


def create_engine(name: str, model_dir, *, device: str, compute_type: str, cpu_threads: int) -> Engine:
    if name == "auto":
        name = default_engine_name(device)
    if name == "ctranslate2":
        from gpu_runner.engines.ctranslate2_engine import CTranslate2Engine

        return CTranslate2Engine(model_dir, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    raise ValueError(f"unknown engine {name!r}; available: ctranslate2")
