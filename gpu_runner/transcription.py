"""One job's audio to its result: decode (with ``up_speed``), recognise, map times back to the
original timeline, and for ``split_roads`` transcribe each channel as its own role and merge the
turns by time."""

from __future__ import annotations

import time
from pathlib import Path

from gpu_runner.audio import AudioDecodeError, channel_count, decode, to_original_time
from gpu_runner.engines import Engine, TranscribeOptions, Transcript
from gpu_runner.engines.base import ProgressCallback
from whisperq.jobs import Job, Segment, TranscriptResult, Turn, Word


class BadJob(Exception):
    """The job cannot succeed as asked (undecodable audio, too few channels)."""


def temperature_schedule(first: float | None) -> tuple[float, ...]:
    """Whisper's fallback: start at ``first`` (0 by default) and go up by 0.2 when a window fails."""
    start = 0.0 if first is None else first
    steps = [round(start + 0.2 * n, 2) for n in range(6)]
    return tuple(t for t in steps if t <= 1.0) or (start,)


def options_for(job: Job, beam_size: int, vad_filter: bool) -> TranscribeOptions:
    # A channel of a split call is silent while the other side talks: without VAD, Whisper would
    # stretch segments over those silences and misplace the turns.
    return TranscribeOptions(
        vad_filter=vad_filter or bool(job.params.split_roads),
        beam_size=beam_size,
        initial_prompt=job.params.initial_prompt,
        language=job.params.language,
        task=job.params.task,
        word_timestamps=job.params.word_timestamps,
        temperature=temperature_schedule(job.params.temperature),
    )


def split_roles(split_roads: str | None) -> list[str]:
    if not split_roads:
        return []
    return split_roads.split(",")[1:]


def transcribe_job(
    job: Job,
    audio_path: Path,
    engine: Engine,
    device: str,
    progress: ProgressCallback,
    *,
    beam_size: int,
    vad_filter: bool = False,
) -> TranscriptResult:
    started = time.monotonic()
    options = options_for(job, beam_size, vad_filter)
    roles = split_roles(job.params.split_roads)
    try:
        if not roles:
            audio = decode(audio_path, up_speed=job.params.up_speed)
            transcript = engine.transcribe(audio, options, progress)
            return _result(job, [(None, transcript)], engine.name, device, time.monotonic() - started)
        channels = channel_count(audio_path)
        if channels < len(roles):
            raise BadJob(f"the file has {channels} channel(s) but split_roads asks for {len(roles)}")
        transcripts = []
        for index, role in enumerate(roles):
            audio = decode(audio_path, up_speed=job.params.up_speed, channel=index)
            part = _part_progress(progress, index, len(roles))
            transcripts.append((role, engine.transcribe(audio, options, part)))
    except AudioDecodeError as exc:
        raise BadJob(str(exc)) from exc
    return _result(job, transcripts, engine.name, device, time.monotonic() - started)


def decode_single(job: Job, audio_path: Path):
    """The audio of a job without channel split, as the engine takes it."""
    try:
        return decode(audio_path, up_speed=job.params.up_speed)
    except AudioDecodeError as exc:
        raise BadJob(str(exc)) from exc


def single_result(job: Job, transcript: Transcript, engine: str, device: str, elapsed: float) -> TranscriptResult:
    return _result(job, [(None, transcript)], engine, device, elapsed)


def _part_progress(progress: ProgressCallback, index: int, parts: int) -> ProgressCallback:
    return lambda fraction: progress((index + fraction) / parts)


def _result(
    job: Job, transcripts: list[tuple[str | None, Transcript]], engine: str, device: str, elapsed: float
) -> TranscriptResult:
    speed = job.params.up_speed
    duration = max(t.duration for _, t in transcripts)
    segments = sorted(
        (_mapped(s, role, t.duration, speed) for role, t in transcripts for s in t.segments),
        key=lambda s: (s.start, s.end),
    )
    first = transcripts[0][1]
    dialogue = merge_turns(segments) if transcripts[0][0] is not None else None
    text = "\n".join(f"{turn.role}: {turn.text}" for turn in dialogue) if dialogue is not None else first.text
    return TranscriptResult(
        job_id=job.id,
        text=text,
        language=first.language,
        language_probability=first.language_probability,
        duration=round(to_original_time(duration, speed), 3),
        segments=segments,
        dialogue=dialogue,
        model_name=job.params.model_name,
        engine=engine,
        device=device,
        elapsed_s=round(elapsed, 3),
    )


def _mapped(segment: Segment, role: str | None, limit: float, speed: float) -> Segment:
    # Whisper can place the last timestamps past the end of the audio: clamp to the real length.
    def at(t: float) -> float:
        return round(to_original_time(min(max(t, 0.0), limit), speed), 3)

    words = None
    if segment.words:
        words = [Word(start=at(w.start), end=at(w.end), word=w.word, probability=w.probability) for w in segment.words]
    return Segment(start=at(segment.start), end=at(segment.end), text=segment.text.strip(), words=words, role=role)


def merge_turns(segments: list[Segment]) -> list[Turn]:
    """Segments in time order become turns; consecutive segments of one role join into one turn."""
    turns: list[Turn] = []
    for segment in segments:
        if not segment.text:
            continue
        if turns and turns[-1].role == segment.role:
            turns[-1].end = max(turns[-1].end, segment.end)
            turns[-1].text = f"{turns[-1].text} {segment.text}"
        else:
            turns.append(Turn(role=segment.role or "", start=segment.start, end=segment.end, text=segment.text))
    return turns
