"""``GET /``: the dashboard page, served by the app itself (no CDN)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    page = files("functions").joinpath("static/index.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
