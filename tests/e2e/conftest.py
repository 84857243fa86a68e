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
