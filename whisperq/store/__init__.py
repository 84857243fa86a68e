"""Object stores, chosen by URL: a folder path (or ``file://``) for the embedded store,
``s3://bucket[/prefix]`` for S3 (endpoint from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

from whisperq.store.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    Store,
    StoreError,
    get_json_each,
)

__all__ = [
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "PreconditionFailed",
    "Store",
    "StoreError",
    "get_json_each",
    "open_store",
]


def open_store(url: str) -> Store:
    if url.startswith("s3://"):
        from whisperq.store.s3 import S3Store

        return S3Store.from_url(url)
    from whisperq.store.local import LocalStore

    return LocalStore(url.removeprefix("file://"))
