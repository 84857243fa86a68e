#!/usr/bin/env python3
"""Write long benchmark speech audio (16 kHz mono 16-bit wav) plus its reference text.

The audio is stitched together from freely licensed recordings that Debian ships:

* English Asterisk IVR prompts (``asterisk-core-sounds-en-wav``, CC-BY-SA-3.0, recorded by
  Allison Smith), reference text from ``asterisk-core-sounds-en``; only prompts whose text
  has no digits, number words, symbols or "[tone]" descriptions are used, 8 kHz audio is
  resampled to 16 kHz;
* LibriVox read speech from ``pocketsphinx-testdata`` (public domain), 16 kHz.

Clips are picked in a seeded random order (read speech and IVR prompts in turn, about half
the time each), separated by short silences, and the file is padded with silence to the
requested length. The reference text is written next to the audio as ``<name>.txt`` (one
clip per line); ``--segments`` also writes ``<name>.segments.json`` with each clip's
start/end time, text and source file.

Examples::

    python bench/make_audio.py --seconds 60
    python bench/make_audio.py --seconds 600 --out bench/audio/reading_600s.wav
    python bench/make_audio.py --seconds 300 --source reading --out bench/audio/
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000

ASTERISK_EN_DIR = Path("/usr/share/asterisk/sounds/en")
ASTERISK_EN_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
LIBRIVOX_TEXT = LIBRIVOX_DIR / "transcription"

APT_INSTALL = "apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en pocketsphinx-testdata"

# Reference texts with these are left out: a transcript would spell them differently.
_NUMBER_WORDS = (
    "zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    "ninety|hundred|thousand|million|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
    "tenth|once|twice|dozen|half|quarter"
)
_NUMBER_RE = re.compile(r"\b(" + _NUMBER_WORDS + r")\b", re.IGNORECASE)
# Only words and plain sentence punctuation: no digits, [tone] notes, (stage directions), * # @ / ...
_PLAIN_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z .,;:!?'\u2019\"-]*[A-Za-z.,;:!?'\"]?$")
_MIN_PROMPT_WORDS = 3
# Prompts whose reference text is misspelt (so a correct transcript would count as wrong).
_EXCLUDED_PROMPTS = {"queue-periodic-announce", "unidentified-no-callback"}


@dataclass
class Clip:
    text: str
    source: str
    samples: np.ndarray  # int16 at RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


class MissingSource(RuntimeError):
    pass


def _require(path: Path) -> Path:
    if not path.exists():
        raise MissingSource(
            f"{path} not found.\n"
            "bench/make_audio.py builds its audio from Debian packages; install them with:\n"
            f"    {APT_INSTALL}"
        )
    return path


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(_require(path)), "rb") as wf:
        if wf.getnchannels() != 1 or wf.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = wf.getframerate()
        return np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2").astype(np.int16), rate


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 mono at ``rate`` -> int16 mono at RATE (PyAV's resampler, numpy fallback)."""
    if rate == RATE:
        return samples
    try:
        import av
    except ImportError:  # pragma: no cover - PyAV is a project dependency
        av = None
    if av is not None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)
    n_out = int(round(len(samples) * RATE / rate))
    t_out = np.arange(n_out) * (rate / RATE)
    res = np.interp(t_out, np.arange(len(samples)), samples.astype(np.float64))
    return np.clip(np.round(res), -32768, 32767).astype(np.int16)


def _usable_prompt_text(text: str) -> bool:
    if not text or _NUMBER_RE.search(text) or not _PLAIN_TEXT_RE.match(text):
        return False
    words = text.split()
    # Spelt-out letters ("M I S D N") are transcribed in too many ways.
    if any(len(w.strip(".,;:!?'\"")) == 1 and w.strip(".,;:!?'\"").lower() not in ("a", "i") for w in words):
        return False
    return len(words) >= _MIN_PROMPT_WORDS


def load_ivr_clips() -> list[Clip]:
    clips = []
    with gzip.open(_require(ASTERISK_EN_TEXT), "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = (part.strip() for part in line.split(":", 1))
            text = " ".join(text.split())
            path = _require(ASTERISK_EN_DIR) / f"{name}.wav"
            if name in _EXCLUDED_PROMPTS or not _usable_prompt_text(text) or not path.is_file():
                continue
            samples, rate = _read_wav(path)
            clips.append(Clip(text, str(path), _resample(samples, rate)))
    return clips


def load_reading_clips() -> list[Clip]:
    clips = []
    for line in _require(LIBRIVOX_TEXT).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(.*?)\s*\(([^()]+)\)\s*$", line)
        if not match:
            continue
        text = " ".join(w for w in match.group(1).split() if w not in ("<s>", "</s>"))
        path = LIBRIVOX_DIR / f"{match.group(2)}.wav"
        samples, rate = _read_wav(path)
        clips.append(Clip(text, str(path), _resample(samples, rate)))
    return clips


class _Deck:
    """Cycles through clips in a shuffled order, reshuffling after each pass."""

    def __init__(self, clips: list[Clip], rng: random.Random):
        self.clips = list(clips)
        self.rng = rng
        self.order: list[Clip] = []

    def peek(self) -> Clip:
        if not self.order:
            self.order = self.clips[:]
            self.rng.shuffle(self.order)
        return self.order[-1]

    def take(self) -> Clip:
        clip = self.peek()
        self.order.pop()
        return clip


# The clips as loaded here, for machines without the Debian packages (a lent GPU host): carry this file.
LIBRARY_CACHE = Path(__file__).resolve().parent / "audio" / "library.npz"


def load_library(source: str = "mixed") -> dict[str, list[Clip]]:
    """The clips ``compose`` draws from; load once to compose many files. Read from the Debian
    packages when they are installed (and kept in ``LIBRARY_CACHE``), else from that cache."""
    kinds = [k for k in ("reading", "ivr") if source in ("mixed", k)]
    try:
        library = {"reading": load_reading_clips(), "ivr": load_ivr_clips()}
        if not LIBRARY_CACHE.is_file():
            _save_library(library, LIBRARY_CACHE)
    except MissingSource:
        if not LIBRARY_CACHE.is_file():
            raise
        library = _read_library(LIBRARY_CACHE)
    return {k: library[k] for k in kinds}


def _save_library(library: dict[str, list[Clip]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {kind: [(c.text, c.source) for c in clips] for kind, clips in library.items()}
    arrays = {f"{kind}_{i}": c.samples for kind, clips in library.items() for i, c in enumerate(clips)}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def _read_library(path: Path) -> dict[str, list[Clip]]:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return {
            kind: [Clip(text, source, data[f"{kind}_{i}"]) for i, (text, source) in enumerate(clips)]
            for kind, clips in meta.items()
        }


def compose(
    seconds: float, source: str, gap: float, seed: int, library: dict[str, list[Clip]] | None = None
) -> tuple[np.ndarray, list[dict]]:
    """Return (int16 samples of exactly ``seconds``, [{start, end, text, source}])."""
    rng = random.Random(seed)
    library = library if library is not None else load_library(source)
    decks = {name: _Deck(clips, rng) for name, clips in library.items()}
    for name, deck in decks.items():
        if not deck.clips:
            raise MissingSource(f"no usable {name} clips found; reinstall with:\n    {APT_INSTALL}")

    total = int(round(seconds * RATE))
    gap_n = int(round(gap * RATE))
    used = {name: 0 for name in decks}
    pieces: list[np.ndarray] = []
    segments: list[dict] = []
    pos = 0
    while True:
        lead = gap_n if pieces else 0
        room = total - pos - lead
        # Take from the source that has contributed least so far; if its next clip does not
        # fit, fall back to the longest clip of any source that still does.
        name = min(decks, key=lambda k: used[k])
        clip = decks[name].peek()
        if len(clip.samples) <= room:
            decks[name].take()
        else:
            fitting = [(len(c.samples), k, c) for k, d in decks.items() for c in d.clips if len(c.samples) <= room]
            if not fitting:
                break
            _, name, clip = max(fitting, key=lambda item: item[0])
        if lead:
            pieces.append(np.zeros(lead, np.int16))
            pos += lead
        segments.append(
            {
                "start": round(pos / RATE, 3),
                "end": round((pos + len(clip.samples)) / RATE, 3),
                "text": clip.text,
                "source": clip.source,
            }
        )
        pieces.append(clip.samples)
        pos += len(clip.samples)
        used[name] += len(clip.samples)
    if pos < total:
        pieces.append(np.zeros(total - pos, np.int16))
    audio = np.concatenate(pieces) if pieces else np.zeros(total, np.int16)
    return audio.astype(np.int16), segments


def _output_path(out: Path | None, seconds: float, source: str) -> Path:
    default_name = f"{'speech' if source == 'mixed' else source}_{int(round(seconds))}s.wav"
    if out is None:
        return Path(__file__).resolve().parent / "audio" / default_name
    if out.is_dir() or str(out).endswith(("/", "\\")):
        return out / default_name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Needs the Debian packages: {APT_INSTALL}",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the file (default: 60)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output .wav file, or a folder (default: bench/audio/<kind>_<seconds>s.wav, "
        "kind = speech, reading or ivr after --source)",
    )
    parser.add_argument(
        "--source",
        choices=("mixed", "reading", "ivr"),
        default="mixed",
        help="LibriVox read speech, Asterisk IVR prompts, or both in turn (default: mixed)",
    )
    parser.add_argument("--gap", type=float, default=0.5, help="silence between clips, seconds (default: 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default: 0)")
    parser.add_argument("--segments", action="store_true", help="also write <name>.segments.json")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.gap < 0:
        parser.error("--gap must not be negative")

    out = _output_path(args.out, args.seconds, args.source)
    try:
        audio, segments = compose(args.seconds, args.source, args.gap, args.seed)
    except MissingSource as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(RATE)
        wf.writeframes(audio.astype("<i2").tobytes())
    text_path = out.with_suffix(".txt")
    text_path.write_text("".join(seg["text"] + "\n" for seg in segments), encoding="utf-8")
    if args.segments:
        seg_path = out.with_suffix(".segments.json")
        seg_path.write_text(json.dumps(segments, indent=1) + "\n", encoding="utf-8")

    speech = sum(seg["end"] - seg["start"] for seg in segments)
    words = sum(len(seg["text"].split()) for seg in segments)
    print(
        f"wrote {out} ({len(audio) / RATE:.1f} s, {len(segments)} clips, {speech:.1f} s speech, "
        f"{words} words) and {text_path.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
