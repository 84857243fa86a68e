"""``GET /``: the dashboard page; its script, styles and icon are under ``/static`` (no CDN, no external fonts)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from whisperq import __version__

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The page loads nothing from elsewhere; uploads may go to a presigned bucket URL on another host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self' http: https:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(tags=["dashboard"])


@lru_cache(maxsize=1)
def _page() -> str:
    # The version in the asset URLs makes browsers fetch new script and styles after an upgrade.
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("__VERSION__", __version__)


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(
        _page(), headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}
    )


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)
