"""The object store interface: an S3-like bucket with conditional writes."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from whisperq.concurrency import map_in_order


class StoreError(Exception):
    """Base of all store errors."""


class ObjectNotFound(StoreError, KeyError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object at {self.key!r}"


class PreconditionFailed(StoreError):
    """An If-None-Match or If-Match condition did not hold: someone else wrote first."""


class InvalidKey(StoreError, ValueError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: float
    metadata: dict[str, str] = field(default_factory=dict)


class Store(ABC):
    """Keys are '/'-separated paths without a leading slash, '..' or empty parts.

    Writes are atomic: a reader sees the old object or the new one, never a half-written one.
    ``if_none_match=True`` creates only if absent; ``if_match=etag`` replaces only that version.
    Both raise :class:`PreconditionFailed` when the condition does not hold.
    """

    url: str
    # How many reads are worth running at once: a round trip per read on S3, a page-cache hit on disk.
    read_concurrency: int = 1

    @abstractmethod
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write an object; returns its new ETag."""

    @abstractmethod
    def put_file(
        self,
        key: str,
        source: Path | BinaryIO,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Stream a (possibly large) file into an object; returns its ETag."""

    @abstractmethod
    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """Returns the object's bytes and its ETag."""

    @abstractmethod
    def download(self, key: str, dest: Path) -> ObjectInfo:
        """Copy an object into a local file (streamed)."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo: ...

    @abstractmethod
    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete an object; deleting a missing object is not an error. With ``if_match``, delete only
        that version: :class:`PreconditionFailed` when the object was rewritten since it was read."""

    @abstractmethod
    def list_keys(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        """Keys under ``prefix`` in ascending byte order, lazily, page by page."""

    def presign_post(self, key: str, max_bytes: int, expires_s: int) -> dict | None:
        """A browser-style upload straight into the bucket: ``{"url", "fields"}`` for an HTML form
        POST limited to ``max_bytes``; None where the store cannot presign (the API serves it)."""
        return None

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def get_json(self, key: str) -> tuple[Any, str]:
        data, etag = self.get_bytes(key)
        return json.loads(data), etag

    def put_json(self, key: str, value: Any, **conditions: Any) -> str:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return self.put_bytes(key, data, content_type="application/json", **conditions)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""


def get_json_each(store: Store, keys: list[str]) -> list[Any | None]:
    """The JSON of each key (None where it vanished), read ``store.read_concurrency`` at a time."""

    def read(key: str) -> Any | None:
        try:
            return store.get_json(key)[0]
        except ObjectNotFound:
            return None

    return map_in_order(read, keys, store.read_concurrency, name="store-read")


def check_key(key: str) -> str:
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        raise InvalidKey(f"invalid object key {key!r}")
    return key
