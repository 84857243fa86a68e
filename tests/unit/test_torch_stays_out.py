"""torch is imported only by the torch engine: the API, the runner's queue loop and the CTranslate2
engine's batched path never load it."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import functions.app, functions.lambda_handler
import gpu_runner.worker, gpu_runner.main, gpu_runner.engines, gpu_runner.batch_pipeline
import gpu_runner.engines.ctranslate2_engine, gpu_runner.ct2_weights
loaded = sorted(m for m in ("torch", "whisper") if m in sys.modules)
assert not loaded, loaded
"""


def test_no_torch_outside_the_torch_engine():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=".")
    assert result.returncode == 0, result.stderr
