"""A small OpenAI-compatible chat completions server on 127.0.0.1, for refinement tests.

``POST /v1/chat/completions`` answers by ``mode`` (or the next entry of ``script``):
``ok`` (the transcript between <transcript> tags, upper-cased, after a marker naming the preset
whose prompt it got), ``429`` (with Retry-After), ``500``, ``400``, ``empty`` (no text) and ``stall``
(no answer until the server is stopped). ``close()`` stops listening (no server at all) and ``open()``
listens on the same port again.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TRANSCRIPT = re.compile(r"<transcript>\n(.*)\n</transcript>", re.S)


def preset_of(prompt: str) -> str:
    return "call_center" if "Автоответчик" in prompt else "custom" if "CUSTOM" in prompt else "cleanup"


def refined(prompt: str) -> str:
    """What ``ok`` answers: tests compute the expected refined text with this."""
    match = _TRANSCRIPT.search(prompt)
    transcript = match.group(1) if match else prompt
    return f"[{preset_of(prompt)}] {transcript.upper()}"


class FakeLLM:
    def __init__(self, mode: str = "ok", retry_after: str = "0.05"):
        self.mode = mode
        self.script: deque[str] = deque()  # modes for the next requests, then ``mode``
        self.retry_after = retry_after
        self.prompts: list[str] = []
        self.models: list[str] = []
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> int:
        return len(self.prompts)

    def open(self) -> FakeLLM:
        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-llm", daemon=True).start()
        return self

    def close(self) -> None:
        self._release.set()  # stalled requests end
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def next_mode(self) -> str:
        return self.script.popleft() if self.script else self.mode

    def reset(self, mode: str = "ok") -> None:
        self.mode = mode
        self.script.clear()
        self.prompts.clear()
        self.models.clear()


def _handler(llm: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            prompt = body["messages"][-1]["content"]
            llm.prompts.append(prompt)
            llm.models.append(body.get("model", ""))
            mode = llm.next_mode()
            if mode == "stall":
                llm._release.wait(120)
                return None
            if mode == "429":
                return self._send(429, _error("rate limited", "rate_limit_exceeded"), {"Retry-After": llm.retry_after})
            if mode == "500":
                return self._send(500, _error("the model crashed", "server_error"))
            if mode == "400":
                return self._send(400, _error("bad request: context too long", "invalid_request_error"))
            text = "" if mode == "empty" else refined(prompt)
            return self._send(200, _completion(body.get("model", ""), text))

        def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _error(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _completion(model: str, text: str) -> dict:
    return {
        "id": f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
