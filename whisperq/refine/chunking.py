"""Splitting a long transcript into parts that fit the model's context, and joining the answers.

Parts end at segment ends where possible, else at sentence ends, else between words, so that the
model never sees a sentence cut in half unless one sentence alone is longer than a part.
"""

from __future__ import annotations

import re

from whisperq.jobs import TranscriptResult

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_transcript(result: TranscriptResult, max_chars: int) -> list[str]:
    pieces = [s.text.strip() for s in result.segments if s.text.strip()]
    if not pieces and result.text.strip():
        pieces = [result.text.strip()]
    return pack(pieces, max_chars)


def pack(pieces: list[str], max_chars: int) -> list[str]:
    """Greedily join pieces (with a space) into parts of at most ``max_chars``."""
    parts: list[str] = []
    current = ""
    for piece in _fitting(pieces, max_chars):
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= max_chars:
            current = candidate
            continue
        parts.append(current)
        current = piece
    if current:
        parts.append(current)
    return parts


def _fitting(pieces: list[str], max_chars: int) -> list[str]:
    """Pieces no longer than ``max_chars``: long ones cut at sentence ends, then between words."""
    out: list[str] = []
    for piece in pieces:
        if len(piece) <= max_chars:
            out.append(piece)
            continue
        for sentence in _SENTENCE_END.split(piece):
            out.extend([sentence] if len(sentence) <= max_chars else _split_words(sentence, max_chars))
    return out


def _split_words(text: str, max_chars: int) -> list[str]:
    words: list[str] = []
    for word in text.split():
        # A "word" longer than a whole part (no spaces at all) is cut where it must be.
        words.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return pack(words, max_chars) if len(words) > 1 else words


def join_parts(parts: list[str]) -> str:
    return "\n".join(p.strip() for p in parts if p.strip())
