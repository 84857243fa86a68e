"""Delivering a finished job's JSON to its ``callback_url``.

The debt is an object (``webhooks/{job_id}.json``) written before the job is marked finished, so it
survives any crash. Any runner may deliver it: it first takes a short lease on the object with a
compare-and-swap, so two runners never post the same attempt. Each attempt is recorded on the job;
failures are retried with exponential backoff up to a limit. The body is signed with HMAC-SHA256
under ``WHISPERQ_WEBHOOK_SECRET``: ``X-Whisperq-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time

import httpx

from whisperq import layout
from whisperq.events import EventLog
from whisperq.jobs import Job, RefineStatus, WebhookAttempt, WebhookLog
from whisperq.repository import JobNotFound, JobRepository
from whisperq.status_view import job_status
from whisperq.store import ObjectNotFound, PreconditionFailed, Store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Whisperq-Signature"
ORPHAN_AFTER_S = 3600.0  # a debt whose job never finished (its update lost a race) is dropped


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff_s(attempt: int) -> float:
    return min(300.0, 2.0**attempt)


class WebhookDeliverer:
    def __init__(
        self,
        store: Store,
        repo: JobRepository,
        events: EventLog,
        *,
        secret: bytes | None,
        max_attempts: int,
        timeout_s: float,
    ):
        self.store = store
        self.repo = repo
        self.events = events
        self.secret = secret
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def deliver_due(self) -> int:
        """Attempt every delivery whose time has come; returns how many were attempted."""
        attempted = 0
        for key in list(self.store.list_keys(layout.WEBHOOKS_PREFIX)):
            debt = self._lease(key)
            if debt is not None:
                self._attempt(key, *debt)
                attempted += 1
        return attempted

    def _lease(self, key: str) -> tuple[dict, str] | None:
        now = time.time()
        try:
            debt, etag = self.store.get_json(key)
        except ObjectNotFound:
            return None
        if debt.get("next_at", 0) > now or debt.get("lease_until", 0) > now:
            return None
        debt["lease_until"] = now + self.timeout_s + 10
        debt.setdefault("created_at", now)
        try:
            new_etag = self.store.put_json(key, debt, if_match=etag)
        except PreconditionFailed:
            return None  # another runner took it
        return debt, new_etag

    def _attempt(self, key: str, debt: dict, etag: str) -> None:
        try:
            job = self.repo.get(debt["job_id"]).job
        except JobNotFound:
            self.store.delete(key)
            return
        if not job.state.terminal:
            if time.time() - debt["created_at"] > ORPHAN_AFTER_S:
                self.store.delete(key)
            return
        if job.refine is not None and not job.refine.status.finished:
            self._release(key, debt, etag)  # call back once the refined text is there too
            return
        result = self.repo.get_result(job.id) if job.state.value == "done" else None
        refined = None
        if job.refine is not None and job.refine.status is RefineStatus.OK:
            refined = self.repo.get_refined(job.id, job.refine.run)
        body = json.dumps(job_status(job, result, refined), ensure_ascii=False).encode()
        attempt = self._post(debt["url"], body, job.id, len(job.webhook.attempts) + 1 if job.webhook else 1)
        self._record(job, debt, key, etag, attempt)

    def _release(self, key: str, debt: dict, etag: str) -> None:
        debt.update(lease_until=0, next_at=time.time() + 2)
        with contextlib.suppress(PreconditionFailed):
            self.store.put_json(key, debt, if_match=etag)

    def _post(self, url: str, body: bytes, job_id: str, number: int) -> WebhookAttempt:
        # Delivery is at least once (a runner can die after the POST, before recording it): the
        # delivery id stays the same across attempts so receivers can drop repeats.
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "whisperq-webhook",
            "X-Whisperq-Delivery": job_id,
            "X-Whisperq-Attempt": str(number),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        at = time.time()
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return WebhookAttempt(at=at, error=f"{type(exc).__name__}: {exc}"[:300])
        return WebhookAttempt(at=at, status_code=response.status_code)

    def _record(self, job: Job, debt: dict, key: str, etag: str, attempt: WebhookAttempt) -> None:
        ok = attempt.status_code is not None and 200 <= attempt.status_code < 300

        def change(j: Job) -> Job:
            hook = j.webhook or WebhookLog(url=debt["url"])
            hook.attempts.append(attempt)
            hook.status = "delivered" if ok else ("failed" if len(hook.attempts) >= self.max_attempts else "pending")
            hook.delivered_at = attempt.at if ok else None
            j.webhook = hook
            return j

        updated = self.repo.update(job.id, change)
        outcome = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error
        if updated.webhook.status == "pending":
            debt.update(next_at=time.time() + backoff_s(len(updated.webhook.attempts)), lease_until=0)
            self.store.put_json(key, debt, if_match=etag)
            self.events.emit(
                f"Task {job.id[:8]}: webhook attempt failed ({outcome}); will retry", level="WARNING", job_id=job.id
            )
            return
        self.store.delete(key)
        level = "INFO" if ok else "ERROR"
        self.events.emit(f"Task {job.id[:8]}: webhook {updated.webhook.status} ({outcome})", level=level, job_id=job.id)
