"""The job manifest (the one record of a job) and its state machine."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

UP_SPEED_MIN = 0.25
UP_SPEED_MAX = 4.0


class JobState(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"  # created by a presigned upload; queued when the audio arrives
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.DONE, JobState.ERROR, JobState.CANCELLED})

# processing -> processing is a new attempt after a runner died; processing -> queued hands a job back.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.AWAITING_UPLOAD: frozenset({JobState.QUEUED, JobState.ERROR, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.PROCESSING, JobState.ERROR, JobState.CANCELLED}),
    JobState.PROCESSING: frozenset(
        {JobState.PROCESSING, JobState.QUEUED, JobState.DONE, JobState.ERROR, JobState.CANCELLED}
    ),
    JobState.DONE: frozenset(),
    JobState.ERROR: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, current: JobState, target: JobState):
        super().__init__(f"a job cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: JobState, target: JobState) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(current, target)


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class RefineStatus(StrEnum):
    """The refinement of a done job's text: its own sub-state; the job stays ``done`` throughout."""

    PENDING = "pending"  # requested; a message is on the refine queue
    RUNNING = "running"  # a refiner is working on it
    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429 after every retry
    SERVER_ERROR = "server_error"  # 5xx after every retry
    TIMEOUT = "timeout"  # no answer within the timeout (or the hard deadline of a child process)
    UNREACHABLE = "unreachable"  # no server at the address
    NOT_CONFIGURED = "not_configured"  # no provider configured: nothing was sent anywhere
    DISABLED = "disabled"  # WHISPERQ_REFINE__BACKEND=none
    FAILED = "failed"  # anything else: refused request, bad answer, the refiner gave up

    @property
    def finished(self) -> bool:
        return self not in (RefineStatus.PENDING, RefineStatus.RUNNING)


# A finished refinement can be requested again; pending and running can be superseded by a new request.
ALLOWED_REFINE_TRANSITIONS: dict[RefineStatus | None, frozenset[RefineStatus]] = {
    None: frozenset({RefineStatus.PENDING}),
    RefineStatus.PENDING: frozenset(RefineStatus),
    RefineStatus.RUNNING: frozenset(RefineStatus),
}


def check_refine_transition(current: RefineStatus | None, target: RefineStatus) -> None:
    allowed = ALLOWED_REFINE_TRANSITIONS.get(current, frozenset({RefineStatus.PENDING}))
    if target not in allowed:
        shown = current.value if current else "not requested"
        raise ValueError(f"a refinement cannot go from {shown} to {target.value}")


class RefineState(BaseModel):
    """The manifest's ``refine`` object. ``run`` names one request: a message or an outcome of an
    older run (superseded by ``POST /api/tasks/{id}/refine``) is ignored."""

    run: str
    status: RefineStatus = RefineStatus.PENDING
    preset: str | None = None  # None: the configured default
    backend: str | None = None
    model: str | None = None
    requested_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    completed_at: float | None = None
    elapsed_s: float | None = None
    attempts: int = 0  # deliveries to a refiner (a refiner that died leaves one behind)
    chunks: int | None = None
    error: str | None = None
    refined_key: str | None = None  # refined/{job_id}/{run}.json once status is ok


def new_refine_run(preset: str | None = None) -> RefineState:
    return RefineState(run=uuid.uuid4().hex[:12], preset=preset)


class JobParams(BaseModel):
    """What the client asked for; the seed's form fields keep their names."""

    model_name: str = "base"
    initial_prompt: str | None = None
    upgrade_transcribation: bool = False
    up_speed: float = Field(1.0, ge=UP_SPEED_MIN, le=UP_SPEED_MAX)
    language: str | None = None
    task: str = "transcribe"  # or "translate" (to English)
    temperature: float | None = Field(None, ge=0.0, le=1.0)  # first temperature; higher ones are the fallback
    word_timestamps: bool = False
    output_formats: list[str] = Field(default_factory=list)  # files written to outbox/ for dropped files
    priority: Priority = Priority.NORMAL
    callback_url: str | None = None  # the final job JSON is POSTed here (signed), with retries
    split_roads: str | None = None  # "N,Role1,...,RoleN": each channel transcribed on its own, as one role


class WebhookAttempt(BaseModel):
    at: float
    status_code: int | None = None
    error: str | None = None


class WebhookLog(BaseModel):
    """Delivery of the job's callback: every attempt, and how it ended."""

    url: str
    status: str = "pending"  # pending, delivered, failed
    attempts: list[WebhookAttempt] = Field(default_factory=list)
    delivered_at: float | None = None


class Job(BaseModel):
    id: str
    state: JobState = JobState.QUEUED
    params: JobParams = Field(default_factory=JobParams)
    filename: str
    audio_key: str
    file_size: int
    created_at: float = Field(default_factory=time.time)
    queued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    attempts: int = 0
    runner_id: str | None = None
    device: str | None = None
    progress: float = 0.0
    error: str | None = None
    result_key: str | None = None
    audio_duration: float | None = None
    language: str | None = None
    source_key: str | None = None  # the inbox/ object this job came from, if dropped there
    upload_expires_at: float | None = None  # presigned uploads: when the upload URL stops working
    retry_of: str | None = None  # the failed or cancelled job this one runs again
    webhook: WebhookLog | None = None
    audio_expired_at: float | None = None
    result_expired_at: float | None = None
    refine: RefineState | None = None  # LLM refinement of the text, once done (upgrade_transcribation)

    @property
    def queue_time(self) -> float | None:
        return None if self.started_at is None else round(self.started_at - self.created_at, 3)

    @property
    def processing_time(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return round(self.completed_at - self.started_at, 3)


def new_job_id() -> str:
    return uuid.uuid4().hex


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    role: str | None = None  # with split_roads: whose channel this was said on


class Turn(BaseModel):
    """One speaker's uninterrupted stretch of a split-channel dialogue."""

    role: str
    start: float
    end: float
    text: str


class TranscriptResult(BaseModel):
    """``results/{job_id}.json``: written once, after the transcription succeeded."""

    job_id: str
    text: str
    language: str | None = None
    language_probability: float | None = None
    duration: float | None = None
    segments: list[Segment] = Field(default_factory=list)
    dialogue: list[Turn] | None = None
    model_name: str
    engine: str
    device: str
    elapsed_s: float


class RefinedText(BaseModel):
    """``refined/{job_id}/{run}.json``: written once per refinement run; the raw result stays as it was."""

    job_id: str
    run: str
    text: str
    preset: str
    backend: str
    model: str
    elapsed_s: float
    chunks: int
    created_at: float = Field(default_factory=time.time)
