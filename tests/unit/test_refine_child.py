"""The hard deadline that g4f runs under, tested with real children (one hangs forever)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.unit import child_targets
from whisperq.jobs import RefineStatus
from whisperq.refine.child import ChildFailed, DeadlineExceeded, run_with_deadline


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped is a zombie: dead for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_the_answer_comes_back():
    assert run_with_deadline(child_targets.add, (2, 3), deadline_s=30) == 5


def test_an_exception_in_the_child_is_reported():
    with pytest.raises(ChildFailed, match="RuntimeError: provider said no"):
        run_with_deadline(child_targets.fail, ("provider said no",), deadline_s=30)


def test_a_child_that_dies_without_answer_is_reported():
    with pytest.raises(ChildFailed, match="exit code 3"):
        run_with_deadline(child_targets.exit_hard, (), deadline_s=30)


def test_a_hanging_child_is_killed_at_the_deadline(tmp_path: Path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="killed"):
        run_with_deadline(child_targets.hang_forever, (str(pid_file),), deadline_s=2.5)
    assert 2.4 <= time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    assert not _alive(pid)


def test_g4f_backend_maps_the_deadline_to_timeout(monkeypatch, tmp_path: Path):
    from whisperq.refine.backends import g4f_backend
    from whisperq.refine.errors import RefineError

    monkeypatch.setattr(g4f_backend.importlib.util, "find_spec", lambda name: object())
    backend = g4f_backend.G4FBackend("gpt-4o-mini", timeout_s=2.5)
    pid_file = tmp_path / "pid"

    def hang(func, args, deadline_s):  # the real deadline runner, with a child that never answers
        return run_with_deadline(child_targets.hang_forever, (str(pid_file),), deadline_s)

    monkeypatch.setattr(g4f_backend, "run_with_deadline", hang)
    with pytest.raises(RefineError) as caught:
        backend.complete("prompt")
    assert caught.value.status is RefineStatus.TIMEOUT
    assert "g4f" in caught.value.message and "2.5s" in caught.value.message
    assert not _alive(int(pid_file.read_text()))


def test_g4f_not_installed_is_not_configured(monkeypatch):
    from whisperq.refine.backends import g4f_backend
    from whisperq.refine.errors import RefineError

    monkeypatch.setattr(g4f_backend.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RefineError) as caught:
        g4f_backend.G4FBackend("gpt-4o-mini", timeout_s=1.0)
    assert caught.value.status is RefineStatus.NOT_CONFIGURED
    assert "whisperq[refine-g4f]" in caught.value.message
