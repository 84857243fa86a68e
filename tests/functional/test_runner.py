"""The runner against the embedded store and queue, with the real tiny.en model: idempotency paths."""

from __future__ import annotations

import threading
import time

from gpu_runner import worker
from tests.functional.conftest import Pipeline
from tests.speech import load_manifest, word_error_rate
from whisperq import layout
from whisperq.jobs import JobState, RefineStatus


def test_job_runs_to_done_with_one_result(pipeline: Pipeline):
    job_id = pipeline.submit()
    assert pipeline.runner.run_once(wait_s=1) == 1
    job = pipeline.repo.get(job_id).job
    assert job.state is JobState.DONE and job.attempts == 1
    result = pipeline.repo.get_result(job_id)
    assert word_error_rate(load_manifest()["en_ivr.wav"]["text"], result.text, "en") <= 0.1
    assert pipeline.queue.counts().visible + pipeline.queue.counts().in_flight == 0


def test_duplicate_delivery_of_a_finished_job_is_acknowledged_without_work(pipeline: Pipeline):
    job_id = pipeline.submit()
    pipeline.runner.run_once(wait_s=1)
    result_before = pipeline.store.get_bytes(layout.result_key(job_id))
    pipeline.queue.send({"job_id": job_id})  # at-least-once: the same message again
    assert pipeline.runner.run_once(wait_s=1) == 1
    assert pipeline.store.get_bytes(layout.result_key(job_id)) == result_before
    assert pipeline.repo.get(job_id).job.attempts == 1
    assert pipeline.queue.counts().visible == 0


def test_result_written_by_a_dead_attempt_is_reused_not_redone(pipeline: Pipeline):
    job_id = pipeline.submit()
    pipeline.runner.run_once(wait_s=1)
    result = pipeline.repo.get_result(job_id)
    # Rewind the manifest as if the runner died after writing the result, before marking done.
    pipeline.repo.update(job_id, lambda j: j)  # touch
    manifest_key = layout.manifest_key(job_id)
    data, etag = pipeline.store.get_json(manifest_key)
    data.update(state="processing", completed_at=None)
    pipeline.store.put_json(manifest_key, data, if_match=etag)
    pipeline.queue.send({"job_id": job_id})
    pipeline.runner.run_once(wait_s=1)
    job = pipeline.repo.get(job_id).job
    assert job.state is JobState.DONE and job.attempts == 2
    assert pipeline.repo.get_result(job_id).elapsed_s == result.elapsed_s  # the same, written once


def test_job_ends_in_error_after_max_attempts(tmp_path, models_manager):
    pipeline = Pipeline(tmp_path, models_manager, max_attempts=2)
    job_id = pipeline.submit()
    for _attempt in range(2):  # two runners that died mid-job
        pipeline.repo.update(job_id, pipeline.runner._claim)
    pipeline.runner.run_once(wait_s=1)
    job = pipeline.repo.get(job_id).job
    assert job.state is JobState.ERROR
    assert job.error.startswith("gave up after 2 attempts")
    assert pipeline.queue.counts().visible + pipeline.queue.counts().in_flight == 0


def test_unknown_model_on_the_runner_is_a_clear_job_error(pipeline: Pipeline):
    job_id = pipeline.submit(model="large-v3")
    pipeline.runner.run_once(wait_s=1)
    job = pipeline.repo.get(job_id).job
    assert job.state is JobState.ERROR
    assert "large-v3" in job.error and "installed" in job.error


def test_stopping_runner_hands_the_job_back(pipeline: Pipeline, monkeypatch):
    job_id = pipeline.submit("en_reading.wav")
    pipeline.stop_runner_at_first_progress(monkeypatch)
    pipeline.runner.run_once(wait_s=1)
    pipeline.assert_handed_back(job_id)


def test_cancelled_mid_job_stops_and_acknowledges(pipeline: Pipeline, monkeypatch):
    monkeypatch.setattr(worker, "PROGRESS_WRITE_INTERVAL_S", 0.0)
    job_id = pipeline.submit("en_reading.wav")

    def cancel_when_processing():
        deadline = time.monotonic() + 30
        while pipeline.repo.get(job_id).job.state is not JobState.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.01)

        def cancel(job):
            job.state = JobState.CANCELLED
            return job

        pipeline.repo.update(job_id, cancel)

    canceller = threading.Thread(target=cancel_when_processing)
    canceller.start()
    pipeline.runner.run_once(wait_s=1)
    canceller.join()
    assert pipeline.repo.get(job_id).job.state is JobState.CANCELLED
    assert pipeline.repo.get_result(job_id) is None
    assert pipeline.queue.counts().visible + pipeline.queue.counts().in_flight == 0


def test_sweeper_resends_a_lost_message(tmp_path, models_manager):
    pipeline = Pipeline(tmp_path, models_manager, sweep_after_s=0.5)
    job_id = pipeline.submit()
    [message] = pipeline.queue.receive(wait_s=1)
    pipeline.queue.delete(message.receipt)  # the message is lost; the job is still queued
    time.sleep(0.6)
    pipeline.runner.run_once(wait_s=1)
    assert pipeline.repo.get(job_id).job.state is JobState.DONE


def test_upgrade_transcribation_leaves_a_refine_request_and_never_waits_for_it(pipeline: Pipeline):
    plain, upgraded = pipeline.submit(), pipeline.submit(upgrade=True)
    pipeline.runner.run_once(wait_s=1)
    pipeline.runner.run_once(wait_s=1)
    assert pipeline.repo.get(plain).job.refine is None
    job = pipeline.repo.get(upgraded).job
    assert job.state is JobState.DONE
    assert job.refine.status is RefineStatus.PENDING and job.refine.attempts == 0
    [message] = pipeline.refine_queue.receive(wait_s=1)
    assert message.body == {"job_id": upgraded, "run": job.refine.run}


def test_a_lost_refine_request_is_sent_again_by_the_duplicate_job_message(pipeline: Pipeline):
    job_id = pipeline.submit(upgrade=True)
    pipeline.runner.run_once(wait_s=1)
    [lost] = pipeline.refine_queue.receive(wait_s=1)
    pipeline.refine_queue.delete(lost.receipt)  # as if the runner died between "done" and sending it
    pipeline.queue.send({"job_id": job_id})  # the job message it had not deleted comes back
    pipeline.runner.run_once(wait_s=1)
    [again] = pipeline.refine_queue.receive(wait_s=1)
    assert again.body == lost.body
    assert pipeline.queue.counts().visible + pipeline.queue.counts().in_flight == 0


def test_a_batch_of_jobs_finishes_each_once_and_a_cancel_spares_the_others(tmp_path, models_manager, monkeypatch):
    monkeypatch.setattr(worker, "PROGRESS_WRITE_INTERVAL_S", 0.0)
    pipeline = Pipeline(tmp_path, models_manager, batch_jobs=3)
    ids = [pipeline.submit(clip) for clip in ("en_ivr.wav", "en_reading.wav", "en_ivr.ogg")]

    def cancel_the_second():
        deadline = time.monotonic() + 30
        while pipeline.repo.get(ids[1]).job.state is not JobState.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.01)

        def cancel(job):
            job.state = JobState.CANCELLED
            return job

        pipeline.repo.update(ids[1], cancel)

    canceller = threading.Thread(target=cancel_the_second)
    canceller.start()
    assert pipeline.runner.run_once(wait_s=1) == 3  # all three taken in one go
    canceller.join()
    states = [pipeline.repo.get(i).job.state for i in ids]
    assert states == [JobState.DONE, JobState.CANCELLED, JobState.DONE]
    reference = load_manifest()["en_ivr.wav"]["text"]
    for job_id in (ids[0], ids[2]):
        assert word_error_rate(reference, pipeline.repo.get_result(job_id).text, "en") <= 0.1
    assert pipeline.repo.get_result(ids[1]) is None
    counts = pipeline.queue.counts()
    assert counts.visible + counts.in_flight == 0


def test_jobs_of_a_batch_are_fetched_and_concluded_concurrently_each_with_its_own_outcome(tmp_path, models_manager):
    pipeline = Pipeline(tmp_path, models_manager, batch_jobs=4)
    pipeline.runner.io_threads = 4
    good = [pipeline.submit("en_ivr.wav"), pipeline.submit("en_reading.wav")]
    garbage = pipeline.submit("en_ivr.wav")
    pipeline.store.put_bytes(pipeline.repo.get(garbage).job.audio_key, b"not audio" * 500)
    vanished = pipeline.submit("en_ivr.wav")
    pipeline.store.delete(pipeline.repo.get(vanished).job.audio_key)

    assert pipeline.runner.run_once(wait_s=1) == 4
    jobs = {job_id: pipeline.repo.get(job_id).job for job_id in [*good, garbage, vanished]}
    assert [jobs[i].state for i in good] == [JobState.DONE, JobState.DONE]
    assert jobs[garbage].state is JobState.ERROR and jobs[garbage].error.startswith("cannot decode audio")
    assert jobs[vanished].state is JobState.QUEUED and "attempt 1 failed" in jobs[vanished].error  # retried later
    manifest = load_manifest()
    for job_id, clip in zip(good, ["en_ivr.wav", "en_reading.wav"], strict=True):
        assert word_error_rate(manifest[clip]["text"], pipeline.repo.get_result(job_id).text, "en") <= 0.12
    counts = pipeline.queue.counts()
    assert (counts.visible, counts.in_flight) == (0, 1)  # only the vanished job's message, to come back


def test_batch_gather_waits_for_jobs_of_a_burst(tmp_path, models_manager):
    def submit_two_more_soon(pipeline: Pipeline) -> threading.Thread:
        def later():
            time.sleep(0.4)
            pipeline.submit("en_ivr.wav")
            pipeline.submit("en_ivr.wav")

        thread = threading.Thread(target=later)
        thread.start()
        return thread

    alone = Pipeline(tmp_path / "alone", models_manager, batch_jobs=3)
    alone.submit("en_ivr.wav")
    thread = submit_two_more_soon(alone)
    assert alone.runner.run_once(wait_s=1) == 1  # no gathering: the two later jobs wait for the next batch
    thread.join()

    gathering = Pipeline(tmp_path / "gathering", models_manager, batch_jobs=3, batch_gather_s=1.5)
    gathering.submit("en_ivr.wav")
    thread = submit_two_more_soon(gathering)
    assert gathering.runner.run_once(wait_s=1) == 3
    thread.join()
    assert gathering.queue.counts().visible + gathering.queue.counts().in_flight == 0


def test_a_job_that_cannot_be_claimed_leaves_the_rest_of_the_batch_going(tmp_path, models_manager):
    pipeline = Pipeline(tmp_path, models_manager, batch_jobs=3)
    good = [pipeline.submit("en_ivr.wav"), pipeline.submit("en_ivr.wav")]
    broken = pipeline.submit("en_ivr.wav")
    pipeline.store.put_bytes(layout.manifest_key(broken), b"{not a manifest")  # unreadable: claiming it raises

    assert pipeline.runner.run_once(wait_s=1) == 3
    assert [pipeline.repo.get(i).job.state for i in good] == [JobState.DONE, JobState.DONE]
    counts = pipeline.queue.counts()
    assert (counts.visible, counts.in_flight) == (0, 1)  # the broken job's message comes back later
    assert pipeline.runner.visibility.held() == set()  # and nothing is kept hidden for ever
