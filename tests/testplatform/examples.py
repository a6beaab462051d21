"""The manifests in examples/, with their ${PLACEHOLDERS} filled in."""

from __future__ import annotations

import re
from pathlib import Path

from testplatform.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
CRDS = REPO_ROOT / "crds"


class MissingValue(KeyError):
    """A manifest needs a value nobody gave."""


def render(path: Path, values: dict[str, str]) -> str:
    text = path.read_text()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MissingValue(f"{path.name} needs a value for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{([A-Z_]+)\}", fill, text)


def rendered_examples(values: dict[str, str], skip_missing: bool = False) -> list[tuple[str, str]]:
    """(file name, manifest text) in apply order; with ``skip_missing``, without the files that need
    a value not given (the sidecar example without a second org)."""
    rendered = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        try:
            rendered.append((path.name, render(path, values)))
        except MissingValue:
            if not skip_missing:
                raise
    return rendered
