"""AWS Lambda entry points.

``handler``: the FastAPI app behind API Gateway (HTTP API and REST API events) through Mangum.
``events_handler``: S3 ObjectCreated events, delivered directly or through SQS; SQS batches report
partial failures so only the failed messages come back.
"""

from __future__ import annotations

import logging
from typing import Any

from mangum import Mangum

from functions.app import create_app
from functions.routes.events import handle_created
from functions.s3_events import created_objects, from_sqs_body

log = logging.getLogger(__name__)

_app = None
_mangum: Mangum | None = None


def _application():
    global _app, _mangum
    if _app is None:
        _app = create_app()
        _mangum = Mangum(_app, lifespan="off")
    return _app, _mangum


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _, mangum = _application()
    return mangum(event, context)


def events_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app, _ = _application()
    ctx = app.state.ctx
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        failures = []
        for record in records:
            try:
                handle_created(ctx, from_sqs_body(record.get("body", "")))
            except Exception:  # noqa: BLE001 - report this message as failed, keep the rest
                log.exception("event message %s failed", record.get("messageId"))
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}
    jobs = handle_created(ctx, list(created_objects(event)))
    return {"jobs": jobs}
