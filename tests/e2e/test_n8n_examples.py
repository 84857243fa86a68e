"""The n8n example workflows: valid workflow JSON, and the requests their HTTP nodes send are the
ones the running service accepts (the callback one resumed through a real HTTP receiver)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "n8n"
KNOWN_TYPES = {
    "n8n-nodes-base.manualTrigger", "n8n-nodes-base.set", "n8n-nodes-base.readWriteFile",
    "n8n-nodes-base.httpRequest", "n8n-nodes-base.wait", "n8n-nodes-base.if",
}  # fmt: skip


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def _node(workflow: dict, name: str) -> dict:
    return next(n for n in workflow["nodes"] if n["name"] == name)


def _evaluate(template: str, values: dict[str, str]) -> str:
    """The few n8n expressions the examples use: ``={{ $('Node').item.json.field }}`` and friends."""
    text = template.removeprefix("=")

    def replace(match: re.Match) -> str:
        expression = match.group(1).strip()
        if expression not in values:
            raise KeyError(f"unexpected expression {expression!r}")
        return values[expression]

    return re.sub(r"\{\{(.*?)\}\}", replace, text)


@pytest.mark.parametrize("name", ["upload-then-poll.json", "upload-with-callback.json"])
def test_workflow_is_well_formed(name: str):
    workflow = _load(name)
    names = [n["name"] for n in workflow["nodes"]]
    assert len(names) == len(set(names))
    for node in workflow["nodes"]:
        assert {"id", "name", "type", "typeVersion", "position", "parameters"} <= set(node)
        assert node["type"] in KNOWN_TYPES
    for source, outputs in workflow["connections"].items():
        assert source in names
        for branch in outputs["main"]:
            assert all(link["node"] in names for link in branch)


def _settings_values(workflow: dict, service: Service, extra: dict[str, str]) -> dict[str, str]:
    assignments = _node(workflow, "Settings")["parameters"]["assignments"]["assignments"]
    settings = {a["name"]: a["value"] for a in assignments}
    settings["whisperq_url"] = service.url
    values = {f"$('Settings').item.json.{k}": v for k, v in settings.items()}
    return {**values, **extra}


def _send_upload(workflow: dict, values: dict[str, str]) -> httpx.Response:
    node = _node(workflow, "Upload to whisperq")["parameters"]
    assert node["method"] == "POST" and node["contentType"] == "multipart-form-data"
    data, files = {}, {}
    for param in node["bodyParameters"]["parameters"]:
        if param["parameterType"] == "formBinaryData":
            files[param["name"]] = ("call.wav", (SPEECH_DIR / "en_ivr.wav").read_bytes())
        else:
            data[param["name"]] = _evaluate(param["value"], values)
    return httpx.post(_evaluate(node["url"], values), data=data, files=files, timeout=60)


def test_upload_then_poll_requests_work(service: Service):
    workflow = _load("upload-then-poll.json")
    values = _settings_values(workflow, service, {})
    values["$('Settings').item.json.model_name"] = "tiny.en"
    response = _send_upload(workflow, values)
    assert response.status_code == 200, response.text
    values["$('Upload to whisperq').item.json.task_id"] = response.json()["task_id"]
    status_url = _evaluate(_node(workflow, "Get status")["parameters"]["url"], values)
    deadline = time.monotonic() + 120
    while (status := httpx.get(status_url).json())["status"] not in ("done", "error", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status["status"] == "done"
    assert word_error_rate(load_manifest()["en_ivr.wav"]["text"], status["result"], "en") <= 0.1


def test_upload_with_callback_resumes_the_wait_node(service: Service):
    workflow = _load("upload-with-callback.json")
    wait = _node(workflow, "Wait for whisperq callback")["parameters"]
    assert wait["resume"] == "webhook" and wait["httpMethod"] == "POST"
    with WebhookReceiver() as receiver:
        resume_url = receiver.url + "/webhook-waiting/1234"
        values = _settings_values(workflow, service, {"$execution.resumeUrl": resume_url})
        values["$('Settings').item.json.model_name"] = "tiny.en"
        response = _send_upload(workflow, values)
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 120
        while not receiver.calls:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    call = receiver.calls[0]
    assert call["path"] == "/webhook-waiting/1234"
    body = json.loads(call["body"])
    assert body["task_id"] == response.json()["task_id"] and body["status"] == "done"
