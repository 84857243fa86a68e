"""Prompt templates: text files with a ``{transcript}`` placeholder (``{part}`` and ``{parts}`` say
which part of a long transcript it is). Built-in presets ship in ``templates/``; files in
``WHISPERQ_REFINE__TEMPLATE_DIR`` add to them or replace them by name."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

PLACEHOLDER = "{transcript}"
TEMPLATE_SUFFIXES = (".txt", ".md")
_PRESET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PresetError(ValueError):
    """An unknown preset, or a template that cannot be used."""


def _builtin_templates() -> dict[str, str]:
    folder = resources.files("whisperq.refine") / "templates"
    return {
        entry.name.rsplit(".", 1)[0]: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(TEMPLATE_SUFFIXES)
    }


def _custom_templates(template_dir: Path | None) -> dict[str, Path]:
    if template_dir is None or not template_dir.is_dir():
        return {}
    return {
        path.stem: path
        for path in sorted(template_dir.iterdir())
        if path.suffix in TEMPLATE_SUFFIXES and _PRESET_NAME.match(path.stem)
    }


def available_presets(template_dir: Path | None = None) -> list[str]:
    return sorted({*_builtin_templates(), *_custom_templates(template_dir)})


def load_template(preset: str, template_dir: Path | None = None) -> str:
    custom = _custom_templates(template_dir)
    if preset in custom:
        template = custom[preset].read_text(encoding="utf-8")
        where = str(custom[preset])
    else:
        template = _builtin_templates().get(preset)
        where = f"built-in preset {preset!r}"
        if template is None:
            raise PresetError(f"unknown refine preset {preset!r}; known: {available_presets(template_dir)}")
    if PLACEHOLDER not in template:
        raise PresetError(f"the template {where} has no {PLACEHOLDER} placeholder")
    return template


def render(template: str, transcript: str, part: int = 1, parts: int = 1) -> str:
    # Plain replacement, not str.format: transcripts and templates may hold other braces.
    return template.replace("{part}", str(part)).replace("{parts}", str(parts)).replace(PLACEHOLDER, transcript)
