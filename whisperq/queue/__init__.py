"""Queues, chosen by URL: ``sqlite:///path`` for the embedded queue, an ``http(s)://`` SQS queue URL for SQS."""

from __future__ import annotations

from whisperq.queue.base import Message, Queue, QueueCounts, QueueError, ReceiptInvalid

__all__ = ["Message", "Queue", "QueueCounts", "QueueError", "ReceiptInvalid", "open_queue"]


def open_queue(url: str, *, visibility_timeout_s: int = 60, max_receives: int = 4, priorities: bool = True) -> Queue:
    """``priorities=False``: a queue whose messages are all alike (no ``-high`` twin on SQS is looked for)."""
    if url.startswith("sqlite:///"):
        from whisperq.queue.sqlite import SqliteQueue

        # As in SQLAlchemy: sqlite:///relative/file, sqlite:////absolute/file
        return SqliteQueue(
            url.removeprefix("sqlite:///"),
            visibility_timeout_s=visibility_timeout_s,
            max_receives=max_receives,
        )
    if url.startswith(("http://", "https://")):
        from whisperq.queue.sqs import SqsQueue

        # SQS keeps max_receives in the queue's redrive policy; the queue only checks it matches.
        return SqsQueue(
            url, visibility_timeout_s=visibility_timeout_s, max_receives=max_receives, priorities=priorities
        )
    raise ValueError(
        f"unsupported queue URL {url!r}: use sqlite:///path/to/queue.sqlite3 or an SQS queue URL (https://...)"
    )
