#!/usr/bin/env python3
"""How fast ``/api/logs`` tails the event log, and with how many store requests.

    python bench/logs_tail.py --backend local --events 2000
    python bench/logs_tail.py --backend moto --events 2000          # starts its own moto server
    python bench/logs_tail.py --backend ministack --events 2000

Writes ``--events`` events through ``EventLog.emit`` (``--long-every`` of them with a message too long
for its key), then times ``EventLog.tail(200)`` as it is (events from the keys) against the way it was
(list the keys, then read each event object in turn). On S3 it also counts the requests of each.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stores import open_bench_store  # noqa: E402

from whisperq import layout  # noqa: E402
from whisperq.events import EventLog  # noqa: E402
from whisperq.store import Store  # noqa: E402


def read_every_object(store: Store, limit: int) -> list[dict]:
    """The tail as it was before keys carried the events: one read per event."""
    keys = itertools.islice(store.list_keys(layout.LOGS_PREFIX), limit)
    return [store.get_json(key)[0] for key in keys][::-1]


def measure(store: Store, action: Callable[[], object], runs: int) -> tuple[float, Counter[str]]:
    """Median milliseconds of ``action`` over ``runs``, and the requests of one run (S3 only)."""
    counter: Counter[str] = getattr(store, "requests", Counter())
    times = []
    for _ in range(runs):
        before = counter.copy()
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
        requests = counter - before
    return statistics.median(times), requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["local", "moto", "ministack"], default="local")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--long-every", type=int, default=50, help="one event in N has a message over the key")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with open_bench_store(args.backend, prefix="logs-tail-") as store:
        log = EventLog(store, source="runner-bench-cuda0")
        started = time.perf_counter()
        for n in range(args.events):
            msg = f"Task {n:08x} done in 1.2s on cuda:0" if n % args.long_every else "failed: " + "x" * 800
            log.emit(msg, job_id=f"{n:032x}")
        write_s = time.perf_counter() - started
        new_ms, new_requests = measure(store, lambda: log.tail(200), args.runs)
        old_ms, old_requests = measure(store, lambda: read_every_object(store, 200), args.runs)
        assert log.tail(200) == read_every_object(store, 200)
    print(f"{args.events} events written in {write_s:.1f} s; tail of 200, median of {args.runs} runs\n")
    print("| tail | median ms | requests |\n|---|---|---|")
    print(f"| events from keys | {new_ms:.0f} | {dict(new_requests) or '(file system)'} |")
    print(f"| one read per event (before) | {old_ms:.0f} | {dict(old_requests) or '(file system)'} |")


if __name__ == "__main__":
    main()
