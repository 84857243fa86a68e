"""Device discovery and GPU telemetry. NVML itself cannot run here (no GPU, no driver): the real
module is tried first (and must report nothing, not fail); a stand-in NVML module then checks that
each field is guarded on its own."""

from __future__ import annotations

import sys
import types

import pytest

from gpu_runner import telemetry
from gpu_runner.devices import resolve_devices


def test_no_gpu_means_one_cpu_runner_and_no_telemetry():
    assert resolve_devices("auto") == ["cpu"]
    assert telemetry.device_gpus("cuda:0") == []
    assert telemetry.device_gpus("cpu") == []


@pytest.mark.parametrize(
    "setting, devices",
    [("cpu", ["cpu"]), ("0,1", ["cuda:0", "cuda:1"]), ("cuda:2, cpu", ["cuda:2", "cpu"])],
)
def test_device_setting(setting: str, devices: list[str]):
    assert resolve_devices(setting) == devices


def test_bad_device_setting_says_what_is_allowed():
    with pytest.raises(ValueError, match="use cpu, auto or 0,1"):
        resolve_devices("gpu0")


def _stand_in_nvml(broken: set[str]) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.nvmlMemory_v2 = 0x02000028

    def call(name, value):
        def fn(*_args, **_kwargs):
            if name in broken:
                raise RuntimeError(f"{name} not supported")
            return value

        return fn

    memory = types.SimpleNamespace(total=80 * 2**30, used=3 * 2**30, free=77 * 2**30)
    nvml.asked_for: list[object] = []  # the physical devices whose handles were asked for

    def handle(physical):
        if "handle" in broken:
            raise RuntimeError("handle not supported")
        nvml.asked_for.append(physical)
        return object()

    nvml.nvmlInit = call("init", None)
    nvml.nvmlShutdown = call("shutdown", None)
    nvml.nvmlDeviceGetCount = call("count", 4)
    nvml.nvmlDeviceGetHandleByIndex = handle
    nvml.nvmlDeviceGetHandleByUUID = handle
    nvml.nvmlDeviceGetName = call("name", b"NVIDIA H100 80GB HBM3")
    nvml.nvmlDeviceGetMemoryInfo = call("memory", memory)
    nvml.nvmlDeviceGetUtilizationRates = call("utilization", types.SimpleNamespace(gpu=87))
    nvml.nvmlDeviceGetTemperature = call("temperature", 61)
    nvml.nvmlDeviceGetPowerUsage = call("power", 312_500)
    return nvml


@pytest.fixture
def nvml(monkeypatch):
    def install(broken: set[str]) -> types.ModuleType:
        module = _stand_in_nvml(broken)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        monkeypatch.setattr(telemetry, "_initialised", None)
        return module

    return install


def test_telemetry_reads_every_field(nvml):
    nvml(set())
    [gpu] = telemetry.device_gpus("cuda:3")
    assert gpu.model_dump() == {
        "id": 3,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_total_mb": 81920,
        "memory_used_mb": 3072,
        "utilization_gpu": 87,
        "temperature_c": 61,
        "power_w": 312.5,
    }


def test_a_missing_field_costs_only_that_field(nvml):
    nvml({"utilization", "power"})
    [gpu] = telemetry.device_gpus("cuda:0")
    assert gpu.utilization_gpu is None and gpu.power_w is None
    assert gpu.memory_used_mb == 3072 and gpu.temperature_c == 61


def test_failed_init_is_no_gpu(nvml):
    nvml({"init"})
    assert telemetry.device_gpus("cuda:0") == []


def test_four_gpus_get_four_runners(nvml, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml(set())
    assert resolve_devices("auto") == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]


@pytest.mark.parametrize(
    "visible, devices, physical",
    [
        ("2,3", ["cuda:0", "cuda:1"], [2, 3]),
        ("GPU-8f6e1c2a-aaaa-bbbb-cccc-0123456789ab", ["cuda:0"], ["GPU-8f6e1c2a-aaaa-bbbb-cccc-0123456789ab"]),
        ("1,-1,3", ["cuda:0"], [1]),  # CUDA stops at the first invalid entry
        ("", ["cpu"], []),
    ],
)
def test_cuda_visible_devices_narrows_runners_and_maps_telemetry(nvml, monkeypatch, visible, devices, physical):
    """cuda:N is the N-th listed device for CUDA; NVML ignores the variable, so telemetry and the free
    memory check must ask NVML about the physical device behind cuda:N."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    module = nvml(set())
    assert resolve_devices("auto") == devices
    module.asked_for.clear()
    for device in devices:
        if device != "cpu":
            [gpu] = telemetry.device_gpus(device)
            assert gpu.id == int(device.split(":")[1])  # reported under the index the runner uses
            assert telemetry.gpu_free_bytes(gpu.id) == 77 * 2**30
    assert module.asked_for[::2] == physical
