"""The README's promises hold: CI runs its commands exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The shell commands in the README's "The two commands" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_two_one_line_commands() -> None:
    """The README gives exactly two commands, each one line joined with &&."""
    commands = readme_commands()

    assert len(commands) == 2
    assert all("\n" not in c and " && " in c for c in commands)


def test_ci_runs_the_readme_commands_verbatim() -> None:
    """.ci/run contains both README commands character for character."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    for command in readme_commands():
        assert command in ci


def test_changelog_has_an_unreleased_section() -> None:
    """CHANGELOG.md keeps an Unreleased section for the next release."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")

    assert "## [Unreleased]" in changelog
