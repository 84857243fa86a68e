"""All settings of the service: one pydantic-settings class, env prefix ``WHISPERQ_``, nested groups.

A nested field is set with a double underscore, e.g. ``WHISPERQ_RUNNER__BEAM_SIZE=1``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = "whisperq-data"


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, description="Port the API listens on.")
    max_upload_mb: float = Field(1024.0, gt=0, description="Largest accepted upload, in MiB.")
    upload_url_ttl_s: int = Field(3600, ge=60, le=7 * 86400, description="Lifetime of a presigned upload URL.")
    events_token: SecretStr | None = Field(
        None, description="Bearer token that bucket webhooks (MinIO) must send to `/api/events/s3`."
    )
    openai_default_model: str = Field("base", description="The model `whisper-1` stands for on `/v1/audio/*`.")
    openai_wait_s: float = Field(
        600.0, gt=0, description="How long `/v1/audio/*` waits for the job before answering 504 with its id."
    )
    runner_stale_after_s: float = Field(
        30.0, gt=0, description="A runner whose heartbeat is older than this is shown as offline."
    )
    runner_forget_after_s: float = Field(
        86400.0,
        ge=0,
        description="A runner heartbeat older than this (and than `runner_stale_after_s`) is deleted by the API "
        "when it reads heartbeats (0: kept forever).",
    )


class RunnerSettings(BaseModel):
    devices: str = Field(
        "auto",
        description="Runner devices: `auto` (every NVIDIA GPU that `CUDA_VISIBLE_DEVICES` leaves visible, else one "
        "CPU runner), `cpu`, or CUDA indexes `0,1`.",
    )
    name: str = Field(
        "",
        description="Added to the runner id (`host-device-name`): set it when one host runs several runners per "
        "device.",
    )
    engine: str = Field(
        "auto",
        description="`auto` (`torch` on CUDA when torch and openai-whisper are installed, else `ctranslate2`), "
        "`ctranslate2` or `torch`.",
    )
    compute_type: str = Field(
        "auto",
        description="Compute type; `auto` is int8 on CPU and float16 on CUDA for CTranslate2, float32 on CPU "
        "and float16 on CUDA for torch (which also takes `float16`, `bfloat16` or `float32` on CUDA).",
    )
    cpu_threads: int = Field(0, ge=0, description="Threads per CPU runner (0: all cores).")
    batch_size: int = Field(
        0,
        ge=0,
        description="Speech windows decoded together when several jobs are batched (0: auto; 8 on CPU; on CUDA "
        "64 for ctranslate2, and for torch as many as a quarter of the free GPU memory holds, at most 256).",
    )
    beam_size: int = Field(5, ge=1, le=20, description="Beam size (the seed's default is 5).")
    vad_filter: bool = Field(
        False, description="Skip silence with Silero VAD before recognition (always on for `split_roads` channels)."
    )
    preload_models: list[str] = Field(default_factory=list, description='Models loaded at start, as JSON: `["base"]`.')
    visibility_timeout_s: int = Field(
        60, ge=2, description="How long a received job stays hidden from other runners; extended while working."
    )
    poll_wait_s: float = Field(5.0, ge=0, le=20, description="Long-poll wait of one queue receive.")
    max_attempts: int = Field(3, ge=1, description="Attempts before a job ends in `error`.")
    batch_jobs: int = Field(
        0, ge=0, le=256, description="Queued jobs a runner takes and decodes together (0: 16 on a GPU, 1 on the CPU)."
    )
    batch_gather_s: float = Field(
        0.0,
        ge=0,
        le=20,
        description="After the first job of a batch, wait up to this long for more to arrive (a burst of "
        "uploads reaches the queue over seconds); 0: take only the jobs already queued. On SQS a wait is "
        "at least 1 s when nothing more comes.",
    )
    max_loaded_models: int = Field(
        0,
        ge=0,
        description="Models kept loaded per runner; loading one more unloads the least recently used (0: no limit).",
    )
    model_memory_reserve_mb: int = Field(
        1024,
        ge=0,
        description="Before a model loads, unload the least recently used ones until the device's free memory "
        "(NVML on a GPU, MemAvailable on the CPU) holds its weights plus this many MiB; a load that still runs "
        "out of memory unloads one more and tries again.",
    )
    model_idle_unload_s: float = Field(900.0, ge=0, description="Unload a model unused for this long (0: never).")
    heartbeat_interval_s: float = Field(5.0, gt=0, description="Seconds between runner heartbeats.")
    inbox_poll_s: float = Field(
        5.0, ge=0, description="Scan `inbox/` for dropped files this often (0: rely on bucket events only)."
    )
    sweep_after_s: float = Field(
        120.0, gt=0, description="A job queued longer than this gets its queue message sent again."
    )


class RefineSettings(BaseModel):
    """LLM refinement of finished transcripts (``upgrade_transcribation``), run by ``whisperq refiner``.

    The OpenAI-compatible provider is configured the SDK's own way: ``OPENAI_BASE_URL`` and
    ``OPENAI_API_KEY``; with neither set nothing is sent anywhere (status ``not_configured``).
    """

    backend: Literal["openai", "g4f", "none"] = Field(
        "openai",
        description="`openai` (any OpenAI-compatible server, set by `OPENAI_BASE_URL` and `OPENAI_API_KEY`), "
        "`g4f` (optional extra `whisperq[refine-g4f]`, run in a child process) or `none`.",
    )
    preset: str = Field(
        "cleanup",
        description="Default prompt: `cleanup` (punctuation, casing, obvious recognition errors) or `call_center` "
        "(speaker roles, answering machine flag), or the name of a template in `WHISPERQ_REFINE__TEMPLATE_DIR`.",
    )
    template_dir: Path | None = Field(
        None,
        description="Folder of custom prompt templates, `<preset>.txt` or `<preset>.md` with a `{transcript}` "
        "placeholder; they add to (or replace) the built-in presets.",
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one LLM request; for `g4f`, the hard deadline of its child process."
    )
    retries: int = Field(
        3,
        ge=0,
        le=10,
        description="Retries of a request that was rate limited, failed on the server, timed out or found no server.",
    )
    backoff_s: float = Field(1.0, ge=0, description="First wait between retries; doubles on each retry.")
    max_backoff_s: float = Field(
        30.0, ge=0, description="Longest wait between retries, a server's `Retry-After` included."
    )
    max_chunk_chars: int = Field(
        6000,
        ge=200,
        description="Longer transcripts are split at segment or sentence ends into parts of at most "
        "this many characters, refined one by one and joined back.",
    )
    visibility_timeout_s: int = Field(
        60, ge=2, description="How long a refine request stays hidden from other refiners; extended while working."
    )
    poll_wait_s: float = Field(5.0, ge=0, le=20, description="Long-poll wait of one refine queue receive.")
    max_attempts: int = Field(3, ge=1, description="Refiners that may die on one request before it ends as `failed`.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WHISPERQ_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(
        Path(DEFAULT_DATA_DIR), description="Folder of the embedded default (bucket folder and queue file)."
    )
    store_url: str = Field(
        "", description="Object store: a folder path or `file://` URL (default `<data_dir>/bucket`)."
    )
    queue_url: str = Field("", description="Queue: `sqlite:///path` (default `sqlite:///<data_dir>/queue.sqlite3`).")
    refine_queue_url: str = Field(
        "", description="Queue of refine requests: `sqlite:///path` (default `sqlite:///<data_dir>/refine.sqlite3`)."
    )
    refine_model: str = Field(
        "gpt-4o-mini", description="The LLM that refines transcripts (a model name of the configured provider)."
    )
    model_dirs: list[Path] = Field(
        default_factory=list, description="Extra folders holding CTranslate2 Whisper models (one per subfolder)."
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "whisperq" / "models",
        description="Where models shipped in parts are assembled.",
    )
    api_keys: SecretStr | None = Field(
        None, description="Comma-separated API keys (or `sha256:<hex>` of a key); when set, requests need one."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the `X-Whisperq-Signature: sha256=<hmac>` header of webhook calls (unsigned if unset).",
    )
    webhook_max_attempts: int = Field(8, ge=1, le=30, description="Webhook attempts (backoff 2, 4, 8 ... 300 s).")
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one webhook call.")
    retention_audio_days: float = Field(30.0, ge=0, description="Delete a finished job's audio after this (0: never).")
    retention_result_days: float = Field(
        90.0, ge=0, description="Delete a finished job's result after this (0: never)."
    )
    retention_log_days: float = Field(
        30.0, ge=0, description="Delete events of the log (`/api/logs`) older than this (0: never)."
    )
    signing_secret: SecretStr | None = Field(
        None, description="Key of the API's own signed upload URLs (default: a random key in the data folder)."
    )
    log_level: str = Field("INFO", description="Python log level of all processes.")
    api: ApiSettings = Field(default_factory=ApiSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    refine: RefineSettings = Field(default_factory=RefineSettings)

    def resolved_store_url(self) -> str:
        return self.store_url or str((self.data_dir / "bucket").resolve())

    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{(self.data_dir / 'queue.sqlite3').resolve()}"

    def resolved_refine_queue_url(self) -> str:
        return self.refine_queue_url or f"sqlite:///{(self.data_dir / 'refine.sqlite3').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.api.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, nested groups included."""
    rows: list[tuple[str, str, str]] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name, sub_field in annotation.model_fields.items():
                env = f"WHISPERQ_{name.upper()}__{sub_name.upper()}"
                rows.append((env, _default_text(sub_field), sub_field.description or ""))
        else:
            rows.append((f"WHISPERQ_{name.upper()}", _default_text(field), field.description or ""))
    return rows


def _default_text(field) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Path) and str(value).startswith(str(Path.home())):
        return "~/" + str(value.relative_to(Path.home()))
    if value in ("", [], None):
        return "(empty)"
    return str(value)


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | `{default}` | {text} |" for env, default, text in describe_settings()]
    return "\n".join(lines)


README_MARKERS = ("<!-- settings:start -->", "<!-- settings:end -->")


def update_readme_table(path: str | Path) -> None:
    """Rewrite the settings table between the README's markers."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = README_MARKERS
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{settings_table()}\n{end}{tail}", encoding="utf-8")
