"""The README's promises: two set-up commands first, and a configuration reference that matches
the settings model."""

from __future__ import annotations

from pipelines.core.config_docs import readme_section
from pipelines.core.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    assert lines[0] == "```bash"
    assert lines[1].startswith("make demo") and lines[2].startswith("make test")
    assert lines[3] == "```"


def test_configuration_reference_is_generated_from_the_settings_model() -> None:
    assert readme_section() in README.read_text(), \
        "README config reference is stale: paste `creditflow config docs` between the markers"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
