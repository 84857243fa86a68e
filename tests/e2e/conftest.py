from __future__ import annotations

from pathlib import Path

import pytest

from tests.service import Service

WEBHOOK_SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory):
    """One running service for the e2e tests that don't need their own."""
    svc = Service(
        tmp_path_factory.mktemp("e2e") / "data", WHISPERQ_API__MAX_UPLOAD_MB="2", WHISPERQ_WEBHOOK_SECRET=WEBHOOK_SECRET
    ).start()
    yield svc
    svc.stop()


@pytest.fixture
def data_root(service: Service) -> Path:
    return service.data_dir / "bucket"


@pytest.fixture
def moto_backend(moto_server, monkeypatch) -> dict[str, str]:
    """A fresh bucket and queue on the session's moto server, as the service's environment."""
    from tests.servers import DUMMY_AWS_ENV, unique_name
    from whisperq.queue.sqs import ensure_queue
    from whisperq.store.s3 import S3Store

    name = unique_name("whisperq")
    endpoint = {"AWS_ENDPOINT_URL": moto_server.url}
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    S3Store(name).create_bucket()
    queue_url = ensure_queue(name, max_receives=4, visibility_timeout_s=6)
    return {**DUMMY_AWS_ENV, **endpoint, "WHISPERQ_STORE_URL": f"s3://{name}", "WHISPERQ_QUEUE_URL": queue_url}
