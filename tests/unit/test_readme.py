"""The README's promises: two-line quick start, the test command CI runs, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

from whisperq.settings import README_MARKERS, describe_settings, settings_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_block_under(heading_word: str) -> list[str]:
    section = re.search(rf"^#+ [^\n]*{heading_word}[^\n]*\n(.*?)(?=^#+ |\Z)", README, re.M | re.S)
    assert section, f"no heading containing {heading_word!r}"
    block = re.search(r"```bash\n(.*?)```", section.group(1), re.S)
    assert block, f"no bash block under {heading_word!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_install_then_serve():
    lines = _bash_block_under("Quick start")
    assert len(lines) == 2
    assert lines[0].startswith("pip install")
    assert lines[1] == "whisperq serve"


def test_ci_runs_the_readme_test_command():
    [command] = _bash_block_under("Test")
    assert command in (ROOT / ".ci" / "run").read_text()


def test_readme_settings_table_is_current():
    """Regenerate with: whisperq settings --update-readme README.md"""
    start, end = README_MARKERS
    assert README.split(start, 1)[1].split(end, 1)[0].strip() == settings_table()


def test_every_setting_is_in_the_readme_table():
    for env, _default, description in describe_settings():
        assert f"| `{env}` |" in README, f"{env} missing from README"
        assert description, f"{env} has no description"
