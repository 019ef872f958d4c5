"""The configuration reference of the README, generated from the settings model and the comments
of creditflow.toml, so the documentation cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from pipelines.core.settings import PROJECT_ROOT, Settings, reveal

BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
_LINE = re.compile(r"^#?\s*(?P<key>[a-z_]+)\s*=\s*(?P<value>.*?)\s*(#\s*(?P<comment>.*))?$")


def toml_comments(path: Path = PROJECT_ROOT / "creditflow.toml") -> dict[str, str]:
    """``section.key`` -> the comment written beside it in creditflow.toml."""
    out: dict[str, str] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1] + "."
            continue
        m = _LINE.match(line)
        if m and m.group("comment"):
            out.setdefault(section + m.group("key"), m.group("comment").strip())
    return out


def _rows(model: BaseModel, prefix: str, comments: dict[str, str]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, value in model:
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows += _rows(value, key + ".", comments)
            continue
        env = "CREDITFLOW_" + key.upper().replace(".", "__")
        shown = ".creditflow" if key == "home" else _show(value)  # resolved per working folder
        rows.append((f"`{key}`", f"`{shown}`", f"`{env}`",
                     comments.get(key, "").replace("|", "\\|")))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, SecretStr):  # a shipped default (the salt's "change-me"), not a secret
        return str(reveal(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} items]"
    return str(value) if value is not None else "(unset)"


def reference_markdown() -> str:
    defaults = Settings.model_construct()  # the model's defaults, not this machine's overrides
    defaults = Settings.model_validate(defaults.model_dump())
    rows = _rows(defaults, "", toml_comments())
    lines = ["| setting | default | environment variable | meaning |",
             "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def readme_section() -> str:
    return f"{BEGIN}\n{reference_markdown()}\n{END}"


def write_readme(path: Path = PROJECT_ROOT / "README.md") -> None:
    """Replace the README's reference section with a freshly generated one."""
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + readme_section() + text[end:])


if __name__ == "__main__":
    write_readme()
