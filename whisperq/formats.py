"""A transcript as files: txt, json, srt, vtt, tsv and OpenAI's verbose_json. Times are in the
original timeline (the runner maps them back after ``up_speed``)."""

from __future__ import annotations

import json

from whisperq.jobs import TranscriptResult

FORMATS = {
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "verbose_json": "application/json",
}


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_txt(result: TranscriptResult) -> str:
    return result.text + "\n"


def to_srt(result: TranscriptResult) -> str:
    blocks = [
        f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
        for n, s in enumerate(result.segments, 1)
    ]
    return "\n".join(blocks)


def to_vtt(result: TranscriptResult) -> str:
    cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n" for s in result.segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_tsv(result: TranscriptResult) -> str:
    rows = ["start\tend\ttext"]
    rows += [f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.text.strip()}" for s in result.segments]
    return "\n".join(rows) + "\n"


def to_json(result: TranscriptResult) -> str:
    return result.model_dump_json(exclude_none=True)


def verbose_json_body(result: TranscriptResult, task: str = "transcribe") -> dict:
    """The shape of OpenAI's ``response_format=verbose_json``."""
    body = {
        "task": task,
        "language": result.language,
        "duration": result.duration,
        "text": result.text,
        "segments": [{"id": n, "start": s.start, "end": s.end, "text": s.text} for n, s in enumerate(result.segments)],
    }
    words = [w.model_dump(exclude={"probability"}) for s in result.segments for w in (s.words or [])]
    if words:
        body["words"] = words
    return body


def to_verbose_json(result: TranscriptResult) -> str:
    return json.dumps(verbose_json_body(result), ensure_ascii=False)


RENDERERS = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
    "tsv": to_tsv,
    "verbose_json": to_verbose_json,
}


def render(result: TranscriptResult, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {sorted(RENDERERS)}")
    return RENDERERS[fmt](result)
