"""Signed upload URLs for stores that cannot presign (the embedded folder): HMAC-SHA256 over the
task id and the expiry, under ``WHISPERQ_SIGNING_SECRET`` or, when unset, a random key kept in the
data folder (shared by every API process on that folder)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "signing.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()  # another process made it first
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def sign(secret: bytes, task_id: str, expires: int) -> str:
    return hmac.new(secret, f"{task_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def verify(secret: bytes, task_id: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, task_id, expires), signature)
