"""The job repository on every store backend: manifests with compare-and-swap, and the state index."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.contract.counting import CountingReads
from whisperq.jobs import Job, JobState, new_job_id
from whisperq.repository import JobNotFound, JobRepository
from whisperq.store import PreconditionFailed, Store

T0 = 1_700_000_000.0


def make_job(n: int = 0, state: JobState = JobState.QUEUED) -> Job:
    """Job ``n`` was created at T0 + n s and, when it got that far, started 1 s and finished 2 s later."""
    created = T0 + n
    job = Job(id=new_job_id(), state=state, filename=f"clip-{n}.wav", audio_key=f"audio/{n}/clip.wav", file_size=n)
    job.created_at = job.updated_at = created
    if state is not JobState.QUEUED:
        job.started_at = created + 1
    if state.terminal:
        job.completed_at = created + 2
    return job


def ids(summaries: list[dict]) -> list[str]:
    return [s["id"] for s in summaries]


def test_create_get_and_create_only_once(store: Store):
    repo = JobRepository(store)
    job = make_job()
    created = repo.create(job)
    got = repo.get(job.id)
    assert got.job == job
    assert got.etag == created.etag
    with pytest.raises(PreconditionFailed):
        repo.create(job)
    with pytest.raises(JobNotFound):
        repo.get(new_job_id())
    assert ids(repo.list_state(JobState.QUEUED)) == [job.id]


def test_concurrent_updaters_lose_no_update(store: Store):
    repo = JobRepository(store)
    job = make_job(state=JobState.PROCESSING)
    repo.create(job)

    def bump(current: Job) -> Job:
        current.attempts += 1
        return current

    def updater() -> None:
        for _ in range(4):
            repo.update(job.id, bump, retries=1000)  # the retry budget is not under test here

    threads = [threading.Thread(target=updater) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert repo.get(job.id).job.attempts == 24
    assert ids(repo.list_state(JobState.PROCESSING)) == [job.id]


def test_one_of_many_claimers_wins_and_the_index_follows(store: Store):
    repo = JobRepository(store)
    job = make_job()
    repo.create(job)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claimer(name: str) -> None:
        def claim(current: Job) -> Job | None:
            if current.state is not JobState.QUEUED:
                return None
            current.state, current.runner_id, current.started_at = JobState.PROCESSING, name, time.time()
            return current

        barrier.wait()
        if repo.update(job.id, claim, retries=1000) is not None:
            winners.append(name)

    threads = [threading.Thread(target=claimer, args=(f"runner-{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert repo.get(job.id).job.runner_id == winners[0]
    listing = repo.list_all(limit_finished=10)
    assert ids(listing[JobState.PROCESSING]) == [job.id]
    assert sum(len(summaries) for summaries in listing.values()) == 1
    assert len(list(repo.iter_index_keys(JobState.PROCESSING))) == 1  # the losers' entries are gone


def test_listing_at_a_thousand_jobs(store: Store):
    repo = JobRepository(store)
    plan = {
        JobState.QUEUED: 40,
        JobState.PROCESSING: 10,
        JobState.DONE: 900,
        JobState.ERROR: 40,
        JobState.CANCELLED: 10,
    }
    states = [state for state, count in plan.items() for _ in range(count)]
    jobs = [make_job(n, state) for n, state in enumerate(states)]
    # Listing reads the index alone, so most jobs get only their index entry (half the writes).
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: repo._write_index(job) if job.state is JobState.DONE else repo.create(job), jobs))

    listing = repo.list_all(limit_finished=200)

    def expected(state: JobState, newest_first: bool, limit: int | None = None) -> list[str]:
        chosen = sorted((j for j in jobs if j.state is state), key=lambda j: j.created_at, reverse=newest_first)
        return [j.id for j in chosen][:limit]

    assert ids(listing[JobState.QUEUED]) == expected(JobState.QUEUED, newest_first=False)
    assert ids(listing[JobState.PROCESSING]) == expected(JobState.PROCESSING, newest_first=False)
    assert ids(listing[JobState.DONE]) == expected(JobState.DONE, newest_first=True, limit=200)
    assert ids(listing[JobState.ERROR]) == expected(JobState.ERROR, newest_first=True)
    assert ids(listing[JobState.CANCELLED]) == expected(JobState.CANCELLED, newest_first=True)
    assert listing[JobState.DONE][0]["filename"] == "clip-949.wav"  # summaries come from the index alone


def test_a_job_indexed_under_two_states_is_listed_once_under_the_later(store: Store):
    """A writer that died between writing the new index entry and swapping the manifest."""
    repo = JobRepository(store)
    stuck_queued, stuck_processing = make_job(1), make_job(2, JobState.PROCESSING)
    for job in (stuck_queued, stuck_processing):
        repo.create(job)
    repo._write_index(stuck_queued.model_copy(update={"state": JobState.PROCESSING, "started_at": T0 + 5}))
    repo._write_index(stuck_processing.model_copy(update={"state": JobState.DONE, "completed_at": T0 + 9}))

    listing = repo.list_all(limit_finished=200)

    assert ids(listing[JobState.QUEUED]) == []
    assert ids(listing[JobState.PROCESSING]) == [stuck_queued.id]
    assert ids(listing[JobState.DONE]) == [stuck_processing.id]
    assert len(list(repo.iter_index_keys(JobState.QUEUED))) == 1  # still there until the next change


def test_listing_reads_no_object_when_the_keys_hold_the_summaries(store: Store):
    repo = JobRepository(store)
    long_error = "cannot decode audio: " + "x" * 200
    for n in range(12):
        job = make_job(n, JobState.ERROR if n % 4 == 0 else JobState.DONE)
        job.filename = f"звонок клиента №{n}.wav"
        job.error = long_error if n == 0 else ("short error" if n % 4 == 0 else None)
        repo.create(job)
    counting = CountingReads(store)
    listing = JobRepository(counting).list_all(limit_finished=100)  # type: ignore[arg-type]
    assert counting.reads == 1  # only the entry whose error was too long for its key
    failed = {s["filename"]: s for s in listing[JobState.ERROR]}
    assert failed["звонок клиента №0.wav"]["error"] == long_error
    assert failed["звонок клиента №4.wav"]["error"] == "short error"
    assert len(listing[JobState.DONE]) == 9
    assert all(s["created_at"] >= T0 and s["attempts"] == 0 for s in listing[JobState.DONE])
