"""``POST /api/events/s3``: bucket event notifications posted over HTTP (MinIO's webhook target)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Body, Request

from functions.context import AppContext, Ctx
from functions.errors import ApiError
from functions.s3_events import CreatedObject, created_objects

router = APIRouter(tags=["events"])


def handle_created(ctx: AppContext, objects: list[CreatedObject]) -> list[str]:
    """Create or queue the jobs these objects stand for; returns the ids of jobs changed now."""
    prefix = getattr(ctx.store, "prefix", "")
    bucket = getattr(ctx.store, "bucket", None)
    changed = []
    for obj in objects:
        if bucket and obj.bucket and obj.bucket != bucket:
            continue
        for key in obj.key_candidates():
            if key.startswith(prefix) and ctx.store.exists(key[len(prefix) :]):
                job = ctx.intake.object_created(key[len(prefix) :])
                if job is not None:
                    changed.append(job.id)
                break
    return changed


@router.post("/api/events/s3")
async def s3_events(request: Request, ctx: Ctx, payload: dict[str, Any] = Body(...)) -> dict:
    token = ctx.settings.api.events_token
    if token is not None:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.get_secret_value().encode()):
            raise ApiError(401, "a valid bearer token is required for bucket events")
    objects = list(created_objects(payload))
    changed = await asyncio.to_thread(handle_created, ctx, objects)
    return {"received": len(objects), "jobs": changed}
