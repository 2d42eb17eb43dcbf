"""The Kubernetes manifests render with `kubectl kustomize` (base and example overlay) and
hold what a deployment needs: every processor a Deployment with liveness and readiness
probes on the metrics port, resources, a non-root user; every Kafka consumer a KEDA
ScaledObject on its real consumer group; the scheduler one replica; secrets only referenced
by name, never written; SASL/TLS settings in the example overlay."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from typing import Any

import pytest
import yaml

from compliance.config import PROJECT_ROOT, Settings
from compliance.topics import DOCUMENTS_ARRIVED, DOCUMENTS_CLASSIFIED, TRANSACTIONS_SUBMITTED

K8S = PROJECT_ROOT / "infra" / "k8s"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
PROCESSORS = {
    "classifier",
    "checker",
    "transaction-screener",
    "audit-sink",
    "cases",
    "notifier",
    "review-ui",
    "scheduler",
}
CONSUMERS = {
    "classifier": DOCUMENTS_ARRIVED.name,
    "checker": DOCUMENTS_CLASSIFIED.name,
    "transaction-screener": TRANSACTIONS_SUBMITTED.name,
    "audit-sink": None,  # every topic
    "cases": None,
    "notifier": None,
}
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|API_KEY|SIGNING_KEY|DATABASE_URL|TOKEN")


@cache
def rendered(folder: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def of_kind(folder: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered(folder) if d["kind"] == kind}


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


@pytest.mark.parametrize("folder", ["base", "overlays/example"])
def test_the_manifests_render(folder: str) -> None:
    kinds = {d["kind"] for d in rendered(folder)}
    assert {"Deployment", "ScaledObject", "Service", "Job", "ConfigMap"} <= kinds


def test_a_deployment_per_processor_each_with_probes_resources_and_a_non_root_user() -> None:
    deployments = of_kind("base", "Deployment")
    assert set(deployments) == PROCESSORS
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        [container] = pod["containers"]
        assert container["args"] == ["run", name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
        assert ports["metrics"] == 9400
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_metrics_port_of_the_settings_is_the_probes_port() -> None:
    [config] = of_kind("base", "ConfigMap").values()
    assert config["data"]["COMPLIANCE_METRICS_PORT"] == "9400"
    assert config["data"]["COMPLIANCE_METRICS_HOST"] == "0.0.0.0"


def test_every_kafka_consumer_scales_on_the_lag_of_its_own_consumer_group() -> None:
    scaled = of_kind("base", "ScaledObject")
    assert set(scaled) == set(CONSUMERS)
    for name, topic in CONSUMERS.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        [trigger] = spec["triggers"]
        assert trigger["type"] == "kafka"
        metadata = trigger["metadata"]
        assert metadata["consumerGroup"] == Settings().group(name)  # as the processor joins
        assert metadata.get("topic") == topic
        assert metadata["bootstrapServersFromEnv"] == "COMPLIANCE_KAFKA_BOOTSTRAP"
        # Case management runs as one copy (two could open one customer's case twice).
        assert spec["maxReplicaCount"] >= (1 if name == "cases" else 2)
    assert "scheduler" not in scaled


def test_the_scheduler_is_one_replica_never_two_during_a_rollout() -> None:
    scheduler = of_kind("base", "Deployment")["scheduler"]["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"]["type"] == "Recreate"


def test_the_review_application_has_a_service() -> None:
    service = of_kind("base", "Service")["review-ui"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/component": "review-ui"}


def test_the_init_job_creates_the_tables_then_the_topics() -> None:
    [job] = of_kind("base", "Job").values()
    assert [c["args"] for c in containers(job)] == [["db", "init"], ["topics", "create"]]


@pytest.mark.parametrize("folder", ["base", "overlays/example"])
def test_secrets_are_referenced_by_name_never_written(folder: str) -> None:
    assert not of_kind(folder, "Secret"), "a Secret written in the manifests"
    for document in rendered(folder):
        if document["kind"] == "ConfigMap":
            assert not [k for k in document["data"] if SECRET_NAMES.search(k)], document["data"]
    workloads = {**of_kind(folder, "Deployment"), **of_kind(folder, "Job")}
    for workload in workloads.values():
        for container in containers(workload):
            for variable in container.get("env", []):
                if SECRET_NAMES.search(variable["name"]):
                    assert "value" not in variable, f"{variable['name']} written in the manifest"
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "compliance-secrets"
    text = yaml.safe_dump_all(rendered(folder))
    assert not re.search(r"postgresql(\+psycopg2)?://[^\s'\"]*:[^\s'\"@]+@", text)


def test_the_audit_sink_alone_holds_the_signing_key_and_only_the_job_the_owner_url() -> None:
    for name, deployment in of_kind("base", "Deployment").items():
        names = {v["name"] for c in containers(deployment) for v in c.get("env", [])}
        assert ("COMPLIANCE_AUDIT_SIGNING_KEY" in names) == (name == "audit-sink")
        assert "COMPLIANCE_ADMIN_DATABASE_URL" not in names
    [job] = of_kind("base", "Job").values()
    assert "COMPLIANCE_ADMIN_DATABASE_URL" in {
        v["name"] for c in containers(job) for v in c.get("env", [])
    }


def test_the_example_overlay_connects_to_a_managed_kafka_over_sasl_ssl() -> None:
    [config] = of_kind("overlays/example", "ConfigMap").values()
    data = config["data"]
    settings = Settings(
        **{
            k.removeprefix("COMPLIANCE_").lower(): v
            for k, v in data.items()
            if k.startswith("COMPLIANCE_")
        },
        kafka_sasl_password="from-the-secret",
    )
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert str(settings.kafka_ssl_ca_location).startswith("/etc/compliance/ca/")
    for scaled in of_kind("overlays/example", "ScaledObject").values():
        assert scaled["spec"]["triggers"][0]["authenticationRef"] == {"name": "compliance-kafka"}
        assert scaled["metadata"]["namespace"] == "compliance"
    for deployment in of_kind("overlays/example", "Deployment").values():
        mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "ca", "mountPath": "/etc/compliance/ca", "readOnly": True} in mounts


def test_case_management_never_scales_past_one_copy() -> None:
    scaled = of_kind("base", "ScaledObject")
    cases = [s for s in scaled.values() if s["spec"]["scaleTargetRef"]["name"] == "cases"]
    assert cases and all(s["spec"]["maxReplicaCount"] == 1 for s in cases)


def test_the_review_application_listens_on_the_pods_address() -> None:
    env = {
        e["name"]: e
        for c in containers(of_kind("base", "Deployment")["review-ui"])
        for e in c.get("env", [])
    }
    assert env["COMPLIANCE_REVIEW_HOST"]["value"] == "0.0.0.0"


def test_the_notifier_gets_every_webhook_url_its_routes_name_from_the_secret() -> None:
    routes = yaml.safe_load((K8S.parents[1] / "config" / "notifier.yaml").read_text("utf-8"))
    wanted = {r["webhook_url_env"] for r in routes["routes"]}
    env = {
        e["name"]: e
        for c in containers(of_kind("base", "Deployment")["notifier"])
        for e in c.get("env", [])
    }
    for name in wanted:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "compliance-secrets", name
