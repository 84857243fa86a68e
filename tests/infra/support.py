"""Shared by the infra tests: paths, a YAML loader for CloudFormation, and the settings' env names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from whisperq.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
COMPOSE = REPO / "localstack-compose.yml"
INIT_SCRIPT = REPO / "infra" / "local" / "init.sh"
DOCKERFILE = REPO / "infra" / "Dockerfile"

# A WHISPERQ_ name as a whole word: not the tail of MINIO_..._WHISPERQ, not a lowercase path.
ENV_NAME = re.compile(r"(?<![A-Za-z0-9_])WHISPERQ_[A-Za-z0-9_]+")


# ---------------------------------------------------------------- CloudFormation YAML


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags into their long form: ``!Ref X`` -> ``{"Ref": "X"}``,
    ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub s`` -> ``{"Fn::Sub": s}``, and so on."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - a SafeLoader


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- settings


def settings_env_names() -> set[str]:
    """Every environment variable name ``Settings`` reads, derived from the model itself:
    ``<prefix><FIELD>`` for top-level fields, ``<prefix><GROUP><delimiter><FIELD>`` for the fields of a
    nested group (and ``<prefix><GROUP>`` itself, which takes the whole group as JSON)."""
    config = Settings.model_config
    prefix = config["env_prefix"].upper()
    delimiter = config["env_nested_delimiter"]
    names = set()
    for name, field in Settings.model_fields.items():
        top = f"{prefix}{name.upper()}"
        names.add(top)
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names.update(f"{top}{delimiter}{sub.upper()}" for sub in group.model_fields)
    return names


def walk(value: Any) -> Iterator[Any]:
    """Every dict key, and every scalar, of a parsed YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield value


def env_names_in(value: Any) -> set[str]:
    """All ``WHISPERQ_*`` names mentioned anywhere in a parsed document: keys and inside strings."""
    found: set[str] = set()
    for item in walk(value):
        if isinstance(item, str):
            found.update(ENV_NAME.findall(item))
    return found


def env_lines(text: str) -> dict[str, str]:
    """``NAME=value`` lines of WHISPERQ_ variables in a script (e.g. an env file written by UserData)."""
    pairs = re.findall(r"^\s*(WHISPERQ_[A-Za-z0-9_]+)=(.*)$", text, flags=re.MULTILINE)
    return dict(pairs)
