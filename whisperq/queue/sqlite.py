"""The embedded queue: one SQLite file in WAL mode, safe across processes.

A message is visible when ``visible_at <= now``. Receiving one bumps its receive count, gives it a new
receipt and hides it for the visibility timeout. A message received more than ``max_receives``
times goes to the dead-letter side instead. Long polling re-checks every ``poll_interval_s``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from whisperq.queue.base import Message, Queue, QueueCounts, ReceiptInvalid

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    dedup_id TEXT,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    dead INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS messages_ready ON messages (dead, priority, seq);
CREATE INDEX IF NOT EXISTS messages_dedup ON messages (dedup_id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt);
"""


class SqliteQueue(Queue):
    def __init__(
        self,
        path: Path | str,
        *,
        visibility_timeout_s: int = 60,
        max_receives: int = 4,
        poll_interval_s: float = 0.05,
    ):
        self.path = Path(path).resolve()
        self.url = f"sqlite:///{self.path}"  # the path is absolute: four slashes
        self.visibility_timeout_s = visibility_timeout_s
        self.max_receives = max_receives
        self.poll_interval_s = poll_interval_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._connect()
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
        if "priority" not in columns:  # a queue file from before priorities
            conn.execute("ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
        conn.executescript(_INDEXES)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def send(self, body: dict[str, Any], *, dedup_id: str | None = None, priority: str = "normal") -> str:
        conn = self._connect()
        message_id = uuid.uuid4().hex
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if dedup_id is not None:
                row = conn.execute("SELECT id FROM messages WHERE dedup_id = ? AND dead = 0", (dedup_id,)).fetchone()
                if row:
                    conn.execute("COMMIT")
                    return row[0]
            conn.execute(
                "INSERT INTO messages (id, body, dedup_id, sent_at, visible_at, priority) VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, json.dumps(body), dedup_id, now, now, 1 if priority == "high" else 0),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return message_id

    def receive(self, *, max_messages=1, wait_s=0.0, visibility_timeout_s=None):
        timeout = self.visibility_timeout_s if visibility_timeout_s is None else visibility_timeout_s
        deadline = time.monotonic() + wait_s
        while True:
            messages = self._receive_now(max_messages, timeout)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))

    def _receive_now(self, max_messages: int, timeout: int) -> list[Message]:
        conn = self._connect()
        now = time.time()
        received: list[Message] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT seq, id, body, receive_count FROM messages "
                "WHERE dead = 0 AND visible_at <= ? ORDER BY priority DESC, seq LIMIT ?",
                (now, max_messages * 4),
            ).fetchall()
            for seq, message_id, body, receive_count in rows:
                if len(received) == max_messages:
                    break
                if receive_count >= self.max_receives:
                    conn.execute("UPDATE messages SET dead = 1, receipt = NULL WHERE seq = ?", (seq,))
                    continue
                receipt = f"{message_id}:{uuid.uuid4().hex}"
                conn.execute(
                    "UPDATE messages SET receive_count = ?, receipt = ?, visible_at = ? WHERE seq = ?",
                    (receive_count + 1, receipt, now + timeout, seq),
                )
                received.append(Message(message_id, json.loads(body), receipt, receive_count + 1))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return received

    def delete(self, receipt: str) -> None:
        self._connect().execute("DELETE FROM messages WHERE receipt = ?", (receipt,))

    def change_visibility(self, receipt: str, timeout_s: int) -> None:
        cursor = self._connect().execute(
            "UPDATE messages SET visible_at = ? WHERE receipt = ? AND dead = 0",
            (time.time() + timeout_s, receipt),
        )
        if cursor.rowcount == 0:
            raise ReceiptInvalid("the message was deleted or received again by someone else")

    def counts(self) -> QueueCounts:
        now = time.time()
        row = (
            self._connect()
            .execute(
                "SELECT "
                "COALESCE(SUM(dead = 0 AND visible_at <= ?), 0), "
                "COALESCE(SUM(dead = 0 AND visible_at > ?), 0), "
                "COALESCE(SUM(dead = 1), 0) FROM messages",
                (now, now),
            )
            .fetchone()
        )
        return QueueCounts(visible=row[0], in_flight=row[1], dead=row[2])

    def dead_letters(self, limit=100):
        rows = (
            self._connect()
            .execute("SELECT id, body, receive_count FROM messages WHERE dead = 1 ORDER BY seq LIMIT ?", (limit,))
            .fetchall()
        )
        return [Message(mid, json.loads(body), "", count) for mid, body, count in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
