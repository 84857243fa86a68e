"""What every handler needs, built once per process: settings, store, queue, repository, event log."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from functions.signing import load_secret
from whisperq.events import EventLog
from whisperq.heartbeats import Heartbeat, live_heartbeats
from whisperq.intake import Intake
from whisperq.queue import Queue, open_queue
from whisperq.repository import JobRepository
from whisperq.settings import Settings
from whisperq.store import Store, open_store


@dataclass
class AppContext:
    settings: Settings
    store: Store
    queue: Queue
    repo: JobRepository
    events: EventLog
    intake: Intake
    upload_dir: Path
    _signing_secret: bytes | None = None
    _refine_queue: Queue | None = None

    @property
    def signing_secret(self) -> bytes:
        """Read (or made) on first use: a Lambda with an S3 store never needs it."""
        if self._signing_secret is None:
            configured = self.settings.signing_secret
            self._signing_secret = load_secret(
                configured.get_secret_value() if configured else None, self.settings.data_dir.resolve()
            )
        return self._signing_secret

    @property
    def refine_queue(self) -> Queue:
        """Opened on first use: most requests never need it."""
        if self._refine_queue is None:
            from whisperq.refine.main import open_refine_queue

            self._refine_queue = open_refine_queue(self.settings)
        return self._refine_queue

    def live_heartbeats(self) -> list[Heartbeat]:
        """The live runners' heartbeats; those of runners long gone are deleted on the way."""
        api = self.settings.api
        return live_heartbeats(self.store, api.runner_stale_after_s, api.runner_forget_after_s)

    def close(self) -> None:
        if self._refine_queue is not None:
            self._refine_queue.close()
        self.queue.close()
        self.store.close()


def build_context(settings: Settings) -> AppContext:
    store = open_store(settings.resolved_store_url())
    queue = open_queue(
        settings.resolved_queue_url(),
        visibility_timeout_s=settings.runner.visibility_timeout_s,
        max_receives=settings.runner.max_attempts + 1,
    )
    repo = JobRepository(store)
    events = EventLog(store, source=f"api@{socket.gethostname()}")
    return AppContext(
        settings=settings,
        store=store,
        queue=queue,
        repo=repo,
        events=events,
        intake=Intake(store, repo, queue, events, max_upload_bytes=settings.max_upload_bytes),
        upload_dir=(settings.data_dir / "uploads").resolve(),
    )


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_context)]
