"""The embedded store: a folder on disk that behaves like a bucket.

Atomic writes go through a temporary file and a rename. Exclusive create uses ``link``, which fails
when the target exists. Compare-and-swap holds a per-key ``flock`` while it compares the ETag
and renames, so two processes never both win. The ETag is derived from the file's inode, size and
modification time: a rename always brings a new inode, so every write gets a new ETag.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from whisperq.store.base import ObjectInfo, ObjectNotFound, PreconditionFailed, Store, check_key

_INTERNAL = ".whisperq"  # temp files, locks and metadata live here, outside the key space
_CHUNK = 1024 * 1024


class LocalStore(Store):
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.url = str(self.root)
        self._internal = self.root / _INTERNAL
        for sub in ("tmp", "locks", "meta"):
            (self._internal / sub).mkdir(parents=True, exist_ok=True)

    # --- paths -------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == _INTERNAL:
            raise ObjectNotFound(key)
        return self.root / key

    def _digest(self, key: str) -> str:
        return hashlib.sha1(key.encode()).hexdigest()

    def _meta_path(self, key: str) -> Path:
        return self._internal / "meta" / f"{self._digest(key)}.json"

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_path = self._internal / "locks" / self._digest(key)[:2]
        with open(lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    @staticmethod
    def _etag(stat: os.stat_result) -> str:
        return f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"

    def _info(self, key: str, path: Path) -> ObjectInfo:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        if not path.is_file():
            raise ObjectNotFound(key)
        return ObjectInfo(key, stat.st_size, self._etag(stat), stat.st_mtime, self._read_meta(key))

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            return json.loads(self._meta_path(key).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write_meta(self, key: str, metadata: dict[str, str] | None) -> None:
        meta_path = self._meta_path(key)
        if metadata:
            tmp = self._temp_file_with(json.dumps(metadata).encode())
            os.replace(tmp, meta_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                meta_path.unlink()

    def _temp_file_with(self, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=self._internal / "tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return Path(name)

    def _temp_file_from(self, source: Path | BinaryIO) -> Path:
        fd, name = tempfile.mkstemp(dir=self._internal / "tmp")
        with os.fdopen(fd, "wb") as handle:
            if isinstance(source, Path):
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, handle, _CHUNK)
            else:
                shutil.copyfileobj(source, handle, _CHUNK)
        return Path(name)

    # --- writes ------------------------------------------------------------------------------
    def _commit(self, key: str, tmp: Path, *, if_none_match: bool, if_match: str | None, metadata: dict | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._locked(key):
                if if_none_match:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise PreconditionFailed(f"{key!r} already exists") from None
                else:
                    if if_match is not None:
                        try:
                            current = self._etag(path.stat())
                        except FileNotFoundError:
                            raise PreconditionFailed(f"{key!r} does not exist") from None
                        if current != if_match:
                            raise PreconditionFailed(f"{key!r} changed (ETag {current} != {if_match})")
                    os.replace(tmp, path)
                self._write_meta(key, metadata)
                return self._etag(path.stat())
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put_bytes(self, key, data, *, if_none_match=False, if_match=None, content_type=None, metadata=None):
        self._path(key)
        tmp = self._temp_file_with(data)
        return self._commit(key, tmp, if_none_match=if_none_match, if_match=if_match, metadata=metadata)

    def put_file(self, key, source, *, content_type=None, metadata=None):
        self._path(key)
        tmp = self._temp_file_from(source)
        return self._commit(key, tmp, if_none_match=False, if_match=None, metadata=metadata)

    def adopt_file(self, key: str, path: Path, metadata: dict[str, str] | None = None) -> str:
        """Move a file already on the same disk into the store without copying it."""
        self._path(key)
        fd, name = tempfile.mkstemp(dir=self._internal / "tmp")
        os.close(fd)
        try:
            os.replace(path, name)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            os.unlink(name)
            return self.put_file(key, path, metadata=metadata)
        return self._commit(key, Path(name), if_none_match=False, if_match=None, metadata=metadata)

    # --- reads -------------------------------------------------------------------------------
    def get_bytes(self, key):
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                return handle.read(), self._etag(stat)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    def download(self, key, dest):
        path = self._path(key)
        info = self._info(key, path)
        shutil.copyfile(path, dest)
        return info

    def head(self, key):
        return self._info(key, self._path(key))

    def delete(self, key, *, if_match=None):
        path = self._path(key)
        with self._locked(key):
            if if_match is not None:
                self._check_version(key, path, if_match)
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()
            with contextlib.suppress(FileNotFoundError):
                self._meta_path(key).unlink()
        self._prune_empty_dirs(path.parent)

    def _check_version(self, key: str, path: Path, etag: str) -> None:
        """Under the key's lock: raise unless the object is missing or still at version ``etag``."""
        try:
            current = self._etag(path.stat())
        except FileNotFoundError:
            return
        if current != etag:
            raise PreconditionFailed(f"{key!r} changed (ETag {current} != {etag})")

    def _prune_empty_dirs(self, folder: Path) -> None:
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def list_keys(self, prefix="", *, start_after=None):
        # Walk only the folders that can hold matching keys, in sorted order, lazily.
        folder, _, _ = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        yield from self._walk(base, folder + "/" if folder else "", prefix, start_after)

    def _walk(self, directory: Path, key_prefix: str, prefix: str, start_after: str | None) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name + ("/" if e.is_dir() else ""))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not key_prefix and entry.name == _INTERNAL:
                continue
            key = key_prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                sub = key + "/"
                if not (sub.startswith(prefix) or prefix.startswith(sub)):
                    continue
                if start_after is not None and not start_after.startswith(sub) and sub < start_after:
                    continue
                yield from self._walk(Path(entry.path), sub, prefix, start_after)
            elif key.startswith(prefix) and (start_after is None or key > start_after):
                yield key
