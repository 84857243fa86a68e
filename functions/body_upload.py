"""Streams a raw request body (a PUT upload) to a temporary file, cut off at the size limit."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from functions.errors import ApiError


async def read_body_to_file(request: Request, temp_dir: Path, max_bytes: int) -> tuple[Path, int]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"file too large: the limit is {max_bytes} bytes", max_bytes=max_bytes)
    temp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=temp_dir)
    path, size = Path(name), 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(413, f"file too large: the limit is {max_bytes} bytes", max_bytes=max_bytes)
                handle.write(chunk)
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise ApiError(400, "the client disconnected during the upload") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return path, size
