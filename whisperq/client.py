"""``whisperq submit``: send files or folders to a running service, optionally wait and save results.

Uploads go through presigned URLs (straight to the bucket where the store allows it), with a
progress bar per file; ``--wait`` follows each job's progress and writes the transcripts in the
formats asked for.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

MEDIA_SUFFIXES = {
    ".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".aac", ".wma", ".amr", ".webm", ".mp4", ".mkv",
    ".mov", ".avi", ".3gp",
}  # fmt: skip
FINAL = {"done", "error", "cancelled"}


class SubmitError(Exception):
    pass


@dataclass
class Submitted:
    path: Path
    task_id: str


def find_media(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SubmitError(f"{path}: no such file or folder")
    return found


class _ProgressReader:
    """A file object that moves a progress bar as httpx reads it."""

    def __init__(self, handle, bar: tqdm):
        self.handle = handle
        self.bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size if size and size > 0 else 1024 * 1024)
        self.bar.update(len(chunk))
        return chunk

    def __iter__(self):
        while chunk := self.read(1024 * 1024):
            yield chunk


class Client:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def _check(self, response: httpx.Response) -> dict:
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise SubmitError(f"HTTP {response.status_code}: {message}")
        return response.json()

    def upload(self, path: Path, options: dict) -> Submitted:
        grant = self._check(self.http.post("/api/uploads", json={"filename": path.name, **options}))
        size = path.stat().st_size
        with (
            open(path, "rb") as handle,
            tqdm(total=size, unit="B", unit_scale=True, desc=path.name, leave=False, file=sys.stderr) as bar,
        ):
            reader = _ProgressReader(handle, bar)
            if grant["method"] == "PUT":
                sent = self.http.put(grant["upload_url"], content=iter(reader), headers=grant.get("headers", {}))
            else:
                sent = httpx.post(grant["upload_url"], data=grant["fields"], files={"file": (path.name, reader)})
        if sent.status_code >= 300:
            raise SubmitError(f"{path.name}: upload failed with HTTP {sent.status_code}: {sent.text[:300]}")
        if grant["method"] == "POST":
            self.http.post(grant["complete_url"])
        return Submitted(path, grant["task_id"])

    def wait(self, jobs: list[Submitted], poll_s: float = 1.0) -> dict[str, dict]:
        final: dict[str, dict] = {}
        bars = {j.task_id: tqdm(total=100, desc=j.path.name, unit="%", file=sys.stderr) for j in jobs}
        try:
            while len(final) < len(jobs):
                for job in jobs:
                    if job.task_id in final:
                        continue
                    status = self._check(self.http.get(f"/api/status/{job.task_id}"))
                    bar = bars[job.task_id]
                    bar.update(int(status.get("progress", 0) * 100) - bar.n)
                    bar.set_postfix_str(status["status"])
                    if status["status"] in FINAL:
                        final[job.task_id] = status
                        bar.update(100 - bar.n if status["status"] == "done" else 0)
                time.sleep(poll_s)
        finally:
            for bar in bars.values():
                bar.close()
        return final

    def download(self, task_id: str, fmt: str) -> bytes:
        extension = "verbose.json" if fmt == "verbose_json" else fmt
        response = self.http.get(f"/api/result/{task_id}.{extension}")
        if response.status_code >= 400:
            raise SubmitError(f"HTTP {response.status_code}: {response.text[:300]}")
        return response.content


def run_submit(args) -> int:
    client = Client(args.url, args.api_key)
    options = {
        k: v
        for k, v in {
            "model_name": args.model,
            "initial_prompt": args.prompt,
            "up_speed": args.up_speed,
            "language": args.language,
            "priority": args.priority,
            "split_roads": args.split_roads,
            "upgrade_transcribation": args.refine or None,
        }.items()
        if v is not None
    }
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    try:
        files = find_media([Path(p) for p in args.paths])
        submitted = [client.upload(path, options) for path in files]
    except (SubmitError, httpx.HTTPError) as exc:
        print(f"whisperq submit: {exc}", file=sys.stderr)
        return 2
    for job in submitted:
        print(f"{job.task_id}\t{job.path}")
    if not args.wait:
        return 0
    final = client.wait(submitted)
    failed = 0
    out_dir = Path(args.out) if args.out else None
    for job in submitted:
        status = final[job.task_id]
        if status["status"] != "done":
            failed += 1
            print(f"{job.path}: {status['status']}: {status.get('error')}", file=sys.stderr)
            continue
        for fmt in formats:
            folder = out_dir or job.path.parent
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{job.path.stem}.{'verbose.json' if fmt == 'verbose_json' else fmt}"
            target.write_bytes(client.download(job.task_id, fmt))
            print(f"{job.path} -> {target}")
    return 1 if failed else 0


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", help="audio/video files or folders (searched recursively)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default %(default)s)")
    parser.add_argument("--api-key", help="API key, when the service has WHISPERQ_API_KEYS set")
    parser.add_argument("--model", help="model_name (default: the service's default, base)")
    parser.add_argument("--prompt", help="initial_prompt")
    parser.add_argument("--language", help="ISO-639-1 code, or auto")
    parser.add_argument("--up-speed", type=float, help="speed the audio up before recognition (0.25-4)")
    parser.add_argument("--priority", choices=["normal", "high"])
    parser.add_argument("--split-roads", help="channel split, e.g. 2,Client,Operator")
    parser.add_argument("--refine", action="store_true", help="upgrade_transcribation: refine with an LLM")
    parser.add_argument("--wait", action="store_true", help="wait for the jobs and save their results")
    parser.add_argument("--format", default="txt", help="result formats to save with --wait (default txt)")
    parser.add_argument("--out", help="folder for results (default: beside each input file)")
