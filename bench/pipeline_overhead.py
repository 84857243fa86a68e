#!/usr/bin/env python3
"""What the pipeline costs on top of Whisper: submit latency, and submit-to-done for a clip against
faster-whisper called directly on the same file with the same settings.

    python bench/make_audio.py --seconds 60 --out bench/audio/mixed_60s.wav
    python bench/pipeline_overhead.py --audio bench/audio/mixed_60s.wav --model tiny.en --model base

Starts ``whisperq serve`` on a free port with a fresh data folder (one CPU runner), warms each
model with one job, then measures. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_runner.audio import decode  # noqa: E402
from tests.service import Service  # noqa: E402
from tests.speech import word_error_rate  # noqa: E402
from whisperq import models  # noqa: E402


def submit_latency(service: Service, audio: Path, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = service.submit(audio, model_name="tiny.en")
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def pipeline_time(service: Service, audio: Path, model: str) -> tuple[float, dict]:
    """Submit, then poll the status every 20 ms (the poll itself must not add to what is measured)."""
    started = time.perf_counter()
    task_id = service.submit(audio, model_name=model).json()["task_id"]
    while (status := service.get(f"/api/status/{task_id}").json())["status"] not in ("done", "error", "cancelled"):
        time.sleep(0.02)
    return time.perf_counter() - started, status


class Direct:
    """faster-whisper on the same file and settings, model loaded and warmed first (as in the runner)."""

    def __init__(self, model: str, threads: int):
        from faster_whisper import WhisperModel

        folder = models.model_folder(models.discover()[model], Path.home() / ".cache/whisperq/models")
        self.whisper = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)

    def run(self, audio: Path, beam: int) -> tuple[float, str]:
        started = time.perf_counter()
        segments, _ = self.whisper.transcribe(decode(audio), beam_size=beam)
        text = " ".join(s.text.strip() for s in segments)
        return time.perf_counter() - started, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, required=True)
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--submits", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model (the median is shown)")
    args = parser.parse_args()
    reference_path = args.audio.with_suffix(".txt")
    reference = reference_path.read_text() if reference_path.exists() else None
    duration = len(decode(args.audio)) / 16000
    model_names = args.model or ["tiny.en", "base"]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Path(tmp) / "data", WHISPERQ_RUNNER__CPU_THREADS=str(args.threads)).start()
        try:
            for model in model_names:
                pipeline_time(service, args.audio, model)  # warm: the model loads once per runner
                direct = Direct(model, args.threads)
                direct.run(args.audio, beam=5)  # warm
                pairs = []
                for _ in range(args.repeats):  # alternate, so load on the machine hits both alike
                    total, status = pipeline_time(service, args.audio, model)
                    seconds, text = direct.run(args.audio, beam=5)
                    pairs.append((total, seconds))
                rows.append((model, pairs, status, text))
                del direct
            # Last, so the jobs these uploads queue don't delay the timings above.
            latencies = submit_latency(service, args.audio, args.submits)
        finally:
            service.stop()

    size_mb = args.audio.stat().st_size / 1e6
    print(
        f"audio: {args.audio.name}, {duration:.1f} s, {size_mb:.2f} MB; CPU threads {args.threads}; beam 5; "
        f"{args.repeats} alternating runs each"
    )
    print(
        f"submit latency over {len(latencies)} uploads: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms"
    )
    print(
        "\n| model | pipeline submit→done s (median) | faster-whisper direct s (median) | ratio (median of pairs) "
        "| pipeline WER | direct WER |"
    )
    print("|---|---|---|---|---|---|")
    for model, pairs, status, text in rows:
        total = statistics.median(p for p, _ in pairs)
        direct_s = statistics.median(d for _, d in pairs)
        ratio = statistics.median(p / d for p, d in pairs)
        wer_p = f"{word_error_rate(reference, status['result'], 'en'):.1%}" if reference else "-"
        wer_d = f"{word_error_rate(reference, text, 'en'):.1%}" if reference else "-"
        print(f"| {model} | {total:.2f} | {direct_s:.2f} | {ratio:.3f} | {wer_p} | {wer_d} |")


if __name__ == "__main__":
    main()
