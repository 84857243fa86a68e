"""The queue interface, shaped after SQS: at-least-once delivery with a visibility timeout."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class QueueError(Exception):
    pass


class ReceiptInvalid(QueueError):
    """The receipt no longer holds the message (it became visible again and someone else took it)."""


@dataclass(frozen=True)
class Message:
    id: str
    body: dict[str, Any]
    receipt: str
    receive_count: int


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    dead: int


class Queue(ABC):
    """Each queue has a dead-letter side: a message received more than ``max_receives`` times
    moves there instead of being delivered again."""

    url: str

    @abstractmethod
    def send(self, body: dict[str, Any], *, dedup_id: str | None = None, priority: str = "normal") -> str:
        """Enqueue a message; returns its id. A backend may drop a send whose ``dedup_id``
        matches a message still in the queue. ``priority="high"`` messages are received before
        every ``normal`` one that is waiting."""

    @abstractmethod
    def receive(
        self, *, max_messages: int = 1, wait_s: float = 0.0, visibility_timeout_s: int | None = None
    ) -> list[Message]:
        """Take up to ``max_messages``; waits up to ``wait_s`` for one to arrive (long poll)."""

    @abstractmethod
    def delete(self, receipt: str) -> None:
        """Acknowledge a message. Deleting with a stale receipt is a no-op, as on SQS."""

    @abstractmethod
    def change_visibility(self, receipt: str, timeout_s: int) -> None:
        """Hide a received message for ``timeout_s`` more seconds (0 makes it visible now)."""

    def change_visibility_many(self, receipts: list[str], timeout_s: int) -> list[str]:
        """:meth:`change_visibility` for each receipt; returns those no longer valid (deleted, or
        received again by someone else). Backends with a batch call override it."""
        stale = []
        for receipt in receipts:
            try:
                self.change_visibility(receipt, timeout_s)
            except ReceiptInvalid:
                stale.append(receipt)
        return stale

    @abstractmethod
    def counts(self) -> QueueCounts: ...

    @abstractmethod
    def dead_letters(self, limit: int = 100) -> list[Message]:
        """Messages that went to the dead-letter side, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
