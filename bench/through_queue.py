"""The runner of ``whisperq runner``, fed through the store and the queue, as a benchmark transcriber.

Each call writes every audio as a WAV object, creates its job and queue message as the API does
(``functions.submission``: audio, manifest, index entry, message), then starts a runner on an
already loaded model and waits until every job is done: the time covers the whole path a queued job
takes (claim, download, decode, VAD, batched recognition, result and manifest writes, acknowledgement).
The embedded backends (folder store, SQLite queue) are used unless ``WHISPERQ_STORE_URL`` and
``WHISPERQ_QUEUE_URL`` point elsewhere.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

from gpu_runner.audio import SAMPLE_RATE
from gpu_runner.engines import create_engine
from gpu_runner.main import build_runner
from gpu_runner.model_manager import ModelManager
from whisperq import layout
from whisperq.jobs import Job, JobParams, JobState, new_job_id
from whisperq.settings import RunnerSettings, Settings

POLL_S = 0.02


def wav_bytes(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


class QueueTranscriber:
    """``__call__(audios) -> texts`` through the queue; ``stages`` holds where the time went."""

    def __init__(self, engine: str, model: str, cache_dir: Path, device: str, threads: int, batch: int, beam: int):
        self.model = model
        self.data_dir = Path(tempfile.mkdtemp(prefix="whisperq-bench-"))
        self.settings = Settings(
            data_dir=self.data_dir,
            runner=RunnerSettings(
                engine=engine, cpu_threads=threads, batch_size=batch, beam_size=beam, batch_jobs=256,
                poll_wait_s=POLL_S, model_idle_unload_s=0, heartbeat_interval_s=1.0, inbox_poll_s=0,
            ),
        )  # fmt: skip
        self.device = device
        self.models = ModelManager(
            lambda f: create_engine(engine, f, device=device, cpu_threads=threads, batch_size=batch), [], cache_dir
        )
        started = time.perf_counter()
        self.engine = self.models.get(model)
        self.load_s = time.perf_counter() - started
        self.stages: dict[str, float] = {}

    def __call__(self, audios: list[np.ndarray]) -> list[str]:
        runner = build_runner(self.settings, self.device, models=self.models)
        started = time.perf_counter()
        ids = [self._submit(runner, audio, n) for n, audio in enumerate(audios)]
        submitted = time.perf_counter()
        thread = threading.Thread(target=runner.run_forever, name="bench-runner", daemon=True)
        thread.start()
        try:
            self._wait_done(runner, ids)
        finally:
            runner.stop()
        finished = time.perf_counter()
        thread.join()
        pipeline = getattr(self.engine, "pipeline", None)
        self.stages = {
            "submit_s": round(submitted - started, 3),
            "run_s": round(finished - submitted, 3),
            **{k: round(v, 3) for k, v in (getattr(pipeline, "stats", None) or {}).items()},
        }
        return [runner.repo.get_result(job_id).text for job_id in ids]

    def _submit(self, runner, audio: np.ndarray, number: int) -> str:
        job_id = new_job_id()
        filename = f"bench-{number:04d}.wav"
        key = layout.audio_key(job_id, filename)
        data = wav_bytes(audio)
        runner.store.put_bytes(key, data)
        job = Job(id=job_id, params=JobParams(model_name=self.model), filename=filename, audio_key=key,
                  file_size=len(data))  # fmt: skip
        runner.intake.create_queued(job)
        return job_id

    @staticmethod
    def _wait_done(runner, ids: list[str]) -> None:
        pending = set(ids)
        while pending:
            time.sleep(POLL_S)
            pending -= {s["id"] for s in runner.repo.list_state(JobState.DONE)}
            failed = {s["id"]: s.get("error") for s in runner.repo.list_state(JobState.ERROR)}
            if failed.keys() & pending:
                raise RuntimeError(f"jobs failed in the runner: {failed}")
