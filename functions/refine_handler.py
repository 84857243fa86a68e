"""AWS Lambda entry point of the refiner: the refine queue's SQS event source calls ``handler``.

Each record is one refine request, handled by the same :meth:`Refiner.handle` that the long-poll
``whisperq refiner`` runs per message: it claims the run in the manifest, asks the LLM, records the
outcome and deletes the message itself (with the record's receipt handle). A record whose handling
raised (a store or queue failure) is reported in ``batchItemFailures`` and comes back after its
visibility timeout; the others are not delivered again (ReportBatchItemFailures on the trigger).

This module imports neither FastAPI nor Mangum: the refine function starts without the API's code.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from whisperq.queue import Message
from whisperq.refine.main import build_refiner
from whisperq.refine.refiner import Refiner
from whisperq.settings import get_settings

log = logging.getLogger(__name__)

_refiner: Refiner | None = None


def _get_refiner() -> Refiner:
    """One refiner per Lambda container, built from the environment on the first invocation."""
    global _refiner
    if _refiner is None:
        settings = get_settings()
        logging.getLogger().setLevel(settings.log_level)
        _refiner = build_refiner(settings)
    return _refiner


def message_of(record: dict[str, Any]) -> Message:
    """The queue message an SQS event record carries (body decoded as the SQS queue decodes it)."""
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        body = None
    count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    return Message(
        id=record["messageId"],
        body=body if isinstance(body, dict) else {"raw": record.get("body")},
        receipt=record["receiptHandle"],
        receive_count=count,
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    refiner = _get_refiner()
    failures = []
    for record in event.get("Records") or []:
        try:
            refiner.handle(message_of(record))
        except Exception:  # noqa: BLE001 - report this message as failed, keep the rest
            log.exception("refine message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
