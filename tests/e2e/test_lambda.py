"""The Lambda entry points with real AWS event JSON, against S3 and SQS protocol servers (moto and
MiniStack): API Gateway HTTP API and REST API events through Mangum, and S3 notifications that the
server itself delivered into SQS."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest

from functions import lambda_handler
from tests.servers import unique_name
from tests.speech import SPEECH_DIR
from whisperq.queue.sqs import ensure_queue
from whisperq.settings import get_settings
from whisperq.store.s3 import S3Store

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["moto", "ministack"])
def aws(request, monkeypatch, tmp_path):
    server = request.getfixturevalue(f"{request.param}_server")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    name = unique_name("wq")
    S3Store(name).create_bucket()
    jobs_url = ensure_queue(name, max_receives=4, visibility_timeout_s=30)
    sqs = boto3.client("sqs")
    events_url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("s3").put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": events_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in ("inbox/", "audio/")
            ]
        },
    )
    for name_, value in {
        "WHISPERQ_STORE_URL": f"s3://{name}",
        "WHISPERQ_QUEUE_URL": jobs_url,
        "WHISPERQ_DATA_DIR": str(tmp_path / "lambda-tmp"),
    }.items():
        monkeypatch.setenv(name_, value)
    get_settings.cache_clear()
    monkeypatch.setattr(lambda_handler, "_app", None)
    yield {"bucket": name, "events_url": events_url, "sqs": sqs, "kind": request.param}
    get_settings.cache_clear()


def invoke(handler, event: dict) -> dict:
    """Call a handler on a thread of its own, as the Lambda runtime does: no event loop is running
    there (in this process one may be, from the browser tests' Playwright)."""

    def run() -> dict:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return handler(event, None)
        finally:
            loop.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def http_api_event(method: str, path: str, body: dict | None = None, query: str = "") -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as Lambda receives it."""
    raw = json.dumps(body).encode() if body is not None else b""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "content-type": "application/json",
            "content-length": str(len(raw)),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:16:00:00 +0000",
            "timeEpoch": 1795622400000,
        },
        "body": base64.b64encode(raw).decode() if raw else None,
        "isBase64Encoded": bool(raw),
    }


def rest_api_event(method: str, path: str) -> dict:
    """An API Gateway REST API (payload 1.0) proxy event."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path[1:]},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "req-2",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def sqs_event(messages: list[dict]) -> dict:
    """The SQS event Lambda's event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def drain_events(aws: dict, wanted: int, timeout: float = 20) -> list[dict]:
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(messages) < wanted and time.monotonic() < deadline:
        got = aws["sqs"].receive_message(QueueUrl=aws["events_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages += got.get("Messages", [])
    return messages


def _body(response: dict) -> dict:
    raw = response["body"]
    return json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw)


def test_http_and_rest_api_events_reach_the_app(aws):
    queue = invoke(lambda_handler.handler, http_api_event("GET", "/api/queue"))
    assert queue["statusCode"] == 200
    assert set(_body(queue)) >= {"queue", "processing", "completed", "failed"}
    health = invoke(lambda_handler.handler, rest_api_event("GET", "/healthz"))
    assert health["statusCode"] == 200 and _body(health)["status"] == "ok"
    missing = invoke(lambda_handler.handler, http_api_event("GET", "/api/status/ffff"))
    assert missing["statusCode"] == 404 and _body(missing)["error"] == "Task not found"


def test_presigned_post_and_bucket_events_queue_the_job(aws):
    grant = invoke(
        lambda_handler.handler,
        http_api_event("POST", "/api/uploads", {"filename": "my call+1.wav", "model_name": "tiny.en"}),
    )
    assert grant["statusCode"] == 200, grant
    body = _body(grant)
    assert body["method"] == "POST" and body["max_bytes"] > 0
    with open(SPEECH_DIR / "en_ivr.wav", "rb") as audio:
        sent = httpx.post(body["upload_url"], data=body["fields"], files={"file": ("my call+1.wav", audio)})
    assert sent.status_code in (200, 204), sent.text
    status = invoke(lambda_handler.handler, http_api_event("GET", f"/api/status/{body['task_id']}"))
    assert _body(status)["status"] == "awaiting_upload"

    messages = drain_events(aws, 2)  # the s3:TestEvent of the configuration, and the upload
    assert messages, "the server delivered no S3 notification"
    result = invoke(lambda_handler.events_handler, sqs_event(messages))
    assert result == {"batchItemFailures": []}
    status = invoke(lambda_handler.handler, http_api_event("GET", f"/api/status/{body['task_id']}"))
    assert _body(status)["status"] == "queued"
    again = invoke(lambda_handler.events_handler, sqs_event(messages))  # duplicate delivery: nothing new
    assert again == {"batchItemFailures": []}


def test_dropped_files_become_one_job_each(aws):
    s3 = boto3.client("s3")
    audio = (SPEECH_DIR / "en_ivr.wav").read_bytes()
    for key in ("inbox/day one/a+b.wav", "inbox/day one/c.wav", "inbox/day one/c.wav.json"):
        s3.put_object(Bucket=aws["bucket"], Key=key, Body=b'{"model": "tiny.en"}' if key.endswith(".json") else audio)
    messages = drain_events(aws, 4)
    invoke(lambda_handler.events_handler, sqs_event(messages))
    invoke(lambda_handler.events_handler, sqs_event(messages))
    listing = _body(invoke(lambda_handler.handler, http_api_event("GET", "/api/queue")))
    names = sorted(entry["filename"] for entry in listing["queue"])
    assert names == ["a_b.wav", "c.wav"]


def test_presigned_post_over_the_limit_never_becomes_a_job(aws, monkeypatch):
    monkeypatch.setenv("WHISPERQ_API__MAX_UPLOAD_MB", "0.01")  # 10 KiB
    get_settings.cache_clear()
    grant = _body(invoke(lambda_handler.handler, http_api_event("POST", "/api/uploads", {"filename": "big.wav"})))
    assert grant["max_bytes"] == 10485
    with open(SPEECH_DIR / "en_ivr.wav", "rb") as audio:  # 238 KB
        sent = httpx.post(grant["upload_url"], data=grant["fields"], files={"file": ("big.wav", audio)})
    invoke(lambda_handler.events_handler, sqs_event(drain_events(aws, 2, timeout=5)))
    status = _body(invoke(lambda_handler.handler, http_api_event("GET", f"/api/status/{grant['task_id']}")))
    if sent.status_code >= 400:  # the server checked the policy's size range (MiniStack, AWS)
        assert status["status"] == "awaiting_upload"
    else:  # the server stored it anyway (moto): the service refuses it
        assert status["status"] == "error" and "the limit is 10485" in status["error"]
        assert not S3Store(aws["bucket"]).exists(f"audio/{grant['task_id']}/big.wav")
