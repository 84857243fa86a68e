"""Batched decoding with timestamps over openai-whisper's modules.

openai-whisper's own ``DecodingTask`` decodes one window well, but not many: its beam search and
timestamp rules loop over rows in Python (a device sync per row and step), and it repeats the audio
features once per beam. Here every step is a few tensor operations for the whole batch:

* the decoder forward uses the model's own layers, with a key/value cache per layer; the cross-attention
  keys and values are computed once per window and shared by its beams (the beams are the query axis);
* the timestamp rules (pairs, monotonic, initial timestamp <= 1 s, timestamps win when their summed
  probability beats every text token) are vectorised from a small per-row state;
* beam search keeps Whisper's rules (per window: the best ``beam`` non-EOT candidates go on, EOT
  candidates ranked above them are finished, done when ``beam`` are finished) with one host transfer
  per step; windows that are done leave the batch, so a short window does not wait for a long one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


@dataclass(frozen=True)
class DecodeSpec:
    initial_tokens: tuple[int, ...]  # of every window, unless decode() is given one per window
    sot: int
    eot: int
    timestamp_begin: int
    no_speech: int | None
    suppress: tuple[int, ...]  # never sampled
    suppress_at_begin: tuple[int, ...]  # not as the first token (blank, EOT)
    beam_size: int = 5
    best_of: int = 1
    temperature: float = 0.0
    sample_len: int = 224
    max_initial_timestamp_index: int = 50  # 1 s


@dataclass
class Decoded:
    tokens: list[int]
    sum_logprob: float
    avg_logprob: float
    no_speech_prob: float


# --- forward pass -------------------------------------------------------------------------------


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    return x.view(*x.shape[:2], n_head, -1).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).flatten(2)


class Cache:
    """Self-attention keys/values per row, cross-attention keys/values per window."""

    def __init__(self, model, audio_features: torch.Tensor):
        self.self_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(model.decoder.blocks)
        self.cross_kv = [
            (block.cross_attn.key(audio_features), block.cross_attn.value(audio_features))
            for block in model.decoder.blocks
        ]
        self.length = 0
        self.pad: torch.Tensor | None = None  # (rows,) left padding of prompts shorter than the longest

    def select_rows(self, rows: torch.Tensor) -> None:
        self.self_kv = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.self_kv]
        if self.pad is not None:
            self.pad = self.pad.index_select(0, rows)

    def select_windows(self, windows: torch.Tensor) -> None:
        self.cross_kv = [(k.index_select(0, windows), v.index_select(0, windows)) for k, v in self.cross_kv]


def forward(model, tokens: torch.Tensor, cache: Cache, group: int, positions: torch.Tensor | None = None):
    """Logits of the last position (or of ``positions``, (rows, P) indices) for ``tokens`` (rows, new_len)
    that follow the cached ones. Rows are ``windows * group``, consecutive rows of a window together."""
    decoder = model.decoder
    offset, new = cache.length, tokens.shape[1]
    if cache.pad is None:
        where = decoder.positional_embedding[offset : offset + new]
    else:  # a left-padded prompt: its first real token is position 0
        index = torch.arange(offset, offset + new, device=tokens.device)[None, :] - cache.pad[:, None]
        where = decoder.positional_embedding[index.clamp(min=0)]
    x = (decoder.token_embedding(tokens) + where).to(cache.cross_kv[0][0].dtype)
    mask = _padding_mask(cache.pad, offset, new)
    for i, block in enumerate(decoder.blocks):
        x = x + _self_attention(block, x, cache, i, mask)
        x = x + _cross_attention(block, x, cache.cross_kv[i], group)
        x = x + block.mlp(block.mlp_ln(x))
    cache.length += new
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    x = decoder.ln(x[:, -1:] if positions is None else x[rows, positions])
    return (x @ decoder.token_embedding.weight.to(x.dtype).T).float()


def _padding_mask(pad: torch.Tensor | None, offset: int, new: int) -> torch.Tensor | None:
    """(rows, 1, new, offset + new): causal, padding hidden; a padding query sees itself (never NaN)."""
    if pad is None:
        return None
    keys = torch.arange(offset + new, device=pad.device)
    queries = keys[offset:]
    allowed = (keys[None, None, :] >= pad[:, None, None]) & (keys[None, None, :] <= queries[None, :, None])
    allowed |= keys[None, None, :] == queries[None, :, None]
    return allowed[:, None]


def _self_attention(block, x: torch.Tensor, cache: Cache, layer: int, mask: torch.Tensor | None) -> torch.Tensor:
    attn, h = block.attn, block.attn_ln(x)
    q, k, v = attn.query(h), attn.key(h), attn.value(h)
    if cache.self_kv[layer] is not None:
        past_k, past_v = cache.self_kv[layer]
        k, v = torch.cat([past_k, k], 1), torch.cat([past_v, v], 1)
    cache.self_kv[layer] = (k, v)
    n_head = attn.n_head
    out = F.scaled_dot_product_attention(
        _heads(q, n_head), _heads(k, n_head), _heads(v, n_head), attn_mask=mask,
        is_causal=mask is None and x.shape[1] > 1,
    )  # fmt: skip
    return attn.out(_merge(out))


def _cross_attention(block, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], group: int) -> torch.Tensor:
    attn, h = block.cross_attn, block.cross_attn_ln(x)
    rows, length, width = h.shape
    # The beams of one window attend to the same audio: fold them into its query axis.
    q = attn.query(h).reshape(rows // group, group * length, width)
    n_head = attn.n_head
    out = F.scaled_dot_product_attention(_heads(q, n_head), _heads(kv[0], n_head), _heads(kv[1], n_head))
    return attn.out(_merge(out).reshape(rows, length, width))


# --- language -----------------------------------------------------------------------------------


@torch.no_grad()
def language_probs(model, audio_features: torch.Tensor, sot: int, language_tokens: list[int]) -> torch.Tensor:
    """(windows, languages) probabilities of the language token after SOT."""
    cache = Cache(model, audio_features)
    sot_tokens = torch.full((audio_features.shape[0], 1), sot, device=audio_features.device)
    logits = forward(model, sot_tokens, cache, group=1)[:, 0, language_tokens]
    return logits.softmax(dim=-1).cpu()


# --- timestamp rules ----------------------------------------------------------------------------


class Rules:
    """Logit masks for every row at once (openai-whisper's SuppressBlank, SuppressTokens and
    ApplyTimestampRules), from the last two sampled tokens and the last timestamp of each row.
    Each rule touches only the columns it concerns, so a step costs a few passes over the logits."""

    def __init__(self, spec: DecodeSpec, rows: int, vocab: int, device: torch.device):
        self.spec = spec
        self.suppress = torch.tensor(sorted(spec.suppress), dtype=torch.long, device=device)
        columns = torch.arange(vocab, device=device)
        self.begin = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.begin[list(spec.suppress) + list(spec.suppress_at_begin)] = True
        self.begin |= columns < spec.timestamp_begin
        self.begin |= columns > spec.timestamp_begin + spec.max_initial_timestamp_index
        self.stamp_columns = columns[spec.timestamp_begin :] - spec.timestamp_begin
        self.last = torch.full((rows,), -1, dtype=torch.long, device=device)
        self.penultimate = torch.full((rows,), -1, dtype=torch.long, device=device)
        self.last_timestamp = torch.full((rows,), -1, dtype=torch.long, device=device)
        self.steps = 0

    def apply(self, logits: torch.Tensor) -> None:
        if self.steps == 0:
            logits.masked_fill_(self.begin, NEG_INF)
            return
        ts = self.spec.timestamp_begin
        logits.index_fill_(1, self.suppress, NEG_INF)
        stamps, text = logits[:, ts:], logits[:, :ts]
        last_ts = self.last >= ts
        penult_ts = (self.penultimate >= ts) | (self.steps < 2)
        open_pair = last_ts & ~penult_ts
        stamps.masked_fill_((last_ts & penult_ts)[:, None], NEG_INF)  # a pair is complete: text next
        logits[:, : self.spec.eot].masked_fill_(open_pair[:, None], NEG_INF)  # close the pair (or end)
        floor = torch.where(open_pair, self.last_timestamp, self.last_timestamp + 1) - ts
        earlier = (self.last_timestamp >= 0)[:, None] & (self.stamp_columns < floor[:, None])
        stamps.masked_fill_(earlier, NEG_INF)  # timestamps never go back
        # Timestamps win when their summed probability beats every text token (the softmax
        # normaliser is the same on both sides, so logits compare as log-probabilities do).
        ts_wins = stamps.logsumexp(dim=-1) > text.max(dim=-1).values
        text.masked_fill_(ts_wins[:, None], NEG_INF)

    def advance(self, rows: torch.Tensor | None, tokens: torch.Tensor) -> None:
        if rows is not None:
            self.select(rows)
        self.penultimate, self.last = self.last, tokens
        self.last_timestamp = torch.where(tokens >= self.spec.timestamp_begin, tokens, self.last_timestamp)
        self.steps += 1

    def select(self, rows: torch.Tensor) -> None:
        self.last, self.penultimate = self.last[rows], self.penultimate[rows]
        self.last_timestamp = self.last_timestamp[rows]


# --- search -------------------------------------------------------------------------------------


class _Batch:
    """Rows still being decoded: which window each group of rows belongs to, their tokens so far."""

    def __init__(self, windows: int, group: int):
        self.group = group
        self.window_ids = np.arange(windows)
        self.tokens = np.zeros((windows * group, 0), dtype=np.int64)

    def rows_of(self, keep_windows: np.ndarray) -> np.ndarray:
        return (keep_windows[:, None] * self.group + np.arange(self.group)).reshape(-1)


@torch.no_grad()
def decode(
    model, audio_features: torch.Tensor, spec: DecodeSpec, initial: list[tuple[int, ...]] | None = None
) -> list[Decoded]:
    """Decode every window of ``audio_features`` (windows, ctx, state) with timestamps; ``initial``
    gives each window its own prompt (they may differ in length)."""
    initial = initial or [spec.initial_tokens] * audio_features.shape[0]
    search = _Sampler if spec.temperature > 0 else _BeamSearch
    return search(model, audio_features, spec, initial).run()


class _Search:
    group: int

    def __init__(self, model, audio_features: torch.Tensor, spec: DecodeSpec, initial: list[tuple[int, ...]]):
        self.model, self.spec, self.initial = model, spec, initial
        self.device = audio_features.device
        n = audio_features.shape[0]
        self.cache = Cache(model, audio_features)
        self.batch = _Batch(n, self.group)
        self.rules = Rules(spec, n * self.group, model.dims.n_vocab, self.device)
        self.sum_logprobs = torch.zeros(n * self.group, device=self.device)
        self.finished: list[dict[tuple[int, ...], float]] = [{} for _ in range(n)]
        self.no_speech = [float("nan")] * n

    def first_logits(self) -> torch.Tensor:
        longest = max(len(t) for t in self.initial)
        pads = [longest - len(t) for t in self.initial]
        padded = [[self.spec.eot] * p + list(t) for p, t in zip(pads, self.initial, strict=True)]
        tokens = torch.tensor(padded, device=self.device).repeat_interleave(self.group, dim=0)
        sot = [p + t.index(self.spec.sot) for p, t in zip(pads, self.initial, strict=True)]
        if any(pads):
            self.cache.pad = torch.tensor(pads, device=self.device).repeat_interleave(self.group)
        positions = torch.tensor([[s, longest - 1] for s in sot], device=self.device)
        positions = positions.repeat_interleave(self.group, dim=0)
        logits = forward(self.model, tokens, self.cache, self.group, positions=positions)
        if self.spec.no_speech is not None:
            probs = logits[:: self.group, 0].softmax(dim=-1)[:, self.spec.no_speech].tolist()
            self.no_speech = probs
        return logits[:, 1]

    def run(self) -> list[Decoded]:
        logits = self.first_logits()
        for step in range(self.spec.sample_len):
            self.rules.apply(logits)
            if self.step(logits, step) or self.cache.length >= self.model.dims.n_text_ctx:
                break
            last = torch.from_numpy(self.batch.tokens[:, -1:]).to(self.device)
            logits = forward(self.model, last, self.cache, self.group)[:, -1]
        self.finalize()
        return [self.best(i) for i in range(len(self.finished))]

    def step(self, logits: torch.Tensor, step: int) -> bool:
        raise NotImplementedError

    def finalize(self) -> None:
        raise NotImplementedError

    def drop_done(self, done: np.ndarray) -> bool:
        """Take windows that are done out of the batch; True when none is left."""
        keep = np.flatnonzero(~done)
        if len(keep) == len(done):
            return False
        if len(keep) == 0:
            return True
        rows = self.batch.rows_of(keep)
        rows_t = torch.from_numpy(rows).to(self.device)
        self.cache.select_rows(rows_t)
        self.cache.select_windows(torch.from_numpy(keep).to(self.device))
        self.rules.select(rows_t)
        self.select_rows(rows_t)
        self.sum_logprobs = self.sum_logprobs[rows_t]
        self.batch.tokens = self.batch.tokens[rows]
        self.batch.window_ids = self.batch.window_ids[keep]
        return False

    def select_rows(self, rows: torch.Tensor) -> None:
        """Per-row state of a subclass follows the rows that stay."""

    def best(self, window: int) -> Decoded:
        candidates = self.finished[window]
        eot = self.spec.eot

        def text_length(tokens: tuple[int, ...]) -> int:
            return len(tokens) - (len(tokens) > 0 and tokens[-1] == eot)

        def score(item: tuple[tuple[int, ...], float]) -> float:
            return item[1] / max(1, text_length(item[0]))  # whisper's default length normalisation

        tokens, logprob = max(candidates.items(), key=score)
        tokens = tokens[: text_length(tokens)]
        return Decoded(list(tokens), logprob, logprob / (len(tokens) + 1), self.no_speech[window])


class _BeamSearch(_Search):
    def __init__(self, model, audio_features: torch.Tensor, spec: DecodeSpec, initial: list[tuple[int, ...]]):
        self.group = spec.beam_size
        super().__init__(model, audio_features, spec, initial)

    def step(self, logits: torch.Tensor, step: int) -> bool:
        beam, vocab = self.group, logits.shape[-1]
        scores = self.sum_logprobs[:, None] + F.log_softmax(logits, dim=-1)
        scores = scores.view(-1, beam, vocab)
        if step == 0:  # all beams start equal: expand only the first
            scores[:, 1:] = NEG_INF
        top_scores, top_index = scores.view(-1, beam * vocab).topk(2 * beam, dim=-1)
        source, token = top_index // vocab, top_index % vocab
        is_eot = token == self.spec.eot
        non_eot_seen = (~is_eot).cumsum(dim=-1)
        keep = ~is_eot & (non_eot_seen <= beam)
        finished = is_eot & (non_eot_seen < beam)
        chosen = torch.sort((~keep).float(), dim=-1, stable=True).indices[:, :beam]
        windows = torch.arange(scores.shape[0], device=self.device)[:, None] * beam
        rows = (source.gather(1, chosen) + windows).reshape(-1)
        next_tokens = token.gather(1, chosen).reshape(-1)
        self.sum_logprobs = top_scores.gather(1, chosen).reshape(-1)
        # One device-to-host transfer per step (token ids and row numbers are exact in float32).
        picked = torch.stack([rows, next_tokens]).float().view(-1, 2 * beam)
        host = torch.stack([top_scores, source.float(), token.float(), finished.float(), picked]).cpu().numpy()
        self._collect_finished(host[:4])
        self.cache.select_rows(rows)
        self.rules.advance(rows, next_tokens)
        rows_np, tokens_np = host[4].reshape(2, -1).astype(np.int64)
        self.batch.tokens = np.concatenate([self.batch.tokens[rows_np], tokens_np[:, None]], axis=1)
        done = np.array([len(self.finished[w]) >= beam for w in self.batch.window_ids])
        return self.drop_done(done)

    def _collect_finished(self, host: np.ndarray) -> None:
        top_scores, source, token, finished = host
        for local in np.flatnonzero(finished.any(axis=1)):
            bucket = self.finished[self.batch.window_ids[local]]
            for rank in np.flatnonzero(finished[local]):
                if len(bucket) >= self.group:
                    break
                row = local * self.group + int(source[local, rank])
                bucket[(*self.batch.tokens[row].tolist(), int(token[local, rank]))] = float(top_scores[local, rank])

    def finalize(self) -> None:
        scores = self.sum_logprobs.cpu().numpy()
        for local, window in enumerate(self.batch.window_ids):
            bucket = self.finished[window]
            rows = range(local * self.group, (local + 1) * self.group)
            for row in sorted(rows, key=lambda r: -scores[r]):
                if len(bucket) >= self.group:
                    break
                bucket[tuple(self.batch.tokens[row].tolist())] = float(scores[row])


class _Sampler(_Search):
    """best-of-N sampling at a temperature (the fallback for windows that failed at lower ones)."""

    def __init__(self, model, audio_features: torch.Tensor, spec: DecodeSpec, initial: list[tuple[int, ...]]):
        self.group = max(1, spec.best_of)
        super().__init__(model, audio_features, spec, initial)
        self.ended = torch.zeros(len(self.batch.tokens), dtype=torch.bool, device=self.device)

    def step(self, logits: torch.Tensor, step: int) -> bool:
        probs = F.softmax(logits / self.spec.temperature, dim=-1)
        next_tokens = torch.multinomial(probs, 1).squeeze(1)
        next_tokens = torch.where(self.ended, self.spec.eot, next_tokens)
        logprobs = F.log_softmax(logits, dim=-1).gather(1, next_tokens[:, None]).squeeze(1)
        self.sum_logprobs += torch.where(self.ended, 0.0, logprobs)
        self.ended |= next_tokens == self.spec.eot
        self.rules.advance(None, next_tokens)
        self.batch.tokens = np.concatenate([self.batch.tokens, next_tokens.cpu().numpy()[:, None]], axis=1)
        done = self.ended.view(-1, self.group).all(dim=-1).cpu().numpy()
        for local in np.flatnonzero(done):
            self._keep_rows(local)
        return self.drop_done(done)

    def select_rows(self, rows: torch.Tensor) -> None:
        self.ended = self.ended[rows]

    def _keep_rows(self, local: int) -> None:
        window = self.batch.window_ids[local]
        scores = self.sum_logprobs.cpu().numpy()
        for row in range(local * self.group, (local + 1) * self.group):
            tokens = self.batch.tokens[row].tolist()
            end = tokens.index(self.spec.eot) + 1 if self.spec.eot in tokens else len(tokens)
            self.finished[window][tuple(tokens[:end])] = float(scores[row])

    def finalize(self) -> None:
        for local in range(len(self.batch.window_ids)):
            self._keep_rows(local)
