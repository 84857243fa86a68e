"""Which devices get a runner: the setting, or with ``auto`` every NVIDIA GPU NVML sees (else the CPU).

``CUDA_VISIBLE_DEVICES`` is honoured as CUDA honours it: ``cuda:0`` is the first device it lists, so
``auto`` gives one runner per listed GPU, and NVML (which ignores the variable) is asked about the
physical device behind each index (by index or UUID).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def nvml_gpu_count() -> int:
    try:
        import pynvml  # from nvidia-ml-py
    except ImportError:
        return 0
    try:
        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return 0


def visible_device_ids() -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` as a list of physical indexes or UUIDs; None when unset (all visible).
    CUDA stops at the first empty or negative entry, so does this."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    ids = []
    for part in (p.strip() for p in value.split(",")):
        if not part or part.startswith("-"):
            break
        ids.append(part)
    return ids


def cuda_gpu_count() -> int:
    """GPUs a CUDA program here can use: those NVML finds, narrowed by ``CUDA_VISIBLE_DEVICES``."""
    physical = nvml_gpu_count()
    visible = visible_device_ids()
    return physical if visible is None else min(physical, len(visible))


def nvml_device_id(index: int) -> str:
    """The physical device (NVML index, or UUID) behind ``cuda:index``."""
    visible = visible_device_ids()
    return visible[index] if visible is not None and index < len(visible) else str(index)


def resolve_devices(setting: str) -> list[str]:
    """``cpu`` | ``auto`` | a comma list of GPU indexes (``0,1``) or devices (``cuda:0,cpu``)."""
    setting = setting.strip().lower()
    if setting == "auto":
        count = cuda_gpu_count()
        return [f"cuda:{i}" for i in range(count)] or ["cpu"]
    devices = []
    for part in (p.strip() for p in setting.split(",") if p.strip()):
        if part == "cpu" or part.startswith("cuda:"):
            devices.append(part)
        elif part.isdigit():
            devices.append(f"cuda:{part}")
        else:
            raise ValueError(f"bad device {part!r} in WHISPERQ_RUNNER__DEVICES: use cpu, auto or 0,1,...")
    return devices or ["cpu"]
