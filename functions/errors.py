"""One error shape for every endpoint: ``{"error": "...", ...details}`` with a 4xx/5xx status.

``error`` is the seed's key; ``allowed`` (when present) says what would have been accepted.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status_code: int, error: str, **details: Any):
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.error, **{k: v for k, v in self.details.items() if v is not None}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")),
                "problem": e.get("msg"),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return JSONResponse({"error": f"invalid request: {summary}", "problems": problems}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
