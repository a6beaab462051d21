"""The manifests in examples/, with their ${PLACEHOLDERS} filled in."""

from __future__ import annotations

import re
from pathlib import Path

from testplatform.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
CRDS = REPO_ROOT / "crds"


def render(path: Path, values: dict[str, str]) -> str:
    text = path.read_text()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{path.name} needs a value for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{([A-Z_]+)\}", fill, text)


def rendered_examples(values: dict[str, str]) -> list[tuple[str, str]]:
    """(file name, manifest text) in apply order."""
    return [(path.name, render(path, values)) for path in sorted(EXAMPLES.glob("*.yaml"))]
