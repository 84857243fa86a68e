"""The refine Lambda (functions.refine_handler.handler) with the SQS event that Lambda's event source
mapping builds, against the embedded backends (folder + SQLite) and S3 + SQS protocol servers (moto and
MiniStack), with a real OpenAI-compatible HTTP server on 127.0.0.1 as the LLM."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from functions import refine_handler
from tests.llm_server import FakeLLM
from tests.refine_jobs import RAW, create_done_job
from tests.servers import unique_name
from whisperq import layout
from whisperq.jobs import RefineStatus
from whisperq.queue import Message, Queue, open_queue
from whisperq.queue.sqs import ensure_queue
from whisperq.refine.requests import request_refinement
from whisperq.repository import JobRepository
from whisperq.settings import get_settings
from whisperq.store import Store, open_store

pytestmark = pytest.mark.e2e


@dataclass
class Backends:
    store: Store
    queue: Queue
    repo: JobRepository


def _urls(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(store URL, refine queue URL) of a fresh bucket and queue of the backend ``kind``."""
    if kind == "embedded":
        return str(tmp_path / "bucket"), f"sqlite:///{tmp_path / 'refine.sqlite3'}"
    server = request.getfixturevalue(f"{kind}_server")
    request.getfixturevalue("monkeypatch").setenv("AWS_ENDPOINT_URL", server.url)
    name = unique_name("wq")
    store = open_store(f"s3://{name}")
    store.create_bucket()
    store.close()
    return f"s3://{name}", ensure_queue(f"{name}-refine", max_receives=4, visibility_timeout_s=30)


@pytest.fixture(params=["embedded", "moto", "ministack"])
def backends(request, monkeypatch, tmp_path) -> Iterator[Backends]:
    store_url, queue_url = _urls(request.param, request, tmp_path)
    llm = FakeLLM().open()
    for name, value in {
        "WHISPERQ_STORE_URL": store_url,
        "WHISPERQ_REFINE_QUEUE_URL": queue_url,
        "WHISPERQ_DATA_DIR": str(tmp_path / "lambda-tmp"),
        "WHISPERQ_REFINE__TIMEOUT_S": "5",
        "WHISPERQ_REFINE__RETRIES": "0",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    monkeypatch.setattr(refine_handler, "_refiner", None)
    store = open_store(store_url)
    queue = open_queue(queue_url, visibility_timeout_s=30, max_receives=4)
    yield Backends(store, queue, JobRepository(store))
    queue.close()
    store.close()
    llm.close()
    get_settings.cache_clear()


def sqs_event(messages: list[Message]) -> dict:
    """What Lambda's event source mapping passes for messages it received from the refine queue."""
    records = []
    for message in messages:
        body = json.dumps(message.body)
        records.append(
            {
                "messageId": message.id,
                "receiptHandle": message.receipt,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(message.receive_count),
                    "SentTimestamp": str(int(time.time() * 1000)),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:whisperq-refine",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def receive_all(queue: Queue, wanted: int) -> list[Message]:
    messages: list[Message] = []
    deadline = time.monotonic() + 10
    while len(messages) < wanted and time.monotonic() < deadline:
        messages += queue.receive(max_messages=wanted - len(messages), wait_s=1)
    assert len(messages) == wanted
    return messages


def test_refines_each_record_and_reports_only_the_failed_one(backends: Backends):
    good = request_refinement(backends.repo, backends.queue, create_done_job(backends.repo).id)
    # A manifest the service cannot read: handling its message raises, as a store failure would.
    broken = create_done_job(backends.repo)
    request_refinement(backends.repo, backends.queue, broken.id)
    backends.store.put_bytes(layout.manifest_key(broken.id), b'{"not": "a job"}', content_type="application/json")

    messages = receive_all(backends.queue, 2)
    failed = next(m.id for m in messages if m.body["job_id"] == broken.id)
    result = refine_handler.handler(sqs_event(messages), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": failed}]}
    job = backends.repo.get(good.id).job
    assert job.refine.status is RefineStatus.OK and job.refine.attempts == 1
    stored = backends.repo.get_refined(good.id, job.refine.run)
    assert stored.text == "[cleanup] " + " ".join(RAW).upper()
    # The handled message is gone; the failed one is still held, to come back after its timeout.
    counts = backends.queue.counts()
    assert (counts.visible, counts.in_flight) == (0, 1)


def test_a_duplicate_delivery_changes_nothing(backends: Backends):
    job = request_refinement(backends.repo, backends.queue, create_done_job(backends.repo).id)
    messages = receive_all(backends.queue, 1)
    assert refine_handler.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    first = backends.repo.get(job.id).job.refine
    again = refine_handler.handler(sqs_event(messages), None)  # at-least-once: the same record again
    assert again == {"batchItemFailures": []}
    assert backends.repo.get(job.id).job.refine == first
    assert first.status is RefineStatus.OK


def test_a_record_that_is_not_a_refine_request_is_dropped(backends: Backends):
    backends.queue.send({"hello": "world"})
    messages = receive_all(backends.queue, 1)
    assert refine_handler.handler(sqs_event(messages), None) == {"batchItemFailures": []}
    counts = backends.queue.counts()
    assert (counts.visible, counts.in_flight) == (0, 0)
