#!/usr/bin/env python3
"""How fast ``/api/queue`` lists at 10,000+ jobs: the state index on a folder or on S3.

    python bench/queue_listing.py --backend local --jobs 10000
    python bench/queue_listing.py --backend moto --jobs 10000        # starts its own moto server
    python bench/queue_listing.py --backend ministack --jobs 10000 --queued 2000

Creates the jobs through ``JobRepository.create`` (index entry + manifest each): ``--queued`` and
``--processing`` of them waiting, 1% failed, the rest done. Then times ``JobRepository.list_all
(limit_finished=200)`` and the ``/api/queue`` response shape built from it (the route's queue
counts come from the queue, not the store, and are left out). On S3 it also counts the requests of
one listing and of one job's whole life. Prints a Markdown table.

``--read-threads N`` measures reading every listed index entry N at a time (what the repository
did before index keys carried the summaries), to compare against the listing as it is.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stores import open_bench_store  # noqa: E402

from whisperq.jobs import Job, JobState, TranscriptResult, new_job_id  # noqa: E402
from whisperq.repository import JobRepository  # noqa: E402
from whisperq.status_view import queue_entry  # noqa: E402
from whisperq.store import ObjectNotFound, Store  # noqa: E402


class ConcurrentReadsRepository(JobRepository):
    """``list_state`` reading the index entries concurrently, in key order (the proposal measured)."""

    def __init__(self, store: Store, threads: int):
        super().__init__(store)
        self.pool = ThreadPoolExecutor(threads)

    def list_state(self, state: JobState, limit: int | None = None) -> list[dict]:
        keys = list(itertools.islice(self.iter_index_keys(state), limit))
        return [summary for summary in self.pool.map(self._read, keys) if summary is not None]

    def _read(self, key: str) -> dict | None:
        try:
            return self.store.get_json(key)[0]
        except ObjectNotFound:
            return None


def make_job(n: int, state: JobState, t0: float) -> Job:
    job = Job(id=new_job_id(), state=state, filename=f"clip-{n}.wav", audio_key=f"audio/{n}/a.wav", file_size=n)
    job.created_at = job.updated_at = t0 + n * 0.01
    if state is not JobState.QUEUED:
        job.started_at, job.device, job.attempts = job.created_at + 1, "cpu", 1
    if state.terminal:
        job.completed_at = job.created_at + 5
        job.error = "decoding failed" if state is JobState.ERROR else None
    return job


def plan(jobs: int, queued: int, processing: int) -> list[JobState]:
    failed = jobs // 100
    done = jobs - queued - processing - failed
    if done < 0:
        raise SystemExit("--queued and --processing add up to more than --jobs")
    counts = {JobState.QUEUED: queued, JobState.PROCESSING: processing, JobState.ERROR: failed, JobState.DONE: done}
    return [state for state, count in counts.items() for _ in range(count)]


def populate(repo: JobRepository, states: list[JobState], threads: int) -> float:
    t0 = time.time() - len(states)
    jobs = [make_job(n, state, t0) for n, state in enumerate(states)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(repo.create, jobs, chunksize=64))
    return time.perf_counter() - started


def api_queue_shape(repo: JobRepository) -> dict:
    listing = repo.list_all(200)
    names = {"queue": JobState.QUEUED, "processing": JobState.PROCESSING, "completed": JobState.DONE}
    names |= {"failed": JobState.ERROR, "cancelled": JobState.CANCELLED}
    return {name: [queue_entry(s) for s in listing[state]] for name, state in names.items()}


def timed(action: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - started)
    return times, value


def requests_during(store: Store, action: Callable[[], object]) -> Counter[str]:
    counter: Counter[str] = getattr(store, "requests", Counter())
    before = Counter(counter)
    action()
    return counter - before


def one_job_life(store: Store, repo: JobRepository) -> None:
    """Submit, claim, report progress, write the result, finish, then read the status as a client would."""
    job = make_job(0, JobState.QUEUED, time.time())
    store.put_bytes(job.audio_key, b"RIFF....WAVE")
    repo.create(job)

    def claim(j: Job) -> Job:
        j.state, j.started_at, j.attempts, j.device = JobState.PROCESSING, time.time(), 1, "cpu"
        return j

    def progress(j: Job) -> Job:
        j.progress = 0.5
        return j

    def finish(j: Job) -> Job:
        j.state, j.completed_at, j.progress = JobState.DONE, time.time(), 1.0
        return j

    repo.update(job.id, claim)
    repo.update(job.id, progress)
    result = TranscriptResult(job_id=job.id, text="hi", model_name="tiny", engine="ct2", device="cpu", elapsed_s=1)
    repo.put_result(result)
    repo.update(job.id, finish)
    repo.get(job.id)
    repo.get_result(job.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["local", "moto", "ministack"], default="local")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--queued", type=int, default=100, help="jobs left waiting (listing reads all of them)")
    parser.add_argument("--processing", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16, help="writers while creating the jobs")
    parser.add_argument("--read-threads", type=int, default=0, help="list with concurrent reads (a proposal)")
    parser.add_argument("--dir", type=Path, help="folder of the local store (default: a temporary one)")
    args = parser.parse_args(argv)

    states = plan(args.jobs, args.queued, args.processing)
    with open_bench_store(args.backend, args.dir, prefix="queue-listing-") as store:
        repo = ConcurrentReadsRepository(store, args.read_threads) if args.read_threads else JobRepository(store)
        create_s = populate(repo, states, args.threads)
        list_times, listing = timed(lambda: repo.list_all(limit_finished=200), args.repeat)
        shape_times, shape = timed(lambda: api_queue_shape(repo), args.repeat)
        listing_requests = requests_during(store, lambda: repo.list_all(limit_finished=200))
        life_requests = requests_during(store, lambda: one_job_life(store, repo))

    shown = {state.value: len(summaries) for state, summaries in listing.items() if summaries}
    reads = f", index entries read {args.read_threads} at a time" if args.read_threads else ""
    rate = args.jobs / create_s
    print(f"backend {args.backend}{reads}: {args.jobs} jobs created in {create_s:.1f} s ({rate:.0f} jobs/s)")
    print(f"listed per state: {shown}; /api/queue entries: {sum(len(v) for v in shape.values())}\n")
    print("| what | median ms | min ms | max ms |")
    print("|---|---|---|---|")
    for name, times in (("list_all(limit_finished=200)", list_times), ("/api/queue shape", shape_times)):
        ms = [t * 1000 for t in times]
        print(f"| {name} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |")
    if listing_requests:
        print(f"\nS3 requests of one listing: {dict(listing_requests)}")
        print(f"S3 requests of one job's life (submit to status read): {dict(life_requests)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
