"""``GET /api/logs``: the last events, oldest first, as ``{time, msg}`` (plus level, source, job)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

from functions.context import Ctx

router = APIRouter(tags=["monitoring"])


@router.get("/api/logs")
async def logs(ctx: Ctx, limit: int = Query(200, ge=1, le=1000)) -> list[dict]:
    return await asyncio.to_thread(ctx.events.tail, limit)
