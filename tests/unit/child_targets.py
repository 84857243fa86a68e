"""Functions the deadline tests run in a spawned child (it imports them by module name)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise RuntimeError(message)


def hang_forever(pid_file: str) -> None:
    """Like a client that ignores its own timeouts: writes its pid, then never returns."""
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(3600)


def exit_hard() -> None:
    os._exit(3)
