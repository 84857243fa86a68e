"""``whisperq submit`` against the running service: a folder in, transcripts out."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e


def _submit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "whisperq.cli", "submit", *args], capture_output=True, text=True, timeout=300
    )


def test_submit_a_folder_and_wait_for_results(service: Service, tmp_path):
    folder = tmp_path / "calls" / "nested"
    folder.mkdir(parents=True)
    shutil.copyfile(SPEECH_DIR / "en_ivr.wav", folder / "one.wav")
    shutil.copyfile(SPEECH_DIR / "en_ivr.ogg", folder / "two.ogg")
    (folder / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    run = _submit(
        str(tmp_path / "calls"),
        "--url",
        service.url,
        "--model",
        "tiny.en",
        "--wait",
        "--format",
        "txt,srt",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    assert len([line for line in run.stdout.splitlines() if "\t" in line]) == 2
    reference = load_manifest()["en_ivr.wav"]["text"]
    for stem in ("one", "two"):
        assert word_error_rate(reference, (out / f"{stem}.txt").read_text(), "en") <= 0.1
        assert (out / f"{stem}.srt").read_text().startswith("1\n")


def test_submit_reports_bad_input(service: Service, tmp_path):
    missing = _submit(str(tmp_path / "nope.wav"), "--url", service.url)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    wav = tmp_path / "a.wav"
    shutil.copyfile(SPEECH_DIR / "en_ivr.wav", wav)
    bad_model = _submit(str(wav), "--url", service.url, "--model", "large-v9")
    assert bad_model.returncode == 2 and "unknown model" in bad_model.stderr
