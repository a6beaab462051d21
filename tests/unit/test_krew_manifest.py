"""hack/krew: the manifest template renders into a krew Plugin whose every
platform installs both executables, and refuses to render with a value missing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

KREW = Path(__file__).resolve().parents[2] / "hack" / "krew"
TEMPLATE = KREW / "astra.yaml.tmpl"


def placeholders() -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)\}", TEMPLATE.read_text()))


def render(values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in placeholders()}
    return subprocess.run([str(KREW / "render.sh")], env={**env, **values}, capture_output=True, text=True,
                          check=False, timeout=30)


def test_the_rendered_manifest_is_a_krew_plugin_installing_kubectl_astra_and_its_completion() -> None:
    values = {name: f"value-of-{name.lower()}" for name in placeholders()}
    values["VERSION"] = "1.2.3"

    rendered = render(values)

    assert rendered.returncode == 0, rendered.stderr
    manifest = yaml.safe_load(rendered.stdout)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "astra"
    assert manifest["spec"]["version"] == "v1.2.3"
    assert "${" not in rendered.stdout
    platforms = manifest["spec"]["platforms"]
    assert {(p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"]) for p in platforms} == {
        ("linux", "amd64"), ("linux", "arm64"), ("darwin", "arm64")}
    for platform in platforms:
        assert platform["bin"] == "kubectl-astra"
        assert {f["from"] for f in platform["files"]} == {"kubectl-astra", "kubectl_complete-astra"}
        assert platform["sha256"].startswith("value-of-sha256_")


def test_a_missing_value_is_refused_by_name() -> None:
    values = {name: "x" for name in placeholders() if name != "SHA256_LINUX_AMD64"}

    rendered = render(values)

    assert rendered.returncode == 2
    assert rendered.stdout == ""
    assert rendered.stderr.strip() == "render.sh: set SHA256_LINUX_AMD64"
