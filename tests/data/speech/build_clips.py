#!/usr/bin/env python3
"""Rebuild the speech test clips in this folder from Debian packages.

The clips are cut from freely licensed recordings that Debian ships:

* ``asterisk-core-sounds-en-wav`` / ``asterisk-core-sounds-en``: English IVR prompts
  (8 kHz) and their reference text (``core-sounds-en.txt.gz``).
* ``asterisk-core-sounds-ru-wav`` / ``asterisk-core-sounds-ru``: the same for Russian.
* ``pocketsphinx-testdata``: five short LibriVox (public domain) read-speech clips
  (16 kHz) with their transcription.

Install them with::

    apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en \\
        asterisk-core-sounds-ru-wav asterisk-core-sounds-ru pocketsphinx-testdata

then run ``python tests/data/speech/build_clips.py`` (needs numpy and PyAV only).
It rewrites every ``.wav``/``.ogg`` clip, ``manifest.json`` and ``NOTICE.md`` here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ASTERISK_DOC = Path("/usr/share/doc")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")

APT_PACKAGES = (
    "asterisk-core-sounds-en-wav asterisk-core-sounds-en "
    "asterisk-core-sounds-ru-wav asterisk-core-sounds-ru pocketsphinx-testdata"
)

# Prompts picked so that their reference text has no digits, no number words and no
# "[tone]" descriptions: a transcript can then be compared word for word.
EN_PROMPTS = (
    "agent-pass",
    "all-circuits-busy-now",
    "pls-hold-while-try",
    "vm-nobodyavail",
    "please-try-call-later",
)
RU_PROMPTS = (
    "all-circuits-busy-now",
    "vm-nobodyavail",
    "agent-pass",
    "pls-hold-while-try",
    "vm-pls-try-again",
)
LIBRIVOX_IDS = (
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890",
    "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930",
)

IVR_GAP_S = 0.6
READING_GAP_S = 0.5
OGG_BITRATE = 24_000


class MissingSource(RuntimeError):
    pass


def require(path: Path) -> Path:
    if not path.exists():
        raise MissingSource(
            f"missing {path}\nThe speech clips are built from Debian packages; install them with:\n"
            f"    apt-get install {APT_PACKAGES}"
        )
    return path


def asterisk_texts(language: str) -> dict[str, str]:
    """Map prompt name -> reference text from core-sounds-<lang>.txt.gz."""
    path = require(ASTERISK_DOC / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz")
    texts: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            texts[name.strip()] = " ".join(text.split())
    return texts


def librivox_texts() -> dict[str, str]:
    """Map utterance id -> transcription (without <s> tags and id)."""
    path = require(LIBRIVOX_DIR / "transcription")
    texts: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(.*?)\s*\(([^()]+)\)\s*$", line)
        if not match:
            continue
        words = [w for w in match.group(1).split() if w not in ("<s>", "</s>")]
        texts[match.group(2)] = " ".join(words)
    return texts


def join_sentences(texts) -> str:
    """Join prompt texts, ending each with a full stop unless it has its own end mark."""
    out = []
    for text in texts:
        text = text.strip()
        if text and text[-1] not in ".!?…":
            text += "."
        out.append(text)
    return " ".join(out)


def read_pcm16(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(require(path)), "rb") as wf:
        if wf.getnchannels() != 1 or wf.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
        return data.copy(), wf.getframerate()


def concat(parts: list[np.ndarray], rate: int, gap_s: float) -> np.ndarray:
    gap = np.zeros(int(round(gap_s * rate)), dtype=np.int16)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(gap)
        out.append(part)
    return np.concatenate(out).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(samples.astype("<i2").tobytes())


def write_ogg(path: Path, samples: np.ndarray, rate: int) -> str:
    """Encode mono int16 samples into an Ogg file with PyAV; returns the codec used."""
    import av

    available = av.codecs_available
    if "libopus" in available and rate in (8000, 12000, 16000, 24000, 48000):
        codec = "libopus"
    elif "libvorbis" in available:
        codec = "libvorbis"
    else:
        raise RuntimeError("PyAV's ffmpeg has neither libopus nor libvorbis")

    # bitexact: no random Ogg serial number / encoder tag, so rebuilding gives the same bytes.
    with av.open(str(path), "w", format="ogg", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=rate, options={"flags": "+bitexact"})
        stream.layout = "mono"
        stream.bit_rate = OGG_BITRATE
        chunk = 1024
        for start in range(0, len(samples), chunk):
            block = samples[start : start + chunk].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return codec


def copyright_credits(language: str) -> list[str]:
    """The Copyright/credit lines of the stanza that covers <language> prompts."""
    path = require(ASTERISK_DOC / f"asterisk-core-sounds-{language}" / "copyright")
    stanzas = path.read_text(encoding="utf-8").split("\n\n")
    wanted = "*" if language == "en" else f"{language}-*"
    for stanza in stanzas:
        lines = stanza.splitlines()
        if lines and lines[0].strip() == f"Files: {wanted}":
            keep = []
            for line in lines[1:]:
                if line.startswith(("Copyright:", "License:")) or line.startswith(" "):
                    text = line.strip()
                    if text and text != "." and text not in keep:
                        keep.append(text)
            return keep
    raise RuntimeError(f"no 'Files: {wanted}' stanza in {path}")


def stanza_licence(credits: list[str]) -> str:
    for line in credits:
        if line.startswith("License:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("no License line")


def build(out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    en_texts = asterisk_texts("en")
    ru_texts = asterisk_texts("ru")
    lv_texts = librivox_texts()
    en_credits = copyright_credits("en")
    ru_credits = copyright_credits("ru")
    en_licence = stanza_licence(en_credits)
    ru_licence = stanza_licence(ru_credits)

    manifest: dict[str, dict] = {}
    info: dict[str, float] = {}

    def ivr(language: str, prompts: tuple[str, ...], texts: dict[str, str]) -> tuple[np.ndarray, int, str]:
        parts, rates = [], set()
        for name in prompts:
            data, rate = read_pcm16(ASTERISK_SOUNDS / language / f"{name}.wav")
            parts.append(data)
            rates.add(rate)
        if len(rates) != 1:
            raise ValueError(f"mixed sample rates in {language} prompts: {rates}")
        rate = rates.pop()
        return concat(parts, rate, IVR_GAP_S), rate, join_sentences(texts[name] for name in prompts)

    # English IVR prompts (+ the same audio in Ogg).
    en_audio, en_rate, en_text = ivr("en", EN_PROMPTS, en_texts)
    write_wav(out_dir / "en_ivr.wav", en_audio, en_rate)
    en_files = ", ".join(f"/usr/share/asterisk/sounds/en/{n}.wav" for n in EN_PROMPTS)
    en_source = f"Debian asterisk-core-sounds-en-wav (+ text from asterisk-core-sounds-en): {en_files}"
    manifest["en_ivr.wav"] = {"language": "en", "text": en_text, "source": en_source, "licence": en_licence}
    info["en_ivr.wav"] = len(en_audio) / en_rate

    codec = write_ogg(out_dir / "en_ivr.ogg", en_audio, en_rate)
    manifest["en_ivr.ogg"] = {
        "language": "en",
        "text": en_text,
        "source": f"en_ivr.wav encoded to Ogg/{codec} with PyAV; {en_source}",
        "licence": en_licence,
    }
    info["en_ivr.ogg"] = len(en_audio) / en_rate

    # English read speech (LibriVox).
    parts, rate = [], None
    for uid in LIBRIVOX_IDS:
        data, rate = read_pcm16(LIBRIVOX_DIR / f"{uid}.wav")
        parts.append(data)
    reading = concat(parts, rate, READING_GAP_S)
    write_wav(out_dir / "en_reading.wav", reading, rate)
    lv_files = ", ".join(f"{LIBRIVOX_DIR}/{uid}.wav" for uid in LIBRIVOX_IDS)
    manifest["en_reading.wav"] = {
        "language": "en",
        "text": " ".join(lv_texts[uid] for uid in LIBRIVOX_IDS),
        "source": f"Debian pocketsphinx-testdata (LibriVox, Sense and Sensibility ch. 1): {lv_files}",
        "licence": "Public domain (LibriVox recording)",
    }
    info["en_reading.wav"] = len(reading) / rate

    # Russian IVR prompts.
    ru_audio, ru_rate, ru_text = ivr("ru", RU_PROMPTS, ru_texts)
    write_wav(out_dir / "ru_ivr.wav", ru_audio, ru_rate)
    ru_files = ", ".join(f"/usr/share/asterisk/sounds/ru/{n}.wav" for n in RU_PROMPTS)
    manifest["ru_ivr.wav"] = {
        "language": "ru",
        "text": ru_text,
        "source": f"Debian asterisk-core-sounds-ru-wav (+ text from asterisk-core-sounds-ru): {ru_files}",
        "licence": ru_licence,
    }
    info["ru_ivr.wav"] = len(ru_audio) / ru_rate

    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out_dir / "NOTICE.md").write_text(
        notice(en_credits, ru_credits, en_licence, ru_licence, codec, info), encoding="utf-8"
    )
    return info


def notice(en_credits, ru_credits, en_licence, ru_licence, codec, info) -> str:
    def quote(lines: list[str]) -> str:
        return "\n".join(f"> {line}  " for line in lines)

    def prompts(names) -> str:
        return ", ".join(f"`{n}.wav`" for n in names)

    lv = ", ".join(f"`{uid}.wav`" for uid in LIBRIVOX_IDS)
    return f"""# Speech test clips: sources and licences

The audio in this folder was made by `build_clips.py` (same folder) from recordings that
Debian ships. Each clip is a **modified** version of the originals: the original prompts or
utterances were cut out of their packages, and concatenated in the order listed below with
digital silence between them ({IVR_GAP_S} s for the IVR clips, {READING_GAP_S} s for the reading clip).
`en_ivr.ogg` is additionally re-encoded (lossy, Ogg/{codec}). Sample rates were kept
(8 kHz for the Asterisk prompts, 16 kHz for LibriVox), mono 16-bit PCM for the `.wav` files.
Reference texts in `manifest.json` come from the packages' own text files.

| file | duration | language | source | licence |
| --- | --- | --- | --- | --- |
| `en_ivr.wav` | {info["en_ivr.wav"]:.2f} s | en | asterisk-core-sounds-en-wav | {en_licence} |
| `en_ivr.ogg` | {info["en_ivr.ogg"]:.2f} s | en | same audio as `en_ivr.wav` | {en_licence} |
| `en_reading.wav` | {info["en_reading.wav"]:.2f} s | en | pocketsphinx-testdata (LibriVox) | public domain |
| `ru_ivr.wav` | {info["ru_ivr.wav"]:.2f} s | ru | asterisk-core-sounds-ru-wav | {ru_licence} |

## `en_ivr.wav`, `en_ivr.ogg`: Asterisk core sounds, English

Prompts {prompts(EN_PROMPTS)} from `/usr/share/asterisk/sounds/en/` (Debian package
`asterisk-core-sounds-en-wav` 1.6.1), text from `core-sounds-en.txt.gz`
(`asterisk-core-sounds-en`). Licence: Creative Commons Attribution-ShareAlike 3.0
(https://creativecommons.org/licenses/by-sa/3.0/). Attribution, as given in
`/usr/share/doc/asterisk-core-sounds-en/copyright`:

{quote(en_credits)}

These clips are adaptations of that work and are distributed under the same licence
(CC-BY-SA-3.0). The original work has been modified (cut, concatenated, re-encoded).

## `ru_ivr.wav`: Asterisk core sounds, Russian

Prompts {prompts(RU_PROMPTS)} from `/usr/share/asterisk/sounds/ru/` (Debian package
`asterisk-core-sounds-ru-wav` 1.6.1), text from `core-sounds-ru.txt.gz`
(`asterisk-core-sounds-ru`). The Debian copyright file
(`/usr/share/doc/asterisk-core-sounds-ru/copyright`) lists the Russian prompts under a
stanza of their own:

{quote(ru_credits)}

i.e. Creative Commons Attribution 3.0 (https://creativecommons.org/licenses/by/3.0/).
The original work has been modified (cut and concatenated).

## `en_reading.wav`: LibriVox, via pocketsphinx-testdata

Utterances {lv} from `/usr/share/pocketsphinx/test/data/librivox/` (Debian package
`pocketsphinx-testdata`), reference text from `transcription` in the same folder (the
`<s>`/`</s>` tags and utterance ids dropped; the reading's "a amiable" stutter kept as
transcribed). They are a LibriVox recording of Jane Austen, *Sense and Sensibility*,
chapter 1; LibriVox recordings are dedicated to the public domain. (The Debian copyright
file of `pocketsphinx-testdata` has no separate stanza for them; it lists the package as a
whole under BSD-2-Clause, Carnegie Mellon University.)
The original recordings have been modified (concatenated).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    args = parser.parse_args(argv)
    try:
        info = build(args.out)
    except MissingSource as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, seconds in info.items():
        size = (args.out / name).stat().st_size
        print(f"{name:16s} {seconds:6.2f} s {size / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
