"""Free memory of a runner's device, for unloading models before a new one would not fit.

CUDA devices are read through NVML (the whole device, whichever process or library holds the memory:
torch and CTranslate2 alike); the CPU through the kernel's ``MemAvailable``. ``None`` means unknown.
"""

from __future__ import annotations

from pathlib import Path

from gpu_runner import telemetry

WEIGHT_FILES = ("model.bin", "*.pt")


def free_bytes(device: str) -> int | None:
    if device.startswith("cuda:"):
        return telemetry.gpu_free_bytes(int(device.split(":", 1)[1]))
    return _cpu_available()


def _cpu_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, CTranslate2's "CUDA failed with error out of memory", a host MemoryError."""
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def weights_bytes(folder: Path) -> int:
    """Size of a model folder's weights on disk: about what loading it takes (float16 on a GPU)."""
    return sum(f.stat().st_size for pattern in WEIGHT_FILES for f in Path(folder).glob(pattern) if f.is_file())
