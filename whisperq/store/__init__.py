"""Object stores, chosen by URL: a folder path (or ``file://``) for the embedded store."""

from __future__ import annotations

from whisperq.store.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreError,
)

__all__ = [
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "PreconditionFailed",
    "Store",
    "StoreError",
    "open_store",
]


def open_store(url: str) -> Store:
    if url.startswith("s3://"):
        raise ValueError("the S3 store is not available in this build (WHISPERQ_STORE_URL=s3://...)")
    from whisperq.store.local import LocalStore

    return LocalStore(url.removeprefix("file://"))
