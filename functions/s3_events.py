"""Reading S3 event notifications, in every envelope they arrive in: AWS S3 events (direct to a
Lambda, or inside SQS messages), and MinIO webhook posts. Keys in events are URL-encoded with '+'
for spaces, so they go through unquote_plus; ``s3:TestEvent`` messages are skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class CreatedObject:
    bucket: str
    key: str  # as decoded with unquote_plus (AWS, moto, MinIO encode keys in events)
    etag: str | None
    raw_key: str = ""  # as sent: some servers (MiniStack) send keys unencoded

    def key_candidates(self) -> list[str]:
        """The decoded key first; the raw one too where decoding changed it (a '+' or '%' in a name)."""
        return [self.key] + ([self.raw_key] if self.raw_key and self.raw_key != self.key else [])


def created_objects(payload: Any) -> Iterator[CreatedObject]:
    """Every ObjectCreated record in an S3 event (AWS or MinIO shape); anything else yields nothing."""
    if not isinstance(payload, dict) or payload.get("Event") == "s3:TestEvent":
        return
    for record in payload.get("Records") or []:
        name = str(record.get("eventName", ""))
        s3 = record.get("s3") or {}
        if not (name.startswith("ObjectCreated") or name.startswith("s3:ObjectCreated")):
            continue
        bucket = (s3.get("bucket") or {}).get("name", "")
        obj = s3.get("object") or {}
        if "key" not in obj:
            continue
        etag = obj.get("eTag") or obj.get("etag")
        yield CreatedObject(bucket, unquote_plus(obj["key"]), etag, obj["key"])


def from_sqs_body(body: str) -> list[CreatedObject]:
    """An S3 notification delivered through SQS (possibly wrapped in an SNS envelope)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and "Message" in payload:
        return from_sqs_body(payload["Message"])
    return list(created_objects(payload))
