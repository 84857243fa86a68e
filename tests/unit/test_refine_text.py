"""Prompts, templates, splitting long transcripts and retry waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisperq.jobs import Segment, TranscriptResult
from whisperq.refine import prompts
from whisperq.refine.chunking import join_parts, pack, split_transcript
from whisperq.refine.retry import RetryPolicy


def _result(*texts: str) -> TranscriptResult:
    segments = [Segment(start=i, end=i + 1, text=t) for i, t in enumerate(texts)]
    return TranscriptResult(
        job_id="j",
        text=" ".join(texts),
        segments=segments,
        model_name="base",
        engine="ctranslate2",
        device="cpu",
        elapsed_s=1.0,
    )


def test_builtin_presets_have_the_placeholder():
    assert {"cleanup", "call_center"} <= set(prompts.available_presets())
    for preset in ("cleanup", "call_center"):
        assert prompts.PLACEHOLDER in prompts.load_template(preset)


def test_call_center_preset_is_russian_with_roles_and_answering_machine_flag():
    template = prompts.load_template("call_center")
    assert "Оператор:" in template and "Клиент:" in template
    assert "Автоответчик: да" in template and "Автоответчик: нет" in template
    assert "первая строка" in template


def test_cleanup_preset_keeps_timestamps_and_meaning():
    template = prompts.load_template("cleanup").lower()
    assert "punctuation" in template and "timestamps" in template and "meaning" in template


def test_render_fills_placeholders_and_leaves_other_braces():
    text = prompts.render("{part}/{parts}: {transcript} {other}", "он сказал {привет}", 2, 3)
    assert text == "2/3: он сказал {привет} {other}"


def test_custom_templates_add_and_replace_presets(tmp_path: Path):
    (tmp_path / "summary.md").write_text("Summarise:\n{transcript}\n", encoding="utf-8")
    (tmp_path / "cleanup.txt").write_text("Mine: {transcript}", encoding="utf-8")
    (tmp_path / "bad name.txt").write_text("{transcript}", encoding="utf-8")
    assert {"summary", "cleanup", "call_center"} <= set(prompts.available_presets(tmp_path))
    assert "bad name" not in prompts.available_presets(tmp_path)
    assert prompts.load_template("cleanup", tmp_path) == "Mine: {transcript}"
    assert prompts.load_template("summary", tmp_path).startswith("Summarise")


def test_bad_templates_are_refused_clearly(tmp_path: Path):
    (tmp_path / "broken.txt").write_text("no placeholder here", encoding="utf-8")
    with pytest.raises(prompts.PresetError, match="no \\{transcript\\} placeholder"):
        prompts.load_template("broken", tmp_path)
    with pytest.raises(prompts.PresetError, match="unknown refine preset 'nope'"):
        prompts.load_template("nope", tmp_path)


def test_short_transcript_is_one_part():
    assert split_transcript(_result("Hello there.", "How are you?"), 100) == ["Hello there. How are you?"]


def test_parts_end_at_segment_ends_and_keep_every_word():
    texts = [f"Segment number {i} says something." for i in range(20)]
    parts = split_transcript(_result(*texts), 120)
    assert len(parts) > 1
    assert all(len(p) <= 120 for p in parts)
    assert " ".join(parts) == " ".join(texts)
    assert all(p.endswith(".") for p in parts)


def test_a_long_segment_is_cut_at_sentence_ends_then_between_words():
    sentences = " ".join(f"Sentence {i} is here." for i in range(30))
    parts = split_transcript(_result(sentences), 60)
    assert all(len(p) <= 60 for p in parts)
    assert " ".join(parts) == sentences
    words = "word " * 100
    parts = split_transcript(_result(words.strip()), 50)
    assert all(len(p) <= 50 for p in parts) and " ".join(parts) == words.strip()
    assert pack(["x" * 25], 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_text_without_segments_is_split_too():
    result = TranscriptResult(
        job_id="j", text="One. Two. Three.", model_name="b", engine="e", device="cpu", elapsed_s=0
    )
    assert split_transcript(result, 9) == ["One. Two.", "Three."]
    assert split_transcript(_result(), 100) == []


def test_parts_join_on_lines():
    assert join_parts(["A.", " B. ", ""]) == "A.\nB."


def test_retry_waits_double_honour_retry_after_and_are_capped():
    policy = RetryPolicy(retries=5, backoff_s=1.0, max_backoff_s=5.0)
    assert [policy.wait_s(n, None) for n in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.wait_s(0, 2.5) == 2.5
    assert policy.wait_s(0, 3600) == 5.0
