"""Shared fixtures. The repository root is importable so tests can use ``tests.speech``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import DUMMY_AWS_ENV, Server, running

# Several model runs may share the 2 cores of CI: never spin-wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials, and no profile, config file or endpoint of the machine leaking in."""
    missing = str(tmp_path_factory.mktemp("aws") / "none")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in DUMMY_AWS_ENV.items():
            patch.setenv(name, value)
        patch.setenv("AWS_CONFIG_FILE", missing)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", *(f"AWS_ENDPOINT_URL{s}" for s in ("", "_S3", "_SQS"))):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def moto_server(aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("moto", tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def ministack_server(aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("ministack", tmp_path_factory.mktemp("ministack")) as server:
        yield server
