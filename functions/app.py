"""The app factory: the same FastAPI app runs under uvicorn and (later) under AWS Lambda."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from functions.context import build_context
from functions.errors import install_error_handlers
from functions.routes import dashboard, events, health, logs, queue, runners, status, transcribe, uploads
from whisperq import __version__
from whisperq.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.ctx.close()

    app = FastAPI(title="whisperq", version=__version__, lifespan=lifespan)
    app.state.ctx = build_context(settings)
    install_error_handlers(app)
    for module in (transcribe, uploads, status, queue, runners, logs, events, health, dashboard):
        app.include_router(module.router)
    return app
