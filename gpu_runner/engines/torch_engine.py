"""The torch engine: openai-whisper's model code, batched across windows and jobs.

Loads openai-whisper ``.pt`` checkpoints and CTranslate2 model folders (the tensors are mapped at
load time by :mod:`gpu_runner.ct2_weights`), so the model packages serve both engines. float16 on
CUDA, float32 on CPU. Windows, fallback and stitching live in :mod:`gpu_runner.batch_pipeline`;
this module encodes windows, decodes them (:mod:`gpu_runner.engines.torch_decoding`) and aligns words.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import whisper
from whisper.audio import HOP_LENGTH
from whisper.model import ModelDimensions, Whisper
from whisper.timing import add_word_timestamps
from whisper.tokenizer import Tokenizer, get_tokenizer

from gpu_runner import ct2_weights
from gpu_runner.batch_pipeline import BatchSettings, BatchTranscriber, DecodeRequest, WindowResult
from gpu_runner.engines import torch_decoding, torch_mel
from gpu_runner.engines.base import BatchedEngine, BatchItemsFailed, ProgressCallback, TranscribeOptions, Transcript
from gpu_runner.stitch import PlacedSegment, apply_word_times

CPU_BATCH = 8
GPU_MEMORY_SHARE = 0.25  # of the free GPU memory, for the cross-attention cache of one batch
MAX_GPU_BATCH = 256


def load_whisper(path: Path | str, device: torch.device, dtype: torch.dtype) -> tuple[Whisper, ct2_weights.Ct2Config]:
    """A Whisper model from a CTranslate2 folder or an openai-whisper checkpoint file."""
    path = Path(path)
    if ct2_weights.is_ct2_folder(path):
        model, config = _from_ct2(path), ct2_weights.read_config(path)
        if config.alignment_heads:
            _set_alignment_heads(model, config.alignment_heads)
    elif path.is_file():
        model, config = whisper.load_model(str(path), device="cpu"), ct2_weights.Ct2Config()
    else:
        raise FileNotFoundError(f"{path} is neither a CTranslate2 model folder nor an openai-whisper checkpoint")
    model = model.to(device=device, dtype=dtype).eval()
    for module in model.modules():  # openai-whisper's LayerNorm computes in float32 on float32 weights
        if isinstance(module, torch.nn.LayerNorm):
            module.float()
    return model, config


def _from_ct2(folder: Path) -> Whisper:
    source = ct2_weights.read_model_bin(folder / "model.bin")
    model = Whisper(ModelDimensions(**ct2_weights.whisper_dims(source)))
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ct2_weights.whisper_state_dict(source).items()}
    model.load_state_dict(state, strict=True)
    return model


def _set_alignment_heads(model: Whisper, heads: list[tuple[int, int]]) -> None:
    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)


def resolve_dtype(compute_type: str, device: torch.device) -> torch.dtype:
    explicit = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
    if compute_type in explicit and (device.type == "cuda" or compute_type == "float32"):
        return explicit[compute_type]
    return torch.float16 if device.type == "cuda" else torch.float32


class TorchEngine(BatchedEngine):
    name = "torch"

    def __init__(
        self,
        model_path: Path | str,
        *,
        device: str = "cpu",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        batch_size: int = 0,
        settings: BatchSettings | None = None,
        dtype: torch.dtype | None = None,  # overrides compute_type (tests run CUDA's float16 on CPU)
    ):
        self.device = torch.device(device)
        if self.device.type == "cpu" and cpu_threads > 0:
            torch.set_num_threads(cpu_threads)
        self.dtype = dtype or resolve_dtype(compute_type, self.device)
        self.model, self.config = load_whisper(model_path, self.device, self.dtype)
        self.multilingual = self.model.is_multilingual
        self._base_tokenizer = self._tokenizer(None, "transcribe")
        self.timestamp_begin = self._base_tokenizer.timestamp_begin
        settings = settings or BatchSettings()
        if batch_size or settings.batch_size <= 0:
            settings = replace(settings, batch_size=batch_size or self._auto_batch())
        if self.device.type == "cuda" and settings.vad_device is None:
            settings = replace(settings, vad_device=str(self.device))  # the VAD of a whole batch in one go
        self.pipeline = BatchTranscriber(self, settings)

    # --- Engine ------------------------------------------------------------------------------
    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: ProgressCallback | None = None
    ) -> Transcript:
        try:
            return self.pipeline.transcribe_batch([(audio, options)], [progress])[0]
        except BatchItemsFailed as failed:
            raise failed.errors[0] from None  # the job's own error (JobAborted on cancel) as transcribe raises it

    def release_device_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # --- WindowDecoder -----------------------------------------------------------------------
    def detect_language(self, audios: list[np.ndarray]) -> list[dict[str, float]]:
        tokenizer = self._base_tokenizer
        features = self._encode(audios)
        codes, tokens = list(tokenizer.all_language_codes), list(tokenizer.all_language_tokens)
        probs = torch_decoding.language_probs(self.model, features, tokenizer.sot, tokens)
        return [dict(zip(codes, row.tolist(), strict=True)) for row in probs]

    def decode(
        self, audios: list[np.ndarray], request: DecodeRequest, prompts: list[str | None] | None = None
    ) -> list[WindowResult]:
        features = self._encode(audios)
        tokenizer = self._tokenizer(request.language, request.task)
        initial = [self._initial(tokenizer, p) for p in prompts] if prompts else None
        decoded = torch_decoding.decode(self.model, features, self._spec(request), initial)
        return [WindowResult(d.tokens, d.avg_logprob, d.no_speech_prob) for d in decoded]

    def text(self, tokens: list[int]) -> str:
        return self._base_tokenizer.decode([t for t in tokens if t < self._base_tokenizer.eot])

    def add_words(self, audio: np.ndarray, segments: list[PlacedSegment], request: DecodeRequest) -> None:
        relative = [
            {"seek": 0, "start": s.start - s.window_start, "end": s.end - s.window_start, "tokens": s.tokens}
            for s in segments
        ]
        add_word_timestamps(
            segments=relative,
            model=self.model,
            tokenizer=self._tokenizer(request.language, request.task),
            mel=self._mels([audio])[0],
            num_frames=len(audio) // HOP_LENGTH,
            last_speech_timestamp=0.0,
        )
        apply_word_times(segments, relative)

    # --- helpers -----------------------------------------------------------------------------
    def _tokenizer(self, language: str | None, task: str) -> Tokenizer:
        return _tokenizer(self.multilingual, self.model.num_languages, language, task)

    def _mels(self, audios: list[np.ndarray]) -> torch.Tensor:
        return torch_mel.window_mels(audios, self.model.dims.n_mels, self.device).to(self.dtype)

    @torch.no_grad()
    def _encode(self, audios: list[np.ndarray]) -> torch.Tensor:
        return self.model.encoder(self._mels(audios))

    def _initial(self, tokenizer: Tokenizer, prompt: str | None) -> tuple[int, ...]:
        """The decoder's first tokens: the prompt (as openai-whisper places it) and the SOT sequence."""
        if not prompt:
            return tuple(tokenizer.sot_sequence)
        text = tokenizer.encode(" " + prompt.strip())[-(self.model.dims.n_text_ctx // 2 - 1) :]
        return (tokenizer.sot_prev, *text, *tokenizer.sot_sequence)

    def _spec(self, request: DecodeRequest) -> torch_decoding.DecodeSpec:
        tokenizer = self._tokenizer(request.language, request.task)
        initial = self._initial(tokenizer, request.prompt)
        n_ctx = self.model.dims.n_text_ctx
        suppress = set(self.config.suppress_ids or tokenizer.non_speech_tokens)
        specials = (tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm)
        suppress.update(specials)
        suppress.update(t for t in (tokenizer.no_speech, tokenizer.no_timestamps) if t is not None)
        begin = self.config.suppress_ids_begin or [*tokenizer.encode(" "), tokenizer.eot]
        return torch_decoding.DecodeSpec(
            initial_tokens=initial,
            sot=tokenizer.sot,
            eot=tokenizer.eot,
            timestamp_begin=tokenizer.timestamp_begin,
            no_speech=tokenizer.no_speech,
            suppress=tuple(sorted(suppress)),
            suppress_at_begin=tuple(begin),
            beam_size=max(1, request.beam_size),
            best_of=max(1, request.best_of),
            temperature=request.temperature,
            sample_len=n_ctx // 2,
        )

    def _auto_batch(self) -> int:
        if self.device.type != "cuda":
            return CPU_BATCH
        dims = self.model.dims
        free, _ = torch.cuda.mem_get_info(self.device)
        itemsize = torch.tensor([], dtype=self.dtype).element_size()
        per_window = dims.n_audio_ctx * dims.n_text_state * 2 * dims.n_text_layer * itemsize * 4  # cross kv + slack
        return int(max(8, min(MAX_GPU_BATCH, free * GPU_MEMORY_SHARE // per_window)))


@lru_cache(maxsize=64)
def _tokenizer(multilingual: bool, num_languages: int, language: str | None, task: str) -> Tokenizer:
    return get_tokenizer(multilingual, num_languages=num_languages, language=language, task=task)
