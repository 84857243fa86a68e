"""Helpers for tests that transcribe the real speech clips in ``tests/data/speech``.

``manifest.json`` there maps each clip's file name to its language, reference text,
source and licence (see ``NOTICE.md``; ``build_clips.py`` rebuilds everything).
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

SPEECH_DIR = Path(__file__).resolve().parent / "data" / "speech"
MANIFEST_PATH = SPEECH_DIR / "manifest.json"

# Apostrophes inside words are dropped ("don't" -> "dont", "party's" -> "partys") so that
# the reference and a hypothesis agree whichever apostrophe character each one uses.
_APOSTROPHES = re.compile(r"['\u2019\u02bc\u2018`]")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def load_manifest() -> dict:
    """``{file name: {"language", "text", "source", "licence"}}`` (a fresh copy)."""
    return json.loads(json.dumps(_manifest()))


def _is_punctuation(ch: str) -> bool:
    # P* = punctuation (incl. « » — … “ ” „), S* = symbols (+, =, ©, ...).
    return unicodedata.category(ch)[0] in "PS"


def normalize(text: str, language: str) -> str:
    """Lower-case words only: punctuation and quotes removed, ё folded to е for Russian."""
    text = unicodedata.normalize("NFC", text).lower()
    if language.lower().startswith("ru"):
        text = text.replace("ё", "е")
    text = _APOSTROPHES.sub("", text)
    # Any other punctuation (hyphens and dashes included) separates words.
    text = "".join(" " if (_is_punctuation(ch) or ch == "_") else ch for ch in text)
    return _SPACES.sub(" ", text).strip()


def word_error_rate(reference: str, hypothesis: str, language: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after :func:`normalize` on both sides."""
    import jiwer

    ref = normalize(reference, language)
    hyp = normalize(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else float(len(hyp.split()))
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))
