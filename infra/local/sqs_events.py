"""Local stand-in for the Lambda SQS trigger of the events function (the `events` service).

On AWS, Lambda polls the events queue and calls ``functions.lambda_handler.events_handler`` with
batches of up to 10 records, deleting the messages whose ids are not in the returned
``batchItemFailures``. This loop does the same against LocalStack, so a file dropped into the
bucket's ``inbox/`` becomes a job locally exactly as it does on AWS.

Environment: ``EVENTS_QUEUE_URL`` (required), ``EVENTS_HANDLER`` (``module:function``, default
``functions.lambda_handler:events_handler``), and the usual ``AWS_*`` variables for boto3.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("whisperq.local.sqs_events")

BATCH = 10
WAIT_S = 20


class LambdaContext:
    """The few attributes of a Lambda context object a handler may read."""

    function_name = "whisperq-events-local"
    memory_limit_in_mb = 1024

    def __init__(self, timeout_s: float = 60.0):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from SQS ``ReceiveMessage`` results."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": dict(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def succeeded(messages: list[dict[str, Any]], result: Any) -> list[dict[str, Any]]:
    """The messages to delete: all but those the handler reported in ``batchItemFailures``."""
    failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
    failed = {item.get("itemIdentifier") for item in failures}
    return [m for m in messages if m["MessageId"] not in failed]


def load_handler(spec: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "events_handler")


def process_batch(client: Any, queue_url: str, queue_arn: str, region: str, handler: Callable) -> int:
    """Receive one batch, hand it to the handler, delete what succeeded. Returns the batch size."""
    response = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=BATCH,
        WaitTimeSeconds=WAIT_S,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages = response.get("Messages", [])
    if not messages:
        return 0
    try:
        result = handler(lambda_event(messages, queue_arn, region), LambdaContext())
    except Exception:  # noqa: BLE001 - like Lambda: the whole batch comes back after the timeout
        log.exception("events handler failed on a batch of %d", len(messages))
        return len(messages)
    done = succeeded(messages, result)
    if done:
        client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)],
        )
    if len(done) < len(messages):
        log.warning("%d of %d events failed and will be retried", len(messages) - len(done), len(messages))
    return len(messages)


def main() -> None:
    import boto3

    logging.basicConfig(
        level=os.environ.get("WHISPERQ_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    queue_url = os.environ["EVENTS_QUEUE_URL"]
    handler = load_handler(os.environ.get("EVENTS_HANDLER", "functions.lambda_handler:events_handler"))
    client = boto3.client("sqs")
    region = client.meta.region_name or "us-east-1"
    queue_arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("polling %s for bucket events", queue_url)
    while not stopping:
        process_batch(client, queue_url, queue_arn, region, handler)


if __name__ == "__main__":
    main()
