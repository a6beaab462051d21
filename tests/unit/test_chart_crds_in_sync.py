"""crds/ is the one source of truth for the schemas; the chart's files/crds/ (its
CRD templates read them) and deploy/crds.yaml are copies that hack/render-deploy.sh
keeps identical. A stale copy would install an old schema with `helm install` or
`kubectl apply`. Kopf's peering CRDs are vendored in the chart's crds/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from testplatform.paths import REPO_ROOT

SOURCE = REPO_ROOT / "crds"
CHART_CRDS = REPO_ROOT / "helm" / "astra-token-operator" / "files" / "crds"
KOPF_CRDS = REPO_ROOT / "helm" / "astra-token-operator" / "crds"
DEPLOY_CRDS = REPO_ROOT / "deploy" / "crds.yaml"
FIX = "run hack/render-deploy.sh"


def source_files() -> list[Path]:
    return sorted(SOURCE.glob("*.yaml"))


def test_there_are_crds_to_compare() -> None:
    assert {path.name for path in source_files()} >= {"astraorgs.yaml", "astraroles.yaml", "astratokens.yaml"}


@pytest.mark.parametrize("source", source_files(), ids=lambda path: path.name)
def test_chart_ships_an_identical_copy_of_each_crd(source: Path) -> None:
    copy = CHART_CRDS / source.name
    assert copy.exists(), f"{copy} is missing: {FIX}"
    assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}: {FIX}"


def test_chart_has_no_crd_that_crds_dir_lacks() -> None:
    extra = {path.name for path in CHART_CRDS.glob("*.yaml")} - {path.name for path in source_files()}
    assert not extra, f"the chart ships CRDs that crds/ does not have: {sorted(extra)}: {FIX}"


def test_vendored_kopf_peering_crds_define_both_peering_kinds() -> None:
    assert [path.name for path in KOPF_CRDS.glob("*.yaml")] == ["kopf-peerings.yaml"]
    documents = list(yaml.safe_load_all((KOPF_CRDS / "kopf-peerings.yaml").read_text()))
    scopes = {doc["spec"]["names"]["kind"]: doc["spec"]["scope"] for doc in documents}
    assert scopes == {"ClusterKopfPeering": "Cluster", "KopfPeering": "Namespaced"}
    for doc in documents:
        assert doc["spec"]["group"] == "kopf.dev"
        status = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
        # Kopf patches status on the main resource: a status subresource would silently drop it.
        assert "subresources" not in doc["spec"]["versions"][0]


def test_deploy_crds_yaml_holds_exactly_the_charts_crds() -> None:
    deployed = [doc for doc in yaml.safe_load_all(DEPLOY_CRDS.read_text()) if doc]
    expected = [doc for path in [*sorted(CHART_CRDS.glob("*.yaml")), KOPF_CRDS / "kopf-peerings.yaml"]
                for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert deployed == expected, f"deploy/crds.yaml is stale: {FIX}"
