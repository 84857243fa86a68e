"""API keys: with ``WHISPERQ_API_KEYS`` set, every request but the open paths needs
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys may be given as ``sha256:<hex>`` so the
configuration need not hold them in clear."""

from __future__ import annotations

import hashlib
import hmac
import re

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# The health check, the dashboard page itself (it asks for the key), and the signed upload URLs
# (their signature is the credential).
OPEN_PATHS = (re.compile(r"^/healthz$"), re.compile(r"^/$"), re.compile(r"^/static/.*"))
SIGNED_UPLOAD = re.compile(r"^/api/uploads/[A-Za-z0-9]+$")


def key_digests(configured: str) -> list[bytes]:
    digests = []
    for item in (k.strip() for k in configured.split(",") if k.strip()):
        if item.startswith("sha256:"):
            digests.append(bytes.fromhex(item.removeprefix("sha256:")))
        else:
            digests.append(hashlib.sha256(item.encode()).digest())
    return digests


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


class ApiKeyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, digests: list[bytes], events_token_set: bool):
        super().__init__(app)
        self.digests = digests
        self.events_token_set = events_token_set

    def _is_open(self, request: Request) -> bool:
        path = request.url.path
        if any(p.match(path) for p in OPEN_PATHS):
            return True
        if request.method == "PUT" and SIGNED_UPLOAD.match(path) and "signature" in request.query_params:
            return True
        return path == "/api/events/s3" and self.events_token_set

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self._is_open(request):
            return await call_next(request)
        key = presented_key(request)
        if key is not None:
            digest = hashlib.sha256(key.encode()).digest()
            if any(hmac.compare_digest(digest, d) for d in self.digests):
                return await call_next(request)
        return JSONResponse(
            {"error": "a valid API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
