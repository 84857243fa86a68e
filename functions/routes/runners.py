"""``GET /api/gpus`` and ``GET /api/model_status``, answered from the runners' heartbeats."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from functions.context import Ctx
from whisperq.heartbeats import Heartbeat

router = APIRouter(tags=["monitoring"])

_STATE_ORDER = ["error", "not_downloaded", "unloaded", "downloading", "loading", "loaded"]


async def _beats(ctx: Ctx) -> list[Heartbeat]:
    return await asyncio.to_thread(ctx.live_heartbeats)


@router.get("/api/gpus")
async def gpus(ctx: Ctx) -> list[dict]:
    """One entry per GPU seen by a live runner (none on a machine without GPUs)."""
    seen: dict[tuple[str, int], dict] = {}
    for beat in await _beats(ctx):
        for gpu in beat.gpus:
            seen[(beat.host, gpu.id)] = {**gpu.model_dump(), "host": beat.host}
    return [seen[k] for k in sorted(seen)]


@router.get("/api/model_status")
async def model_status(ctx: Ctx) -> dict[str, dict[str, str]]:
    """Device id -> model -> state, e.g. ``{"0": {"base": "loaded"}}`` (``"cpu"`` for a CPU runner)."""
    beats = await _beats(ctx)
    hosts_per_device: dict[str, set[str]] = {}
    for beat in beats:
        hosts_per_device.setdefault(beat.device_id, set()).add(beat.host)
    out: dict[str, dict[str, str]] = {}
    for beat in beats:
        key = beat.device_id if len(hosts_per_device[beat.device_id]) == 1 else f"{beat.host}/{beat.device_id}"
        merged = out.setdefault(key, {})
        for name, state in beat.models.items():
            previous = merged.get(name)
            if previous is None or _rank(state) > _rank(previous):
                merged[name] = state
    return out


def _rank(state: str) -> int:
    return _STATE_ORDER.index(state) if state in _STATE_ORDER else -1
