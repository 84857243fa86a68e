"""Which devices get a runner: the setting, or with ``auto`` every NVIDIA GPU NVML sees (else the CPU)."""

from __future__ import annotations

import logging

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


def resolve_devices(setting: str) -> list[str]:
    """``cpu`` | ``auto`` | a comma list of GPU indexes (``0,1``) or devices (``cuda:0,cpu``)."""
    setting = setting.strip().lower()
    if setting == "auto":
        count = nvml_gpu_count()
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
