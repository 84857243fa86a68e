"""The SQS queue: a standard queue and its dead-letter queue, through boto3 (AWS or an SQS-compatible server).

What the SQLite queue does in code, SQS does in the queue's configuration: the dead-letter side and
``max_receives`` are the queue's RedrivePolicy (``deadLetterTargetArn``, ``maxReceiveCount``), set
where the queue is made (infra, or :func:`ensure_queue` for tests and dev setups); this code only
reads it, and warns when it differs from what the service expects.

SQS has no priorities: ``priority="high"`` messages go to a second queue named like the first plus
``-high`` (same dead-letter queue), which every receive checks first with a short poll; a high message
that arrives during a long poll on the normal queue waits for that poll to end. Without that queue,
high messages go to the normal one (with a warning).

``dedup_id`` is ignored: standard queues do not deduplicate, and a duplicate message is harmless
because every step of a job is idempotent. Long polls are whole seconds on SQS, at most 20 per call:
``wait_s`` is rounded up, and a longer wait takes several calls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from whisperq.aws import endpoint_from_env, error_code, make_client
from whisperq.queue.base import Message, Queue, QueueCounts, QueueError, ReceiptInvalid

log = logging.getLogger(__name__)

_MAX_WAIT_S = 20
_MAX_BATCH = 10
_MAX_VISIBILITY_S = 12 * 3600
_PEEK_HOLD_S = 30  # dead letters being read stay hidden this long at most, then are released at once
_DLQ_RETENTION_S = 14 * 24 * 3600
# ChangeMessageVisibility with a receipt that no longer holds the message (AWS and the local servers differ).
_STALE_RECEIPT = {
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
}
_HIGH_SUFFIX = "-high"
_HIGH_TAG = "high:"  # marks receipts of the high-priority queue (SQS receipt handles have no colon)
_AWS_HOST = re.compile(r"^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_UNSET = object()


def _client_location(url: str, endpoint_url: str | None) -> tuple[str | None, str | None]:
    """(endpoint, region) for a queue URL: AWS URLs name their region; other hosts are the endpoint
    unless one is configured, so ``WHISPERQ_QUEUE_URL=http://localhost:4566/000000000000/jobs`` just works."""
    parsed = urlparse(url)
    match = _AWS_HOST.match(parsed.hostname or "")
    if match:
        return endpoint_url, match.group(1)
    if endpoint_url is None and endpoint_from_env("sqs") is None:
        endpoint_url = f"{parsed.scheme}://{parsed.netloc}"
    return endpoint_url, None


def _decode(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"raw": body}  # a foreign producer's message


def _pair(attributes: dict[str, str]) -> tuple[int, int]:
    """(visible, in flight) from a queue's attributes."""
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


class SqsQueue(Queue):
    def __init__(
        self,
        url: str,
        *,
        visibility_timeout_s: int = 60,
        max_receives: int | None = None,
        endpoint_url: str | None = None,
        priorities: bool = True,
    ):
        self.url = url
        self.visibility_timeout_s = visibility_timeout_s
        self.max_receives = max_receives  # only checked against the queue's redrive policy
        self.requests: Counter[str] = Counter()
        endpoint_url, region = _client_location(url, endpoint_url)
        self._client = make_client("sqs", requests=self.requests, endpoint_url=endpoint_url, region_name=region)
        self._dlq_url: Any = _UNSET
        self._high_url: Any = _UNSET if priorities else None  # None: no high twin to look for

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            if "ReceiptHandle" in kwargs and error_code(exc)[0] in _STALE_RECEIPT:
                raise ReceiptInvalid(str(exc)) from exc
            raise QueueError(f"SQS {operation} on {kwargs.get('QueueUrl')}: {exc}") from exc

    # --- messages ----------------------------------------------------------------------------
    def send(self, body: dict[str, Any], *, dedup_id: str | None = None, priority: str = "normal") -> str:
        url = (self._high_queue_url() if priority == "high" else None) or self.url
        return self._call("send_message", QueueUrl=url, MessageBody=json.dumps(body))["MessageId"]

    def receive(self, *, max_messages=1, wait_s=0.0, visibility_timeout_s=None):
        timeout = self.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        high = self._high_queue_url()
        if high is not None:
            raw = self._receive_raw(high, max_messages, 0, timeout)
            if raw:
                return [self._message(item, _HIGH_TAG + item["ReceiptHandle"]) for item in raw]
        deadline = time.monotonic() + wait_s
        while True:
            wait = min(_MAX_WAIT_S, max(0, math.ceil(deadline - time.monotonic())))
            raw = self._receive_raw(self.url, max_messages, wait, timeout)
            if raw or time.monotonic() >= deadline:
                return [self._message(item, item["ReceiptHandle"]) for item in raw]

    def _receive_raw(self, url: str, max_messages: int, wait_s: int, timeout_s: int) -> list[dict]:
        response = self._call(
            "receive_message",
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(max_messages, _MAX_BATCH)),
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=_visibility(timeout_s),
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return response.get("Messages", [])

    @staticmethod
    def _message(item: dict, receipt: str) -> Message:
        count = int(item.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        return Message(item["MessageId"], _decode(item["Body"]), receipt, count)

    def _route(self, receipt: str) -> tuple[str, str]:
        """The queue URL and the SQS receipt handle behind one of our receipts."""
        high = self._high_queue_url() if receipt.startswith(_HIGH_TAG) else None
        if high is not None:
            return high, receipt.removeprefix(_HIGH_TAG)
        return self.url, receipt

    def delete(self, receipt: str) -> None:
        url, handle = self._route(receipt)
        with contextlib.suppress(ReceiptInvalid):  # AWS and moto accept a stale receipt; MiniStack refuses it
            self._call("delete_message", QueueUrl=url, ReceiptHandle=handle)

    def change_visibility(self, receipt: str, timeout_s: int) -> None:
        url, handle = self._route(receipt)
        self._call(
            "change_message_visibility",
            QueueUrl=url,
            ReceiptHandle=handle,
            VisibilityTimeout=_visibility(timeout_s),
        )

    def change_visibility_many(self, receipts: list[str], timeout_s: int) -> list[str]:
        """Ten receipts per ChangeMessageVisibilityBatch request (per queue: normal and high)."""
        by_url: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for receipt in receipts:
            url, handle = self._route(receipt)
            by_url[url].append((receipt, handle))
        stale = []
        for url, items in by_url.items():
            for start in range(0, len(items), _MAX_BATCH):
                part = items[start : start + _MAX_BATCH]
                stale += self._change_visibility_batch(url, part, timeout_s)
        return stale

    def _change_visibility_batch(self, url: str, items: list[tuple[str, str]], timeout_s: int) -> list[str]:
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": _visibility(timeout_s)}
            for i, (_, handle) in enumerate(items)
        ]
        response = self._call("change_message_visibility_batch", QueueUrl=url, Entries=entries)
        stale = []
        for failed in response.get("Failed", []):
            receipt = items[int(failed["Id"])][0]
            if failed.get("Code") in _STALE_RECEIPT:
                stale.append(receipt)
            else:
                log.warning("could not extend a message's visibility: %s %s", failed.get("Code"), failed.get("Message"))
        return stale

    def _high_queue_url(self) -> str | None:
        if self._high_url is _UNSET:
            name = urlparse(self.url).path.rsplit("/", 1)[-1] + _HIGH_SUFFIX
            try:
                self._high_url = self._client.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                # Missing, or not granted (AWS answers AccessDenied before it says whether a queue exists):
                # priorities are optional, so the service carries on without them.
                log.warning("no queue %s (%s): high priority is served like normal", name, error_code(exc)[0])
                self._high_url = None
        return self._high_url

    # --- counts and the dead-letter side -----------------------------------------------------
    def _counts_of(self, url: str, *extra: str) -> dict[str, str]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", *extra]
        return self._call("get_queue_attributes", QueueUrl=url, AttributeNames=names).get("Attributes", {})

    def counts(self) -> QueueCounts:
        extra = ("RedrivePolicy",) if self._dlq_url is _UNSET else ()
        attributes = self._counts_of(self.url, *extra)
        if extra:
            self._resolve_dead_letter_queue(attributes.get("RedrivePolicy"))
        visible, in_flight = _pair(attributes)
        high = self._high_queue_url()
        if high is not None:
            high_visible, high_in_flight = _pair(self._counts_of(high))
            visible, in_flight = visible + high_visible, in_flight + high_in_flight
        dead = sum(_pair(self._counts_of(self._dlq_url))) if self._dlq_url is not None else 0
        return QueueCounts(visible=visible, in_flight=in_flight, dead=dead)

    def _dead_letter_url(self) -> str | None:
        if self._dlq_url is _UNSET:
            attributes = self._call("get_queue_attributes", QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
            self._resolve_dead_letter_queue(attributes.get("Attributes", {}).get("RedrivePolicy"))
        return self._dlq_url

    def _resolve_dead_letter_queue(self, redrive_policy: str | None) -> None:
        if not redrive_policy:
            log.warning("queue %s has no redrive policy: a failing message is received forever", self.url)
            self._dlq_url = None
            return
        policy = json.loads(redrive_policy)
        if self.max_receives is not None and int(policy["maxReceiveCount"]) != self.max_receives:
            log.warning(
                "queue %s: maxReceiveCount is %s, the service expects %s (set it on the queue's redrive policy)",
                self.url,
                policy["maxReceiveCount"],
                self.max_receives,
            )
        _, _, _, _, account, name = policy["deadLetterTargetArn"].split(":", 5)
        self._dlq_url = self._call("get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]

    def dead_letters(self, limit=100):
        """Reads the dead-letter queue by receiving (SQS has no peek): messages are hidden while read,
        then made visible again at once. Each read adds one to their receive count."""
        url = self._dead_letter_url()
        if url is None:
            return []
        expected = min(limit, int(self._counts_of(url).get("ApproximateNumberOfMessages", 0)))
        held: dict[str, dict] = {}
        try:
            while len(held) < expected:
                batch = self._receive_raw(url, expected - len(held), 1, _PEEK_HOLD_S)
                if not batch:
                    break
                held.update((item["MessageId"], item) for item in batch)
        finally:
            self._release(url, [item["ReceiptHandle"] for item in held.values()])
        ordered = sorted(held.values(), key=lambda item: int(item.get("Attributes", {}).get("SentTimestamp", 0)))
        return [self._message(item, receipt="") for item in ordered]

    def _release(self, url: str, receipts: list[str]) -> None:
        for start in range(0, len(receipts), _MAX_BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for n, receipt in enumerate(receipts[start : start + _MAX_BATCH])
            ]
            self._call("change_message_visibility_batch", QueueUrl=url, Entries=entries)

    def close(self) -> None:
        self._client.close()


def _visibility(timeout_s: int) -> int:
    """A visibility timeout SQS takes: 0 to 12 hours."""
    return min(max(timeout_s, 0), _MAX_VISIBILITY_S)


def ensure_queue(name: str, max_receives: int, visibility_timeout_s: int, *, endpoint_url: str | None = None) -> str:
    """Create (or update) queue ``name``, its high-priority twin ``name-high`` and their dead-letter
    queue ``name-dlq``; returns the URL of ``name``.

    For tests and dev setups (``localstack-compose``); production queues come from infra.
    """
    client = make_client("sqs", requests=Counter(), endpoint_url=endpoint_url)
    try:
        dlq_url = _create_queue(client, f"{name}-dlq", {"MessageRetentionPeriod": str(_DLQ_RETENTION_S)})
        arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
        attributes = {"VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": redrive}
        _create_queue(client, name + _HIGH_SUFFIX, attributes)
        return _create_queue(client, name, attributes)
    finally:
        client.close()


def _create_queue(client: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if error_code(exc)[0] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url
