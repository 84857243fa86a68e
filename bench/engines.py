#!/usr/bin/env python3
"""Speed and word error of the engines on real speech: one long file, and many short queued jobs.

    python bench/engines.py --model tiny.en --device cuda:0            # on a GPU host: 600 s + 256 x 30 s
    python bench/engines.py --model tiny.en --device cpu --jobs 16     # on a small CPU

Rows, each on the same model weights and the same audio:

* ``openai-whisper transcribe``: openai-whisper's own sequential ``model.transcribe`` with beam 5
  (fp16 on CUDA), one file after the other: the seed's call;
* ``faster-whisper transcribe``: faster-whisper sequential, beam 5 (int8 on CPU, float16 on CUDA);
* ``torch engine``: this project's torch engine, every window of every job batched (beam 5 and greedy),
  and the same engine given the jobs one at a time;
* ``ctranslate2 engine``: this project's CTranslate2 engine on its batched path;
* ``whisperq runner (...), through the queue``: the runner of ``whisperq runner`` with that engine, fed
  through the store and the queue (``through_queue.py``): every audio written as a WAV object with its
  job and queue message, then one runner (model already loaded) takes them all and the clock stops when
  the last job is ``done``; ``stages`` holds ``submit_s`` and ``run_s`` apart.

Audio comes from ``bench/make_audio.py`` (Debian speech packages, see there); the long file is
``bench/audio/speech_<N>s.wav``, the short jobs are composed in memory with seeds 1..N. Word error
is over all words of a scenario, after ``tests.speech.normalize``. Speed is audio seconds per wall
second (x real time). Peak GPU memory: torch's allocator peak, and the device's used memory seen by
NVML (the only view of CTranslate2's own allocations). Prints a Markdown table; ``--json`` saves rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import make_audio  # noqa: E402

from gpu_runner.audio import SAMPLE_RATE, decode  # noqa: E402
from gpu_runner.engines.base import TranscribeOptions  # noqa: E402
from tests.speech import normalize  # noqa: E402
from whisperq import models  # noqa: E402

Transcriber = Callable[[list[np.ndarray]], list[str]]
CACHE_DIR = Path.home() / ".cache" / "whisperq" / "models"


@dataclass
class Row:
    scenario: str
    runner: str
    device: str
    model: str
    audio_s: float
    wall_s: float
    speed_x: float
    wer: float
    torch_peak_mib: float | None
    nvml_peak_mib: float | None
    stages: dict | None = None  # the batched pipeline's own counters (VAD seconds, windows, rounds ...)


# --- audio --------------------------------------------------------------------------------------


def long_file(seconds: int) -> tuple[np.ndarray, str]:
    path = ROOT / "bench" / "audio" / f"speech_{seconds}s.wav"
    if not path.is_file():
        make_audio.main(["--seconds", str(seconds), "--out", str(path)])
    return decode(path), path.with_suffix(".txt").read_text(encoding="utf-8")


def short_jobs(count: int, seconds: float) -> tuple[list[np.ndarray], list[str]]:
    library = make_audio.load_library("mixed")
    audios, texts = [], []
    for seed in range(1, count + 1):
        samples, segments = make_audio.compose(seconds, "mixed", 0.5, seed, library)
        audios.append(samples.astype(np.float32) / 32768.0)
        texts.append(" ".join(s["text"] for s in segments))
    return audios, texts


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    import jiwer

    refs = [normalize(r, "en") for r in references]
    hyps = [normalize(h, "en") or "<empty>" for h in hypotheses]
    return float(jiwer.wer(refs, hyps))


# --- GPU memory ---------------------------------------------------------------------------------


class NvmlPeak:
    """Peak of the device's used memory while the block runs (sampled every 20 ms)."""

    def __init__(self, device: str):
        self.index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
        self.enabled = device.startswith("cuda")
        self.peak = self.base = 0

    def __enter__(self):
        if not self.enabled:
            return self
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        self.base = self.peak = pynvml.nvmlDeviceGetMemoryInfo(handle).used
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, pynvml.nvmlDeviceGetMemoryInfo(handle).used)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop.set()
            self._thread.join()

    @property
    def mib(self) -> float | None:
        return round(self.peak / 2**20, 1) if self.enabled else None


# --- runners ------------------------------------------------------------------------------------


def openai_whisper(folder: Path, device: str) -> Transcriber:
    import torch

    from gpu_runner.engines.torch_engine import load_whisper

    cuda = device.startswith("cuda")
    # float32 weights, as whisper.load_model gives them; fp16=True then computes in float16 as the seed did.
    model, _ = load_whisper(folder, torch.device(device), torch.float32)
    return lambda audios: [model.transcribe(a, beam_size=5, fp16=cuda)["text"] for a in audios]


def faster_whisper(folder: Path, device: str, threads: int) -> Transcriber:
    from faster_whisper import WhisperModel

    kind, _, index = device.partition(":")
    model = WhisperModel(
        str(folder), device=kind, device_index=int(index or 0),
        compute_type="float16" if kind == "cuda" else "int8", cpu_threads=threads,
    )  # fmt: skip

    def run(audios):
        return [" ".join(s.text.strip() for s in model.transcribe(a, beam_size=5)[0]) for a in audios]

    return run


def engine(name: str, folder: Path, device: str, threads: int, batch: int, beam: int, batched: bool) -> Transcriber:
    from gpu_runner.engines import create_engine

    eng = create_engine(name, folder, device=device, cpu_threads=threads, batch_size=batch)
    options = TranscribeOptions(beam_size=beam)
    if batched:

        def run(audios):
            texts = [t.text for t in eng.transcribe_batch([(a, options) for a in audios])]
            run.stages = {k: round(v, 3) for k, v in eng.pipeline.stats.items()}
            return texts

        return run
    return lambda audios: [eng.transcribe(a, options).text for a in audios]


def runners(args, folder: Path) -> dict[str, Callable[[], Transcriber]]:
    d, t, b = args.device, args.threads, args.batch_size
    return {
        "openai-whisper transcribe, beam 5, one by one": lambda: openai_whisper(folder, d),
        "faster-whisper transcribe, beam 5, one by one": lambda: faster_whisper(folder, d, t),
        "torch engine, beam 5, batched": lambda: engine("torch", folder, d, t, b, 5, True),
        "torch engine, greedy, batched": lambda: engine("torch", folder, d, t, b, 1, True),
        "torch engine, beam 5, one by one": lambda: engine("torch", folder, d, t, b, 5, False),
        "ctranslate2 engine, beam 5, batched": lambda: engine("ctranslate2", folder, d, t, b, 5, True),
        "whisperq runner (torch), beam 5, through the queue": lambda: queued("torch", args),
        "whisperq runner (ctranslate2), beam 5, through the queue": lambda: queued("ctranslate2", args),
    }


def queued(engine_name: str, args) -> Transcriber:
    from through_queue import QueueTranscriber

    return QueueTranscriber(engine_name, args.model, CACHE_DIR, args.device, args.threads, args.batch_size, 5)


# --- measuring ----------------------------------------------------------------------------------


def measure(scenario, runner_name, transcriber, audios, references, args) -> Row:
    cuda = args.device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with NvmlPeak(args.device) as nvml:
        started = time.perf_counter()
        hypotheses = transcriber(audios)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
    audio_s = sum(len(a) for a in audios) / SAMPLE_RATE
    torch_peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None
    return Row(
        scenario, runner_name, device_name(args.device), args.model, round(audio_s, 1), round(wall, 2),
        round(audio_s / wall, 1), round(corpus_wer(references, hypotheses), 4), torch_peak, nvml.mib,
        getattr(transcriber, "stages", None),
    )  # fmt: skip


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line), "")
    return f"CPU {model or platform.processor()}, {os.cpu_count()} cores"


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | runner | device | model | audio s | wall s | speed (x real time) | WER | "
        "torch peak MiB | NVML peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.runner} | {r.device} | {r.model} | {r.audio_s} | {r.wall_s} | {r.speed_x} | "
            f"{r.wer:.1%} | {r.torch_peak_mib or '-'} | {r.nvml_peak_mib or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cuda:0", help="cuda:N or cpu")
    parser.add_argument("--long-seconds", type=int, default=600, help="length of the long file (0: skip)")
    parser.add_argument("--jobs", type=int, default=None, help="short jobs (default: 256 on CUDA, 16 on CPU)")
    parser.add_argument("--job-seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--batch-size", type=int, default=0, help="windows per batch (0: the engine's auto)")
    parser.add_argument("--runners", default="", help="comma-separated substrings of runner names to keep")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    args.threads = args.threads or os.cpu_count() or 1
    jobs = args.jobs if args.jobs is not None else (256 if args.device.startswith("cuda") else 16)
    folder = models.model_folder(models.discover()[args.model], CACHE_DIR)
    scenarios = []
    if args.long_seconds:
        audio, text = long_file(args.long_seconds)
        scenarios.append((f"(a) one {args.long_seconds / 60:g}-minute file", [audio], [text]))
    if jobs:
        audios, texts = short_jobs(jobs, args.job_seconds)
        scenarios.append((f"(b) {jobs} queued jobs of {args.job_seconds:g} s", audios, texts))
    keep = [k.strip() for k in args.runners.split(",") if k.strip()]
    rows: list[Row] = []
    for runner_name, make in runners(args, folder).items():
        if keep and not any(k in runner_name for k in keep):
            continue
        transcriber = make()
        transcriber([audios[0][: 5 * SAMPLE_RATE]] if jobs else [audio[: 5 * SAMPLE_RATE]])  # warm-up
        for scenario, clips, references in scenarios:
            if "one by one" in runner_name and "torch engine" in runner_name and scenario.startswith("(a)"):
                continue  # one file: the same as batched
            row = measure(scenario, runner_name, transcriber, clips, references, args)
            rows.append(row)
            print(json.dumps(asdict(row)), flush=True)
        del transcriber
        gc.collect()
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
    rows.sort(key=lambda r: r.scenario)
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
