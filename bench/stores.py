"""The store a benchmark runs on: a folder, or a bucket on an S3 server it starts (moto, MiniStack)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import DUMMY_AWS_ENV, running, unique_name  # noqa: E402
from whisperq.store import Store  # noqa: E402
from whisperq.store.local import LocalStore  # noqa: E402
from whisperq.store.s3 import S3Store  # noqa: E402


@contextmanager
def open_bench_store(backend: str, folder: Path | None = None, prefix: str = "bench-") -> Iterator[Store]:
    """``local`` (``folder``, else a temporary one), ``moto`` or ``ministack`` (a fresh bucket)."""
    with ExitStack() as stack:
        if backend == "local":
            root = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
            yield LocalStore(root / "bucket")
            return
        os.environ.update(DUMMY_AWS_ENV)
        server = stack.enter_context(running(backend))
        store = S3Store(unique_name("bench"), endpoint_url=server.url)
        store.create_bucket()
        stack.callback(store.close)
        yield store
