"""deploy/k8s builds with kustomize and wires client certificates as compose does: the CA passphrase as a
Secret for identity only, identity's CA and CRL into the gateway pod (crl-sync sidecar), nginx reloads."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from identity import ca

from deploy.gateway import crl_sync

REPO_ROOT = Path(__file__).resolve().parents[1]
K8S = REPO_ROOT / "deploy" / "k8s"
GATEWAY = REPO_ROOT / "deploy" / "gateway"
PASSPHRASE = "YUI_IDENTITY_CA_KEY_PASSPHRASE"
PLACEHOLDER = re.compile(r"\$\{(YUI_[A-Z0-9_]+)\}")


def kustomize_build() -> list[dict[str, Any]]:
    """`kubectl kustomize` (or `kustomize build`) when installed; otherwise every manifest file parsed as YAML
    with the generated ConfigMap assembled by hand (enough for the checks below, not for kustomize's own)."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    command = (
        [kubectl, "kustomize", str(K8S)] if kubectl else [kustomize, "build", str(K8S)] if kustomize else None
    )
    if command:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        if path.is_dir():
            for generator in yaml.safe_load((path / "kustomization.yaml").read_text())["configMapGenerator"]:
                files = {name: (path / name).read_text() for name in generator["files"]}
                docs.append({"kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": files})
        else:
            docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return kustomize_build()


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in manifests:
        if doc["kind"] == kind and doc["metadata"]["name"].startswith(name):
            return doc
    raise AssertionError(f"no {kind} {name}")


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def test_i2_k8s_manifests_build(manifests: list[dict[str, Any]]) -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"].split("-")[0]) for doc in manifests}
    assert ("Deployment", "gateway") in kinds and ("Deployment", "identity") in kinds
    for doc in manifests:
        assert doc["metadata"].get("namespace", "yui") == "yui"


def test_i2_k8s_ca_passphrase_is_a_secret_given_to_identity_only(manifests: list[dict[str, Any]]) -> None:
    for name in ("identity-api", "identity-worker"):
        env = env_of(next(iter(containers(find(manifests, "Deployment", name)).values())))
        assert env[PASSPHRASE] == {"secretKeyRef": {"name": "yui-identity-ca", "key": PASSPHRASE}}, name
    for doc in manifests:
        if doc["kind"] == "Deployment" and not doc["metadata"]["name"].startswith("identity-"):
            for container in containers(doc).values():
                assert PASSPHRASE not in env_of(container), doc["metadata"]["name"]
    examples = list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))
    secret = next(doc for doc in examples if doc["metadata"]["name"] == "yui-identity-ca")
    assert PASSPHRASE in secret["stringData"]


@pytest.mark.parametrize("service", ("identity", "consent", "timeline", "portal", "notify", "federation"))
def test_i2_k8s_api_and_worker_read_their_own_audit_key(
    manifests: list[dict[str, Any]], service: str
) -> None:
    """Without YUI_<SVC>_AUDIT_KEY_FILE the worker does not seal the audit log (yui_common.audit_seal)."""
    for role in ("api", "worker"):
        deployment = find(manifests, "Deployment", f"{service}-{role}")
        container = next(iter(containers(deployment).values()))
        key_file = Path(env_of(container)[f"YUI_{service.upper()}_AUDIT_KEY_FILE"])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(key_file.parent))
        assert mount["readOnly"] is True
        pod = deployment["spec"]["template"]["spec"]
        secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
        # Its own service's key only, readable by the pod's group and nobody else.
        assert secret["secretName"] == "yui-audit-keys"
        assert secret["items"] == [{"key": f"{service}.pem", "path": key_file.name}]
        assert secret["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 10001
    examples = list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))
    keys = next(doc for doc in examples if doc["metadata"]["name"] == "yui-audit-keys")
    assert f"{service}.pem" in keys["stringData"]


def test_i2_k8s_gateway_gets_identitys_ca_and_crl_and_reloads(manifests: list[dict[str, Any]]) -> None:
    gateway = find(manifests, "Deployment", "gateway")
    pod = gateway["spec"]["template"]["spec"]
    nginx, sync = containers(gateway)["nginx"], containers(gateway)["crl-sync"]
    env = env_of(nginx)
    ca_file, crl_file = Path(env["YUI_GATEWAY_CLIENT_CA_FILE"]), Path(env["YUI_GATEWAY_CLIENT_CRL_FILE"])
    assert ca_file.parent == crl_file.parent
    # The sidecar writes exactly the files nginx reads, from identity's API, into a volume they share.
    assert f"--ca-file={ca_file}" in sync["args"] and f"--crl-file={crl_file}" in sync["args"]
    assert "--identity-url=http://identity-api:8000" in sync["args"]
    mounts = {
        c: {m["mountPath"]: m for m in containers(gateway)[c]["volumeMounts"]} for c in ("nginx", "crl-sync")
    }
    shared = mounts["nginx"][str(ca_file.parent)]
    assert shared["readOnly"] is True
    assert mounts["crl-sync"][str(ca_file.parent)]["name"] == shared["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[shared["name"]]
    # The sidecar runs the script shipped in the gateway ConfigMap, unprivileged, with no secrets at all.
    script = Path(sync["command"][-1])
    script_volume = volumes[mounts["crl-sync"][str(script.parent)]["name"]]
    config_map = find(manifests, "ConfigMap", script_volume["configMap"]["name"])
    assert config_map["data"][script.name] == (GATEWAY / "crl_sync.py").read_text()
    assert sync["securityContext"]["runAsNonRoot"] is True
    assert "envFrom" not in sync and "env" not in sync
    # nginx's hooks: the shared secret, the defaults and the client-certificate hook whose watcher reloads on
    # a new CRL.
    hooks = {
        Path(m["mountPath"]).name: m for m in nginx["volumeMounts"] if "docker-entrypoint.d" in m["mountPath"]
    }
    assert set(hooks) == {
        "13-yui-gateway-secret.envsh",
        "14-yui-gateway-defaults.envsh",
        "15-yui-client-cert.sh",
    }
    for name, mount in hooks.items():
        volume = volumes[mount["name"]]["configMap"]
        assert volume["defaultMode"] == 0o755, "the nginx entrypoint skips hooks that are not executable"
        assert find(manifests, "ConfigMap", volume["name"])["data"][name] == (GATEWAY / name).read_text()
    assert "nginx -s reload" in (GATEWAY / "15-yui-client-cert.sh").read_text()
    service = find(manifests, "Service", "gateway")
    assert service["spec"]["externalTrafficPolicy"] == "Local"


def test_u4_every_template_placeholder_is_defined_in_k8s_and_compose(manifests: list[dict[str, Any]]) -> None:
    """envsub in the nginx image leaves an undefined ${VAR} in place, which nginx then refuses."""
    placeholders = set(PLACEHOLDER.findall((GATEWAY / "nginx.conf.template").read_text()))
    exported = set(
        re.findall(r"\b(YUI_GATEWAY_[A-Z0-9_]+)\b", (GATEWAY / "14-yui-gateway-defaults.envsh").read_text())
    )
    k8s_env = set(env_of(containers(find(manifests, "Deployment", "gateway"))["nginx"]))
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    compose_env = set(compose["services"]["gateway"]["environment"])
    assert placeholders - exported - k8s_env == set()
    assert placeholders - exported - compose_env == set()
    volumes = " ".join(compose["services"]["gateway"]["volumes"])
    assert "14-yui-gateway-defaults.envsh:/docker-entrypoint.d/14-yui-gateway-defaults.envsh" in volumes
    assert (GATEWAY / "14-yui-gateway-defaults.envsh").stat().st_mode & 0o111, "must stay executable"


def test_u4_k8s_gateway_and_timeline_read_one_attachment_limit(manifests: list[dict[str, Any]]) -> None:
    shared = find(manifests, "ConfigMap", "yui-shared-env")["data"]
    assert json.loads(shared["YUI_TIMELINE_DEFAULT_NETWORK_POLICY"])["max_upload_bytes"] > 0
    env = env_of(containers(find(manifests, "Deployment", "gateway"))["nginx"])
    reference = env["YUI_TIMELINE_DEFAULT_NETWORK_POLICY"]["configMapKeyRef"]
    assert (reference["name"], reference["key"]) == ("yui-shared-env", "YUI_TIMELINE_DEFAULT_NETWORK_POLICY")
    timeline = containers(find(manifests, "Deployment", "timeline-api"))["api"]
    assert {"configMapRef": {"name": "yui-shared-env"}} in timeline["envFrom"]


# ---------------------------------------------------------------- the crl-sync sidecar


@pytest.fixture(scope="module")
def authority() -> ca.CertificateAuthorityKeys:
    return ca.create_root("Yui test CA")


def crl_pem(authority: ca.CertificateAuthorityKeys, serials: list[int], *, valid_for_h: float = 168) -> bytes:
    revoked = [ca.RevokedSerial(serial, dt.datetime.now(dt.UTC), "lost") for serial in serials]
    crl = ca.build_crl(authority, revoked, crl_number=1, valid_for=dt.timedelta(hours=valid_for_h))
    return crl.public_bytes(Encoding.PEM)


def identity_serving(authority: ca.CertificateAuthorityKeys, crl: bytes) -> Callable[[str], bytes]:
    answers = {
        "http://identity-api:8000/ca.pem": ca.certificate_pem(authority.certificate).encode(),
        "http://identity-api:8000/crl.pem": crl,
    }
    return lambda url: answers[url]


def test_i2_crl_sync_writes_the_ca_then_replaces_the_crl_only_when_it_changed(
    authority: ca.CertificateAuthorityKeys, tmp_path: Path
) -> None:
    ca_file, crl_file = tmp_path / "ca.pem", tmp_path / "crl.pem"

    def sync(crl: bytes) -> crl_sync.Published:
        return crl_sync.sync_once(
            "http://identity-api:8000/", ca_file, crl_file, fetch=identity_serving(authority, crl)
        )

    assert sync(crl_pem(authority, [11])) == crl_sync.Published(ca=True, crl=True)
    assert ca_file.read_text() == ca.certificate_pem(authority.certificate)
    first = crl_file.read_bytes()
    # Another replica's copy of the same list (signed a moment later): no rewrite, so no nginx reload.
    assert sync(crl_pem(authority, [11])) == crl_sync.Published(ca=False, crl=False)
    assert crl_file.read_bytes() == first
    # A revocation: the new list goes to nginx at once.
    assert sync(crl_pem(authority, [11, 12])).crl is True
    assert crl_sync.revoked_serials(ca.x509.load_pem_x509_crl(crl_file.read_bytes())) == {11, 12}
    # A renewal (same serials, living materially longer) replaces it too, an older copy does not.
    assert sync(crl_pem(authority, [11, 12], valid_for_h=200)).crl is True
    assert sync(crl_pem(authority, [11, 12], valid_for_h=168)).crl is False


def test_i2_crl_sync_never_hands_nginx_a_bad_or_expired_crl(
    authority: ca.CertificateAuthorityKeys, tmp_path: Path
) -> None:
    ca_file, crl_file = tmp_path / "ca.pem", tmp_path / "crl.pem"
    good = crl_pem(authority, [21])
    crl_sync.sync_once("http://identity-api:8000", ca_file, crl_file, fetch=identity_serving(authority, good))
    stranger = ca.create_root("Someone else's CA")
    now = dt.datetime.now(dt.UTC)
    for bad, at, reason in (
        (crl_pem(stranger, [21, 22]), now, "not signed by the CA"),
        (crl_pem(authority, [21, 22], valid_for_h=1), now + dt.timedelta(hours=2), "expired"),
        (b"garbage", now, "not a PEM CRL"),
    ):
        with pytest.raises(crl_sync.CrlSyncError, match=reason):
            crl_sync.sync_once(
                "http://identity-api:8000", ca_file, crl_file, fetch=identity_serving(authority, bad), now=at
            )
        assert crl_file.read_bytes() == good
