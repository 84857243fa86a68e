"""boto3 clients for the distributed backends: endpoint, addressing style and request counting.

boto3 finds the endpoint itself (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SQS``, ``AWS_ENDPOINT_URL``,
or the config file); an explicit ``endpoint_url`` wins over all of them.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any

import boto3
from botocore.config import Config

_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def endpoint_from_env(service: str) -> str | None:
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")


def make_client(
    service: str,
    *,
    requests: Counter[str],
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> Any:
    """A new client of the process's shared session, which reads the environment anew for each.

    Sessions are not thread-safe (clients are), so clients are made under a lock; a session of its own
    per client would cost 100 ms of loading service models each time.
    """
    global _session
    options: dict[str, Any] = {"retries": {"mode": "standard"}, "max_pool_connections": 32}
    if service == "s3" and (endpoint_url or endpoint_from_env("s3")):
        # Local servers answer on an IP or localhost, where bucket.host names do not resolve.
        options["s3"] = {"addressing_style": "path"}
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        client = _session.client(service, endpoint_url=endpoint_url, region_name=region_name, config=Config(**options))
    _count_requests(client, requests)
    return client


def _count_requests(client: Any, requests: Counter[str]) -> None:
    """Count every HTTP request by operation, retries and transfer parts included (what AWS bills)."""
    lock = threading.Lock()

    def on_send(event_name: str, **_: Any) -> None:
        with lock:
            requests[event_name.rsplit(".", 1)[-1]] += 1

    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-send.{service_id}", on_send)


def error_code(exc: Exception) -> tuple[str, int]:
    """The error code and HTTP status of a botocore ``ClientError``."""
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status
