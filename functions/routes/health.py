"""``GET /healthz``: the API can reach its store and queue."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from functions.context import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def health(ctx: Ctx) -> dict:
    counts = await asyncio.to_thread(ctx.queue.counts)
    return {"status": "ok", "store": ctx.store.url, "queue": ctx.queue.url, "visible_messages": counts.visible}
