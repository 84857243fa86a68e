"""The code stays as ruff wants it (pyproject's rules): lint clean and formatted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.speech import SPEECH_DIR

REPO = SPEECH_DIR.parents[2]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]):
    done = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
