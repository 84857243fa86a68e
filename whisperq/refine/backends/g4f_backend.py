"""g4f (optional extra ``whisperq[refine-g4f]``), the seed's provider. It can hang forever and ignore
timeouts, so every request runs in a child process that is killed at ``timeout_s``."""

from __future__ import annotations

import importlib.util

from whisperq.jobs import RefineStatus
from whisperq.refine.child import ChildFailed, DeadlineExceeded, run_with_deadline
from whisperq.refine.errors import RefineError


class G4FBackend:
    name = "g4f"

    def __init__(self, model: str, timeout_s: float):
        if importlib.util.find_spec("g4f") is None:
            raise RefineError(RefineStatus.NOT_CONFIGURED, "g4f is not installed: pip install 'whisperq[refine-g4f]'")
        self.model = model
        self.timeout_s = timeout_s

    def complete(self, prompt: str) -> str:
        try:
            text = run_with_deadline(g4f_complete, (self.model, prompt), self.timeout_s)
        except DeadlineExceeded as exc:
            raise RefineError(RefineStatus.TIMEOUT, f"g4f: {exc}") from exc
        except ChildFailed as exc:
            raise RefineError(RefineStatus.SERVER_ERROR, f"g4f failed: {exc}") from exc
        if not isinstance(text, str) or not text.strip():
            raise RefineError(RefineStatus.FAILED, f"g4f answered with no text (model {self.model})")
        return text.strip()

    def close(self) -> None:
        pass


def g4f_complete(model: str, prompt: str) -> str:
    """Runs in the child process."""
    from g4f.client import Client

    response = Client().chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
    return response.choices[0].message.content
