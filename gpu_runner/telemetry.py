"""GPU figures for heartbeats, from NVML (the ``nvidia-ml-py`` package). Every field is read on its
own: a driver that lacks one call (or a MIG slice that hides utilisation) costs that field only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from gpu_runner.devices import nvml_device_id
from whisperq.heartbeats import GpuTelemetry

log = logging.getLogger(__name__)

_lock = threading.Lock()
_initialised: bool | None = None  # None: not tried yet


def _nvml() -> Any | None:
    global _initialised
    try:
        import pynvml
    except ImportError:
        return None
    with _lock:
        if _initialised is None:
            try:
                pynvml.nvmlInit()
                _initialised = True
            except Exception:  # noqa: BLE001 - no driver, no GPU: telemetry is simply absent
                _initialised = False
    return pynvml if _initialised else None


def _guarded(read: Callable[[], Any]) -> Any | None:
    try:
        return read()
    except Exception:  # noqa: BLE001 - one missing field must not lose the others
        return None


def _memory(nvml: Any, handle: Any) -> Any | None:
    """The v2 memory call (reserved memory counted apart) where the driver has it, else v1."""
    v2 = getattr(nvml, "nvmlMemory_v2", None)
    if v2 is not None:
        info = _guarded(lambda: nvml.nvmlDeviceGetMemoryInfo(handle, version=v2))
        if info is not None:
            return info
    return _guarded(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))


def _handle(nvml: Any, index: int) -> Any | None:
    """NVML's handle of the device behind ``cuda:index`` (NVML ignores ``CUDA_VISIBLE_DEVICES``)."""
    physical = nvml_device_id(index)
    if physical.isdigit():
        return _guarded(lambda: nvml.nvmlDeviceGetHandleByIndex(int(physical)))
    return _guarded(lambda: nvml.nvmlDeviceGetHandleByUUID(physical))


def read_gpu(index: int) -> GpuTelemetry | None:
    """Telemetry of ``cuda:index``; its ``id`` is that index."""
    nvml = _nvml()
    if nvml is None:
        return None
    handle = _handle(nvml, index)
    if handle is None:
        return None
    name = _guarded(lambda: nvml.nvmlDeviceGetName(handle))
    memory = _memory(nvml, handle)
    utilisation = _guarded(lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    temperature = _guarded(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
    power_mw = _guarded(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
    return GpuTelemetry(
        id=index,
        name=name.decode() if isinstance(name, bytes) else name,
        memory_total_mb=memory.total // 2**20 if memory is not None else None,
        memory_used_mb=memory.used // 2**20 if memory is not None else None,
        utilization_gpu=utilisation,
        temperature_c=temperature,
        power_w=round(power_mw / 1000, 1) if power_mw is not None else None,
    )


def gpu_free_bytes(index: int) -> int | None:
    """Free memory of GPU ``index`` as NVML sees it (all processes and libraries), or None if unknown."""
    nvml = _nvml()
    handle = _handle(nvml, index) if nvml is not None else None
    memory = _memory(nvml, handle) if handle is not None else None
    return int(memory.free) if memory is not None else None


def device_gpus(device: str) -> list[GpuTelemetry]:
    """The telemetry of a runner's device: one GPU for ``cuda:N``, none for the CPU."""
    if not device.startswith("cuda:"):
        return []
    gpu = read_gpu(int(device.split(":", 1)[1]))
    return [gpu] if gpu is not None else []
