"""LLM backends behind one small interface: ``complete(prompt) -> text``, raising
:class:`~whisperq.refine.errors.RefineError` with the status a failure should be recorded as."""

from __future__ import annotations

from typing import Protocol

from whisperq.jobs import RefineStatus
from whisperq.refine.errors import RefineError
from whisperq.settings import RefineSettings


class Backend(Protocol):
    name: str
    model: str

    def complete(self, prompt: str) -> str: ...

    def close(self) -> None: ...


def create_backend(settings: RefineSettings, model: str) -> Backend:
    """The configured backend; raises RefineError (disabled, not_configured) when there is none to use."""
    if settings.backend == "none":
        raise RefineError(RefineStatus.DISABLED, "refinement is disabled (WHISPERQ_REFINE__BACKEND=none)")
    if settings.backend == "g4f":
        from whisperq.refine.backends.g4f_backend import G4FBackend

        return G4FBackend(model, settings.timeout_s)
    from whisperq.refine.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model, settings.timeout_s)
