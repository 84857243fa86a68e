"""Run a function in a child process and kill it at a hard deadline.

For clients that can hang forever or ignore their own timeouts (g4f): a thread cannot be stopped,
a process can. The child is started with ``spawn`` (no inherited locks or threads) and dies with
its parent, so a refiner killed with -9 leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_PR_SET_PDEATHSIG = 1


class DeadlineExceeded(Exception):
    pass


class ChildFailed(Exception):
    """The function raised in the child, or the child died without an answer."""


def run_with_deadline(func: Callable[..., Any], args: tuple, deadline_s: float) -> Any:
    """``func(*args)`` in a child process; its result must be picklable. ``func`` must be importable
    by name (a module-level function)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(sender, func, args), daemon=True, name="deadline-child")
    process.start()
    sender.close()
    try:
        if not receiver.poll(deadline_s):
            raise DeadlineExceeded(f"no answer within {deadline_s:g}s; the child process was killed")
        ok, value = receiver.recv()
    except EOFError:
        process.join(1)
        raise ChildFailed(f"the child process died without an answer (exit code {process.exitcode})") from None
    finally:
        receiver.close()
        _end(process)
    if not ok:
        raise ChildFailed(value)
    return value


def _end(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.kill()
    process.join(5)


def _child_main(sender: Connection, func: Callable[..., Any], args: tuple) -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        answer = (True, func(*args))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as text
        answer = (False, f"{type(exc).__name__}: {exc}")
    sender.send(answer)
    sender.close()
