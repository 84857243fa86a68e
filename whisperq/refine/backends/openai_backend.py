"""Any OpenAI-compatible chat completions server, through the official ``openai`` SDK.

Configured the SDK's way, by ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``. With neither set nothing is
sent: the SDK would otherwise default to api.openai.com, and transcripts must not leave the machine
unless someone chose a provider. The SDK's own retries are off: :mod:`whisperq.refine.retry` does
them, so that every outcome is counted and recorded the same way for every backend.
"""

from __future__ import annotations

import os
import re

from whisperq.jobs import RefineStatus
from whisperq.refine.errors import RefineError

# A local server (llama.cpp, vLLM, Ollama) needs no key, but the SDK refuses to start without one.
_KEYLESS_PLACEHOLDER = "no-key"
# Given explicitly: the SDK would take an empty OPENAI_BASE_URL (as templates leave it) as the address.
_OPENAI_BASE_URL = "https://api.openai.com/v1"
_SDK_PREFIX = re.compile(r"^Error code: \d+ - ")


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, timeout_s: float):
        base_url = os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if base_url is None and api_key is None:
            raise RefineError(
                RefineStatus.NOT_CONFIGURED,
                "no LLM provider configured: set OPENAI_BASE_URL (and OPENAI_API_KEY if it needs one)",
            )
        import openai

        self.model = model
        self.timeout_s = timeout_s
        self.client = openai.OpenAI(
            api_key=api_key or _KEYLESS_PLACEHOLDER,
            base_url=base_url or _OPENAI_BASE_URL,
            timeout=timeout_s,
            max_retries=0,
        )
        self.where = str(self.client.base_url).rstrip("/")

    def complete(self, prompt: str) -> str:
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}]
            )
        except Exception as exc:  # noqa: BLE001 - mapped to a refine status below
            raise self._classify(exc) from exc
        choices = getattr(response, "choices", None) or []
        text = choices[0].message.content if choices and choices[0].message else None
        if not text or not text.strip():
            raise RefineError(RefineStatus.FAILED, f"{self.where} answered with no text (model {self.model})")
        return text.strip()

    def _classify(self, exc: Exception) -> RefineError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return RefineError(RefineStatus.TIMEOUT, f"no answer from {self.where} within {self.timeout_s:g}s")
        if isinstance(exc, openai.APIConnectionError):
            return RefineError(RefineStatus.UNREACHABLE, f"cannot reach {self.where}: {_cause(exc)}")
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            detail = f"{self.where} answered HTTP {code}: {_short(_SDK_PREFIX.sub('', exc.message))}"
            if code == 429:
                return RefineError(RefineStatus.RATE_LIMITED, detail, retry_after_s=_retry_after(exc))
            if code >= 500:
                return RefineError(RefineStatus.SERVER_ERROR, detail, retry_after_s=_retry_after(exc))
            return RefineError(RefineStatus.FAILED, detail)
        return RefineError(RefineStatus.FAILED, f"{type(exc).__name__}: {_short(str(exc))}")

    def close(self) -> None:
        self.client.close()


def _retry_after(exc) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _cause(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    return _short(str(cause) if cause else str(exc)) or type(exc).__name__


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
