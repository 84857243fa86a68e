"""Shared fixtures. The repository root is importable so tests can use ``tests.speech``."""

from __future__ import annotations

import os

# Several model runs may share the 2 cores of CI: never spin-wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
