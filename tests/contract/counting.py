"""A store wrapper that counts object reads, for tests that prove a listing reads (almost) nothing."""

from __future__ import annotations

from typing import Any

from whisperq.store import Store


class CountingReads:
    """Counts object reads of a store (any backend) while passing everything through."""

    def __init__(self, store: Store):
        self._store = store
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_bytes(self, key: str) -> tuple[bytes, str]:
        self.reads += 1
        return self._store.get_bytes(key)

    def get_json(self, key: str) -> tuple[Any, str]:
        self.reads += 1
        return self._store.get_json(key)
