"""The OpenAI-compatible endpoints, driven by the official ``openai`` Python SDK."""

from __future__ import annotations

import openai
import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(service: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=service.url + "/v1", api_key="unused", max_retries=0, timeout=300)


def test_models_are_listed(client: openai.OpenAI):
    ids = {m.id for m in client.models.list()}
    assert {"whisper-1", "tiny.en", "base"} <= ids


def test_transcription_as_json_text_and_subtitles(client: openai.OpenAI):
    reference = load_manifest()["en_ivr.wav"]["text"]
    with open(SPEECH_DIR / "en_ivr.wav", "rb") as audio:
        plain = client.audio.transcriptions.create(model="tiny.en", file=audio)
    assert word_error_rate(reference, plain.text, "en") <= 0.1
    with open(SPEECH_DIR / "en_ivr.wav", "rb") as audio:
        srt = client.audio.transcriptions.create(model="tiny.en", file=audio, response_format="srt")
    assert srt.startswith("1\n00:00:00")


def test_verbose_json_with_word_timestamps_and_prompt(client: openai.OpenAI):
    with open(SPEECH_DIR / "en_reading.wav", "rb") as audio:
        verbose = client.audio.transcriptions.create(
            model="tiny.en",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            prompt="Mr. John Dashwood.",
            temperature=0.0,
        )
    assert verbose.language == "en"
    assert abs(verbose.duration - 26.73) < 0.2
    words = verbose.words
    assert len(words) >= 50
    assert all(w.end >= w.start for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert verbose.segments and verbose.segments[0].start < 1.0
    reference = load_manifest()["en_reading.wav"]["text"]
    assert word_error_rate(reference, verbose.text, "en") <= 0.12


def test_russian_with_whisper_1_alias(client: openai.OpenAI):
    reference = load_manifest()["ru_ivr.wav"]["text"]
    with open(SPEECH_DIR / "ru_ivr.wav", "rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, language="ru")
    assert word_error_rate(reference, result.text, "ru") <= 0.15


def test_translation_to_english(client: openai.OpenAI):
    with open(SPEECH_DIR / "ru_ivr.wav", "rb") as audio:
        result = client.audio.translations.create(model="base", file=audio)
    latin = sum(ch.isascii() for ch in result.text if ch.isalpha())
    letters = sum(ch.isalpha() for ch in result.text)
    assert letters > 20 and latin / letters > 0.9, result.text


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"model": "large-v9"}, "model_name"),
        ({"model": "tiny.en", "response_format": "docx"}, "response_format"),
        ({"model": "tiny.en", "language": "klingon"}, "language"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(client: openai.OpenAI, kwargs: dict, param: str):
    with open(SPEECH_DIR / "en_ivr.wav", "rb") as audio, pytest.raises(openai.BadRequestError) as error:
        client.audio.transcriptions.create(file=audio, **kwargs)
    assert error.value.status_code == 400
    assert error.value.body["param"] == param
    assert error.value.body["message"]
