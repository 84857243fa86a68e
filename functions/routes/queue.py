"""``GET /api/queue``: queued, processing, completed and failed jobs, read from the state index."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

from functions.context import Ctx
from whisperq.jobs import JobState
from whisperq.status_view import queue_entry

router = APIRouter(tags=["monitoring"])


@router.get("/api/queue")
async def queue(ctx: Ctx, limit: int = Query(200, ge=1, le=10000, description="Finished jobs per list")) -> dict:
    listing = await asyncio.to_thread(ctx.repo.list_all, limit)
    counts = await asyncio.to_thread(ctx.queue.counts)
    return {
        "queue": [queue_entry(s) for s in listing[JobState.QUEUED]],
        "processing": [queue_entry(s) for s in listing[JobState.PROCESSING]],
        "completed": [queue_entry(s) for s in listing[JobState.DONE]],
        "failed": [queue_entry(s) for s in listing[JobState.ERROR]],
        "cancelled": [queue_entry(s) for s in listing[JobState.CANCELLED]],
        "awaiting_upload": [queue_entry(s) for s in listing[JobState.AWAITING_UPLOAD]],
        "messages": {"visible": counts.visible, "in_flight": counts.in_flight, "dead": counts.dead},
    }
