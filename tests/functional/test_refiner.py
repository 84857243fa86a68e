"""The refiner against a real OpenAI-compatible HTTP server on 127.0.0.1 (tests/llm_server.py):
each outcome is recorded in the job's ``refine`` object, the job stays done, the raw text stays."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.llm_server import FakeLLM, refined
from tests.refine_jobs import RAW, create_done_job
from tests.service import free_port
from whisperq import layout
from whisperq.jobs import Job, JobState, RefinedText, RefineStatus
from whisperq.queue.sqlite import SqliteQueue
from whisperq.refine.refiner import Refiner
from whisperq.refine.requests import request_refinement, send_refine_request
from whisperq.repository import JobRepository
from whisperq.settings import RefineSettings
from whisperq.store.local import LocalStore

TIMEOUT_S = 0.5
RETRIES = 2


@pytest.fixture
def llm(monkeypatch):
    server = FakeLLM().open()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    yield server
    server.close()


class Bench:
    def __init__(self, root: Path, **settings):
        self.store = LocalStore(root / "bucket")
        self.repo = JobRepository(self.store)
        self.queue = SqliteQueue(root / "refine.sqlite3", visibility_timeout_s=5, max_receives=4, poll_interval_s=0.02)
        defaults = dict(timeout_s=TIMEOUT_S, retries=RETRIES, backoff_s=0.01, max_backoff_s=0.1, poll_wait_s=0.1)
        self.settings = RefineSettings(**{**defaults, **settings})
        self.refiner = Refiner(self.store, self.queue, self.settings, "fake-model")

    def done_job(self, segments: list[str] = RAW, upgrade: bool = True) -> Job:
        job = create_done_job(self.repo, segments, upgrade)
        if upgrade:
            job = request_refinement(self.repo, self.queue, job.id)
        return job

    def refine(self, job_id: str) -> Job:
        assert self.refiner.run_once(wait_s=1) == 1
        return self.repo.get(job_id).job


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def _raw_kept(bench: Bench, job: Job) -> None:
    assert job.state is JobState.DONE
    assert bench.repo.get_result(job.id).text == " ".join(RAW)
    assert bench.queue.counts().visible + bench.queue.counts().in_flight == 0


def test_success_writes_the_refined_text_once_beside_the_raw_one(bench: Bench, llm: FakeLLM):
    job = bench.refine(bench.done_job().id)
    refine = job.refine
    assert refine.status is RefineStatus.OK and refine.error is None
    assert (refine.backend, refine.model, refine.preset, refine.chunks, refine.attempts) == (
        "openai",
        "fake-model",
        "cleanup",
        1,
        1,
    )
    assert refine.elapsed_s > 0 and refine.completed_at >= refine.started_at
    stored = bench.repo.get_refined(job.id, refine.run)
    assert refine.refined_key == layout.refined_key(job.id, refine.run)
    assert stored.text == refined(llm.prompts[0]) == "[cleanup] " + " ".join(RAW).upper()
    assert llm.models == ["fake-model"]
    assert "<transcript>\n" + " ".join(RAW) + "\n</transcript>" in llm.prompts[0]
    _raw_kept(bench, job)


def test_rate_limited_after_every_retry(bench: Bench, llm: FakeLLM):
    llm.mode = "429"
    started = time.monotonic()
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.RATE_LIMITED
    assert "HTTP 429" in job.refine.error and f"after {RETRIES + 1} attempts" in job.refine.error
    assert llm.requests == RETRIES + 1
    assert time.monotonic() - started >= RETRIES * 0.05  # Retry-After: 0.05 was honoured
    _raw_kept(bench, job)


def test_a_retry_after_a_429_can_still_succeed(bench: Bench, llm: FakeLLM):
    llm.script.extend(["429", "500"])
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.OK and llm.requests == 3


def test_server_error_after_every_retry(bench: Bench, llm: FakeLLM):
    llm.mode = "500"
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.SERVER_ERROR
    assert "HTTP 500" in job.refine.error and "the model crashed" in job.refine.error
    assert llm.requests == RETRIES + 1
    _raw_kept(bench, job)


def test_a_stalled_server_times_out(bench: Bench, llm: FakeLLM):
    llm.mode = "stall"
    started = time.monotonic()
    job = bench.refine(bench.done_job().id)
    elapsed = time.monotonic() - started
    assert job.refine.status is RefineStatus.TIMEOUT
    assert f"within {TIMEOUT_S:g}s" in job.refine.error
    assert (RETRIES + 1) * TIMEOUT_S <= elapsed < (RETRIES + 1) * TIMEOUT_S + 3
    _raw_kept(bench, job)


def test_no_server_at_all_is_unreachable(bench: Bench, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.UNREACHABLE
    assert "cannot reach http://127.0.0.1:" in job.refine.error
    _raw_kept(bench, job)


def test_a_refused_request_is_not_retried(bench: Bench, llm: FakeLLM):
    llm.mode = "400"
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.FAILED and "HTTP 400" in job.refine.error
    assert llm.requests == 1


def test_an_empty_answer_fails(bench: Bench, llm: FakeLLM):
    llm.mode = "empty"
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.FAILED and "no text" in job.refine.error


def test_without_a_provider_nothing_is_sent(bench: Bench, llm: FakeLLM, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.NOT_CONFIGURED
    assert "OPENAI_BASE_URL" in job.refine.error
    assert llm.requests == 0
    _raw_kept(bench, job)


def test_an_empty_base_url_with_a_key_means_openai_itself(monkeypatch):
    from whisperq.refine.backends.openai_backend import OpenAIBackend

    monkeypatch.setenv("OPENAI_BASE_URL", "")  # as a deployment template leaves an unset parameter
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert OpenAIBackend("gpt-4o-mini", timeout_s=5).where == "https://api.openai.com/v1"


def test_backend_none_disables_refinement(tmp_path: Path, llm: FakeLLM):
    bench = Bench(tmp_path, backend="none")
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.DISABLED and "WHISPERQ_REFINE__BACKEND=none" in job.refine.error
    assert llm.requests == 0


def test_a_long_transcript_is_refined_in_parts_and_joined_in_order(tmp_path: Path, llm: FakeLLM):
    bench = Bench(tmp_path, max_chunk_chars=200)
    segments = [f"Segment {i} of a long call about an order that never arrived." for i in range(12)]
    job = bench.refine(bench.done_job(segments).id)
    assert job.refine.status is RefineStatus.OK
    assert job.refine.chunks == llm.requests > 1
    text = bench.repo.get_refined(job.id, job.refine.run).text
    lines = text.split("\n")
    assert len(lines) == llm.requests
    assert all(line.startswith("[cleanup] ") for line in lines)
    assert " ".join(line.removeprefix("[cleanup] ") for line in lines) == " ".join(segments).upper()
    assert "part 2 of" in llm.prompts[1]


def test_call_center_preset_and_a_rerun_supersede_the_first_result(bench: Bench, llm: FakeLLM):
    first = bench.refine(bench.done_job().id)
    again = request_refinement(bench.repo, bench.queue, first.id, "call_center")
    assert again.refine.status is RefineStatus.PENDING and again.refine.run != first.refine.run
    job = bench.refine(first.id)
    assert job.refine.status is RefineStatus.OK and job.refine.preset == "call_center"
    assert bench.repo.get_refined(job.id, job.refine.run).text.startswith("[call_center] ")
    assert "Автоответчик" in llm.prompts[-1]
    assert bench.repo.get_refined(job.id, first.refine.run) is not None  # written once, never overwritten


def test_custom_template_from_the_template_folder(tmp_path: Path, llm: FakeLLM):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "custom.md").write_text("CUSTOM prompt\n<transcript>\n{transcript}\n</transcript>\n")
    bench = Bench(tmp_path, template_dir=templates, preset="custom")
    job = bench.refine(bench.done_job().id)
    assert bench.repo.get_refined(job.id, job.refine.run).text.startswith("[custom] ")


def test_an_unknown_preset_fails_clearly(tmp_path: Path, llm: FakeLLM):
    bench = Bench(tmp_path, preset="nope")
    job = bench.refine(bench.done_job().id)
    assert job.refine.status is RefineStatus.FAILED and "unknown refine preset 'nope'" in job.refine.error
    assert llm.requests == 0


def test_a_message_of_a_superseded_run_is_dropped(bench: Bench, llm: FakeLLM):
    job = bench.done_job()
    request_refinement(bench.repo, bench.queue, job.id)  # a second request before the first ran
    assert bench.refiner.run_once(wait_s=1) == 1  # the first run's message: dropped
    assert llm.requests == 0
    assert bench.refine(job.id).refine.status is RefineStatus.OK
    assert llm.requests == 1


def test_a_refiner_that_died_mid_run_is_followed_by_another(bench: Bench, llm: FakeLLM):
    job = bench.done_job()
    [message] = bench.queue.receive(wait_s=1, visibility_timeout_s=0)  # a refiner took it ...
    bench.repo.update_refine(job.id, lambda j: bench.refiner._claim(j, job.refine.run))  # ... and died
    done = bench.refine(job.id)
    assert done.refine.status is RefineStatus.OK and done.refine.attempts == 2


def test_the_refiner_gives_up_after_max_attempts(tmp_path: Path, llm: FakeLLM):
    bench = Bench(tmp_path, max_attempts=2)
    job = bench.done_job()
    for _ in range(2):
        bench.repo.update_refine(job.id, lambda j: bench.refiner._claim(j, job.refine.run))
    done = bench.refine(job.id)
    assert done.refine.status is RefineStatus.FAILED and "gave up after 2 attempts" in done.refine.error
    assert llm.requests == 0


def test_refined_text_written_by_a_dead_delivery_is_reused(bench: Bench, llm: FakeLLM):
    job = bench.done_job()
    earlier = RefinedText(
        job_id=job.id,
        run=job.refine.run,
        text="from before",
        preset="cleanup",
        backend="openai",
        model="fake-model",
        elapsed_s=1.0,
        chunks=1,
    )
    bench.repo.put_refined(earlier)
    done = bench.refine(job.id)
    assert done.refine.status is RefineStatus.OK and llm.requests == 0
    assert bench.repo.get_refined(job.id, job.refine.run).text == "from before"


def test_a_duplicate_message_of_a_finished_run_is_dropped(bench: Bench, llm: FakeLLM):
    job = bench.refine(bench.done_job().id)
    send_refine_request(bench.queue, job)  # not pending any more: nothing is sent
    bench.queue.send({"job_id": job.id, "run": job.refine.run})  # a duplicate delivery all the same
    assert bench.refiner.run_once(wait_s=1) == 1
    assert llm.requests == 1 and bench.repo.get(job.id).job.refine == job.refine


def test_only_done_jobs_can_be_refined(bench: Bench):
    job = bench.done_job(upgrade=False)
    queued = Job(id="queued1", filename="a.wav", audio_key="audio/q/a.wav", file_size=1)
    bench.repo.create(queued)
    with pytest.raises(ValueError, match="only a done job"):
        request_refinement(bench.repo, bench.queue, queued.id)
    assert bench.repo.get(job.id).job.refine is None
    assert request_refinement(bench.repo, bench.queue, job.id).state is JobState.DONE


def test_a_stopping_refiner_hands_the_request_back(bench: Bench, llm: FakeLLM):
    llm.mode = "429"
    llm.retry_after = "5"
    bench.settings.max_backoff_s = 5
    job = bench.done_job()
    threading.Timer(0.3, bench.refiner.stop).start()
    started = time.monotonic()
    bench.refiner.run_once(wait_s=1)
    assert time.monotonic() - started < 3
    back = bench.repo.get(job.id).job.refine
    assert back.status is RefineStatus.PENDING and back.attempts == 0
    assert bench.queue.counts().visible == 1


def test_a_dropped_file_gets_its_refined_text_in_the_outbox(bench: Bench, llm: FakeLLM):
    job = bench.done_job(upgrade=False)
    bench.repo.update(job.id, lambda j: j.model_copy(update={"source_key": "inbox/calls/monday.wav"}))
    request_refinement(bench.repo, bench.queue, job.id)
    bench.refine(job.id)
    text, _ = bench.store.get_bytes("outbox/calls/monday.refined.txt")
    assert text.decode() == "[cleanup] " + " ".join(RAW).upper()
