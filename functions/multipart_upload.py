"""Streams a multipart/form-data request to disk, enforcing the size limit while it arrives.

Starlette's own form parsing buffers the whole file before a handler can check its size; this
parser writes the file part to a temporary file chunk by chunk and stops at the limit.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from functions.errors import ApiError

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 50


@dataclass
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    path: Path
    size: int = 0


@dataclass
class ParsedForm:
    fields: dict[str, str] = field(default_factory=dict)  # the last value of each field
    files: list[UploadedFile] = field(default_factory=list)
    multi: list[tuple[str, str]] = field(default_factory=list)  # every value, repeated fields included

    def cleanup(self) -> None:
        for upload in self.files:
            with contextlib.suppress(FileNotFoundError):
                upload.path.unlink()


class _FormBuilder:
    def __init__(self, temp_dir: Path, max_file_bytes: int):
        self.temp_dir = temp_dir
        self.max_file_bytes = max_file_bytes
        self.form = ParsedForm()
        self._headers: dict[str, str] = {}
        self._header_field = b""
        self._header_value = b""
        self._name = ""
        self._value = bytearray()
        self._file: UploadedFile | None = None
        self._handle = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._append_header("_header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._append_header("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _append_header(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()
        self._file = None

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value.decode("utf-8", "replace")
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            fd, name = tempfile.mkstemp(prefix="upload-", dir=self.temp_dir)
            self._handle = os.fdopen(fd, "wb")
            self._file = UploadedFile(
                field_name=self._name,
                filename=options[b"filename"].decode("utf-8", "replace"),
                content_type=self._headers.get("content-type", "application/octet-stream"),
                path=Path(name),
            )
            self.form.files.append(self._file)
        elif len(self.form.fields) >= MAX_FIELDS:
            raise ApiError(400, f"too many form fields (at most {MAX_FIELDS})")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            self._file.size += len(chunk)
            if self._file.size > self.max_file_bytes:
                raise ApiError(
                    413,
                    f"file too large: the limit is {self.max_file_bytes} bytes",
                    max_bytes=self.max_file_bytes,
                )
            self._handle.write(chunk)
        else:
            self._value.extend(chunk)
            if len(self._value) > MAX_FIELD_BYTES:
                raise ApiError(400, f"form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._file is not None:
            self._handle.close()
            self._handle = None
        else:
            value = self._value.decode("utf-8", "replace")
            self.form.fields[self._name] = value
            self.form.multi.append((self._name, value))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


async def read_form(request: Request, temp_dir: Path, max_file_bytes: int) -> ParsedForm:
    """Parse the request body; on any error every temporary file is removed before raising."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(
            415,
            "send the audio as multipart/form-data with a 'file' field",
            allowed=["multipart/form-data"],
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_file_bytes + 1024 * 1024:
        raise ApiError(413, f"file too large: the limit is {max_file_bytes} bytes", max_bytes=max_file_bytes)
    temp_dir.mkdir(parents=True, exist_ok=True)
    builder = _FormBuilder(temp_dir, max_file_bytes)
    parser = MultipartParser(options[b"boundary"], builder.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        builder.close()
        builder.form.cleanup()
        raise ApiError(400, "the client disconnected during the upload") from None
    except ApiError:
        builder.close()
        builder.form.cleanup()
        raise
    except Exception as exc:
        builder.close()
        builder.form.cleanup()
        raise ApiError(400, f"malformed multipart body: {exc}") from exc
    builder.close()
    return builder.form
