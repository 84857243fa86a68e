"""The app factory: the same FastAPI app runs under uvicorn and (later) under AWS Lambda."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from functions.auth import ApiKeyMiddleware, key_digests
from functions.context import build_context
from functions.errors import install_error_handlers
from functions.routes import (
    dashboard,
    events,
    health,
    logs,
    metrics,
    openai_compat,
    queue,
    refine,
    results,
    runners,
    status,
    tasks,
    transcribe,
    uploads,
)
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
    if settings.api_keys is not None and settings.api_keys.get_secret_value().strip():
        digests = key_digests(settings.api_keys.get_secret_value())
        app.add_middleware(ApiKeyMiddleware, digests=digests, events_token_set=settings.api.events_token is not None)
    routers = (
        transcribe,
        openai_compat,
        uploads,
        status,
        results,
        tasks,
        refine,
        queue,
        runners,
        logs,
        events,
        metrics,
        health,
        dashboard,
    )
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", dashboard.static_files(), name="static")
    return app
