"""Every store and queue backend runs the same contract tests.

A backend is a factory in ``STORE_BACKENDS`` / ``QUEUE_BACKENDS``; distributed backends (S3, SQS
against protocol servers on 127.0.0.1) add their factories here and inherit every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from whisperq.queue import Queue
from whisperq.queue.sqlite import SqliteQueue
from whisperq.store import Store
from whisperq.store.local import LocalStore

# name -> factory(tmp_path, request) returning a fresh, empty backend
StoreFactory = Callable[[Path, pytest.FixtureRequest], Store]
QueueFactory = Callable[[Path, pytest.FixtureRequest, int, int], Queue]

STORE_BACKENDS: dict[str, StoreFactory] = {
    "local": lambda tmp, _req: LocalStore(tmp / "bucket"),
}
QUEUE_BACKENDS: dict[str, QueueFactory] = {
    "sqlite": lambda tmp, _req, visibility, max_receives: SqliteQueue(
        tmp / "queue.sqlite3", visibility_timeout_s=visibility, max_receives=max_receives, poll_interval_s=0.05
    ),
}


@pytest.fixture(params=sorted(STORE_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = STORE_BACKENDS[request.param](tmp_path, request)
    yield backend
    backend.close()


@pytest.fixture(params=sorted(QUEUE_BACKENDS))
def make_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Queue]]:
    """``make_queue(visibility_timeout_s=2, max_receives=3)``: a fresh queue of the backend under test."""
    made: list[Queue] = []

    def factory(visibility_timeout_s: int = 30, max_receives: int = 3) -> Queue:
        queue = QUEUE_BACKENDS[request.param](tmp_path, request, visibility_timeout_s, max_receives)
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        queue.close()
