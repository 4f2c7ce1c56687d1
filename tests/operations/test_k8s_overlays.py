"""ops3: the base and both overlays build, every manifest validates against Kubernetes' schemas, and production
has no single-replica API, worker, broker or database, keeps them up through a node drain and scales them.

Custom resources (CloudNativePG's Cluster and ScheduledBackup, the RabbitMQ operator's RabbitmqCluster): no
package on PyPI or Debian ships their CRD schemas, so kubernetes-validate reports them as unknown and the
fields Yui relies on are checked here by hand instead.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.test_k8s_manifests import kustomize_build as base_by_hand

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "k8s"
OVERLAYS = REPO / "deploy" / "k8s-overlays"
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
}
SCALED = ("api", "worker")


def build(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` (or `kustomize build`); without either, the base by hand (as test_k8s_manifests does)
    and the overlay's resources and patches applied here: enough for these checks, not kustomize's own."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    command = [kubectl, "kustomize"] if kubectl else [kustomize, "build"] if kustomize else None
    if command:
        result = subprocess.run(
            [*command, str(directory)], capture_output=True, text=True, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    if directory == BASE:
        return base_by_hand()
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        docs.extend(base_with_labels() if path == BASE else yaml.safe_load_all(path.read_text()))
    for patch in kustomization.get("patches", []):
        for doc in docs:
            if doc["kind"] == patch["target"]["kind"] and component(doc) in SCALED:
                apply_patch(doc, patch, directory)
    return [doc for doc in docs if doc]


def base_with_labels() -> list[dict[str, Any]]:
    """The base by hand, with the labels its kustomization gives every resource and pod template."""
    docs = base_by_hand()
    for entry in yaml.safe_load((BASE / "kustomization.yaml").read_text()).get("labels", []):
        for doc in docs:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            template = doc.get("spec", {}).get("template")
            if entry.get("includeTemplates") and template:
                template.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    return docs


def apply_patch(doc: dict[str, Any], patch: dict[str, Any], directory: Path) -> None:
    if "path" in patch:
        merge(doc, yaml.safe_load((directory / patch["path"]).read_text()) | {"metadata": {}})
        return
    for operation in yaml.safe_load(patch["patch"]):
        *parents, last = operation["path"].strip("/").split("/")
        target = doc
        for key in parents:
            target = target[key]
        target[last] = operation["value"]


def merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def component(doc: dict[str, Any]) -> str | None:
    return doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return build(OVERLAYS / "production")


@pytest.mark.parametrize("directory", [BASE, OVERLAYS / "production", OVERLAYS / "dev"], ids=lambda p: p.name)
def test_ops3_every_manifest_validates_against_the_kubernetes_schemas(directory: Path) -> None:
    docs = build(directory)
    version = kubernetes_validate.latest_version()
    custom = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            custom.append(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error.message} at {list(error.path)}")
    if directory != BASE:
        assert {(doc["apiVersion"], doc["kind"]) for doc in custom} >= {
            ("postgresql.cnpg.io/v1", "Cluster"),
            ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
        }
    for doc in docs:
        assert doc["metadata"].get("namespace", "yui") == "yui", doc["metadata"]["name"]


def test_ops3_production_runs_no_single_replica_api_worker_broker_or_database(
    production: list[dict[str, Any]],
) -> None:
    deployments = {name: d for name, d in named(production, "Deployment").items() if component(d) in SCALED}
    assert len(deployments) == 12, sorted(deployments)
    autoscalers = named(production, "HorizontalPodAutoscaler")
    budgets = named(production, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 3, name
        scaler = autoscalers[name]["spec"]
        assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= scaler["minReplicas"] < scaler["maxReplicas"], name
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"], name
        assert budget.get("maxUnavailable") == 1, name
        pod = deployment["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        for constraint in pod["topologySpreadConstraints"]:
            # The selector plus matchLabelKeys picks exactly this Deployment's pods.
            selector = constraint["labelSelector"]["matchLabels"]
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items(), name
            assert set(constraint["matchLabelKeys"]) == set(deployment["spec"]["selector"]["matchLabels"])
        main = pod["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
    broker = next(iter(named(production, "RabbitmqCluster").values()))["spec"]
    assert broker["replicas"] == 3
    assert "quorum_queue.initial_cluster_size = 3" in broker["rabbitmq"]["additionalConfig"]
    database = named(production, "Cluster")["yui-postgres"]["spec"]
    assert database["instances"] >= 3 and database["minSyncReplicas"] >= 1
    archive = database["backup"]["barmanObjectStore"]
    assert archive["destinationPath"].startswith("s3://") and "wal" in archive
    scheduled = next(iter(named(production, "ScheduledBackup").values()))["spec"]
    assert scheduled["cluster"]["name"] == "yui-postgres" and len(scheduled["schedule"].split()) == 6


def test_ops3_production_connections_fit_max_connections_at_the_hpas_maximum(
    production: list[dict[str, Any]],
) -> None:
    """Every API and worker at its HPA's maximum, each with a full pool (+1 for a worker's relay LISTEN)."""
    env = named(production, "ConfigMap")["yui-shared-env"]["data"]
    per_pod = int(env["YUI_DATABASE_POOL_SIZE"]) + int(env["YUI_DATABASE_MAX_OVERFLOW"]) + 1
    replicas = sum(s["spec"]["maxReplicas"] for s in named(production, "HorizontalPodAutoscaler").values())
    database = named(production, "Cluster")["yui-postgres"]["spec"]
    assert replicas * per_pod < int(database["postgresql"]["parameters"]["max_connections"])


def test_ops3_production_keeps_the_bases_jobs_secrets_and_network_policies(
    production: list[dict[str, Any]],
) -> None:
    base = build(BASE)
    for kind in ("Job", "NetworkPolicy", "ConfigMap", "Service"):
        assert set(named(base, kind)) <= set(named(production, kind)), kind


def test_ops3_dev_keeps_one_of_each() -> None:
    dev = build(OVERLAYS / "dev")
    for name, deployment in named(dev, "Deployment").items():
        if component(deployment) in SCALED:
            assert deployment["spec"]["replicas"] == 1, name
    assert named(dev, "Cluster")["yui-postgres"]["spec"]["instances"] == 1
    assert named(dev, "RabbitmqCluster")["yui-rabbitmq"]["spec"]["replicas"] == 1
    assert not named(dev, "HorizontalPodAutoscaler")
