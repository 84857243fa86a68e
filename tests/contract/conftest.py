"""Every store and queue backend runs the same contract tests.

A backend is a factory in ``STORE_BACKENDS`` / ``QUEUE_BACKENDS``. The distributed ones talk S3 and
SQS to protocol servers started once per session on 127.0.0.1 (moto in server mode and MiniStack, see
``tests/servers.py``); each test gets a bucket or queue of its own. Dummy AWS credentials and region are
set only while those servers run, and only in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import Server, unique_name
from whisperq.queue import Queue, open_queue
from whisperq.queue.sqlite import SqliteQueue
from whisperq.queue.sqs import ensure_queue
from whisperq.store import Store, open_store
from whisperq.store.local import LocalStore

# name -> factory(tmp_path, request) returning a fresh, empty backend
StoreFactory = Callable[[Path, pytest.FixtureRequest], Store]
QueueFactory = Callable[[Path, pytest.FixtureRequest, int, int], Queue]


def _server(request: pytest.FixtureRequest, kind: str, endpoint_variable: str) -> Server:
    """The session's server of ``kind``, started on first use, and boto3 pointed at it for this test."""
    server = request.getfixturevalue(f"{kind}_server")
    request.getfixturevalue("monkeypatch").setenv(endpoint_variable, server.url)
    return server


def s3_store(kind: str) -> StoreFactory:
    def factory(_tmp: Path, request: pytest.FixtureRequest) -> Store:
        _server(request, kind, "AWS_ENDPOINT_URL_S3")
        store = open_store(f"s3://{unique_name('whisperq')}/tenant")  # keys under a prefix
        store.create_bucket()
        return store

    return factory


def sqs_queue(kind: str) -> QueueFactory:
    def factory(_tmp: Path, request: pytest.FixtureRequest, visibility: int, max_receives: int) -> Queue:
        _server(request, kind, "AWS_ENDPOINT_URL_SQS")
        url = ensure_queue(unique_name("whisperq"), max_receives, visibility)
        return open_queue(url, visibility_timeout_s=visibility, max_receives=max_receives)

    return factory


STORE_BACKENDS: dict[str, StoreFactory] = {
    "local": lambda tmp, _req: LocalStore(tmp / "bucket"),
    "s3-moto": s3_store("moto"),
    "s3-ministack": s3_store("ministack"),
}
QUEUE_BACKENDS: dict[str, QueueFactory] = {
    "sqlite": lambda tmp, _req, visibility, max_receives: SqliteQueue(
        tmp / "queue.sqlite3", visibility_timeout_s=visibility, max_receives=max_receives, poll_interval_s=0.05
    ),
    "sqs-moto": sqs_queue("moto"),
    "sqs-ministack": sqs_queue("ministack"),
}

# Cases a server cannot pass, and why. Strict: when the server gets it right, the mark must go.
KNOWN_FAILURES = {
    "test_compare_and_swap_has_one_winner_among_threads[s3-moto]": (
        "S3 ETags are MD5s of the bytes, so the contender that writes back the bytes already there must use"
        " a one-part multipart upload to get a new ETag; moto ignores If-Match on CompleteMultipartUpload"
    ),
}


# Cases a server gets wrong only sometimes: moto checks If-Match and then writes without a lock, so
# under load two concurrent conditional writes can both win (AWS S3 and MiniStack do not allow it); its
# threaded server also picks and marks SQS messages without a lock, so two concurrent receives can both
# get one message (seen once in a loaded run: message 7 of 20 twice). The service itself tolerates a
# duplicate delivery (SQS is at-least-once), which tests elsewhere show.
KNOWN_RACES = {
    "test_concurrent_updaters_lose_no_update[s3-moto]": "moto's conditional PUT is not atomic under load",
    "test_each_message_goes_to_one_receiver[sqs-moto]": "moto's ReceiveMessage is not atomic under load",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = KNOWN_FAILURES.get(item.name)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        race = KNOWN_RACES.get(item.name)
        if race:
            item.add_marker(pytest.mark.xfail(reason=race, strict=False))


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
