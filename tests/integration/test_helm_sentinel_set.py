"""The chart's Redis Sentinel set, run: the start scripts and environment ``helm template``
renders for the StatefulSet, in three containers of the test Docker engine, one per
"node", with the pods' names and host names. No cluster is needed to see the set elect
pod 0, fail over when the master's node is lost, and take the old master back as a
replica.

Each container has a fixed address and every pod name in its hosts file: a name that
stays resolvable after its container is gone is what Kubernetes gives a lost node's pod
(its DNS record lives until the pod object is deleted), whereas Docker's DNS, asked for
a removed container, stalls Sentinel's event loop. The image is Debian's Redis 7.0 on
the test base image; the chart runs redis:7.2 (Alpine) with the same scripts.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.deploy_images import redis_image
from tests.docker_engine import DockerEngine
from tests.integration.test_helm_chart import _fetch_helm, by_kind, pod_spec, render

PASSWORD = "sentinel-test-password"
SET = "rel-runyard-redis"
SUBNET = "172.31.99"


class SentinelSet:
    """The StatefulSet's pods as containers; ``start(i)`` makes pod i (anew)."""

    def __init__(self, client: docker.DockerClient, scripts: Path, env: dict[str, str]) -> None:
        self.client, self.scripts, self.env = client, scripts, env
        self.hosts = {f"{SET}-{i}.{SET}": f"{SUBNET}.{10 + i}" for i in range(3)}
        pool = docker.types.IPAMPool(subnet=f"{SUBNET}.0/24")
        ipam = docker.types.IPAMConfig(pool_configs=[pool])
        self.network = client.networks.create(f"{SET}-test", driver="bridge", ipam=ipam)
        self.pods: dict[int, Any] = {}

    def start(self, i: int, image: str) -> None:
        name = f"{SET}-{i}"
        # Both containers of the pod in one: they share the pod's network and host name.
        command = ["sh", "-c", "sh /scripts/sentinel.sh & exec sh /scripts/redis.sh"]
        pod = self.client.containers.create(
            image,
            command,
            name=f"{name}-test",
            hostname=name,
            network=self.network.name,
            extra_hosts=self.hosts,
            environment=self.env,
            volumes={str(self.scripts): {"bind": "/scripts", "mode": "ro"}},
            tmpfs={"/sentinel": "", "/data": ""},
        )
        self.network.disconnect(pod)
        self.network.connect(pod, ipv4_address=self.hosts[f"{name}.{SET}"])
        pod.start()
        self.pods[i] = pod

    def lose(self, i: int) -> None:
        """The node is gone: the pod with it, at once."""
        self.pods.pop(i).remove(force=True)

    def cli(self, i: int, *args: str) -> str:
        """What ``redis-cli --raw ARGS`` prints in pod i (REDISCLI_AUTH is in its env)."""
        return str(self.pods[i].exec_run(["redis-cli", "--raw", *args]).output.decode()).strip()

    def role(self, i: int) -> tuple[str, str]:
        info = dict(
            line.split(":", 1) for line in self.cli(i, "info", "replication").split() if ":" in line
        )
        return info.get("role", ""), info.get("master_host", "")

    def sentinel(self, i: int) -> dict[str, str]:
        """Sentinel i's view of the master: its address and what it knows of the set."""
        fields = self.cli(i, "-p", "26379", "sentinel", "master", "runyard").split()
        return dict(zip(fields[::2], fields[1::2], strict=False))

    def close(self) -> None:
        for pod in self.pods.values():
            pod.remove(force=True)
        self.network.remove()


def _wait(what: str, check: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sentinel_set(docker_engine: DockerEngine, tmp_path: Path) -> Iterator[SentinelSet]:
    objects = render(
        _fetch_helm(),
        None,
        "redis.mode=sentinel",
        f"redis.auth.password={PASSWORD}",
        "redis.sentinel.downAfterMilliseconds=2000",
        "redis.sentinel.failoverTimeoutMilliseconds=10000",
    )
    scripts = by_kind(objects, "ConfigMap")[f"{SET}-scripts"]["data"]
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    tmp_path.chmod(0o755)
    env = {"REDISCLI_AUTH": PASSWORD}
    for container in pod_spec(by_kind(objects, "StatefulSet")[SET])["containers"]:
        env |= {e["name"]: e["value"] for e in container["env"] if "value" in e}
    for stale in docker_engine.client.containers.list(all=True, filters={"name": SET}):
        stale.remove(force=True)
    for stale in docker_engine.client.networks.list(names=[f"{SET}-test"]):
        stale.remove()
    pods = SentinelSet(docker_engine.client, tmp_path, env)
    try:
        yield pods
    finally:
        pods.close()


def test_the_sentinel_set_fails_over_and_takes_the_lost_master_back_as_a_replica(
    sentinel_set: SentinelSet, docker_engine: DockerEngine
) -> None:
    image = redis_image(docker_engine)
    for i in range(3):
        sentinel_set.start(i, image)
    master = f"{SET}-0.{SET}"
    _wait("pod 0 to lead two replicas", lambda: sentinel_set.role(0) == ("master", ""))
    _wait(
        "every sentinel to know the set",
        lambda: all(
            sentinel_set.sentinel(i).get("num-slaves") == "2"
            and sentinel_set.sentinel(i).get("num-other-sentinels") == "2"
            for i in range(3)
        ),
    )
    assert [sentinel_set.role(i) for i in (1, 2)] == [("slave", master)] * 2
    assert sentinel_set.cli(0, "set", "acknowledged", "yes") == "OK"
    assert sentinel_set.cli(0, "wait", "2", "5000") == "2"  # both replicas have it

    sentinel_set.lose(0)
    _wait(
        "a new master",
        lambda: sentinel_set.sentinel(1).get("ip") not in (None, master),
    )
    promoted = sentinel_set.sentinel(1)["ip"]
    number = int(promoted.split(".")[0].rsplit("-", 1)[1])
    other = 3 - number
    _wait("the promotion", lambda: sentinel_set.role(number)[0] == "master")
    _wait("the other replica to follow", lambda: sentinel_set.role(other) == ("slave", promoted))
    assert sentinel_set.cli(number, "get", "acknowledged") == "yes"

    sentinel_set.start(0, image)  # the node is back: pod 0 starts on it again
    _wait("pod 0 to rejoin as a replica", lambda: sentinel_set.role(0) == ("slave", promoted))
    _wait("two replicas again", lambda: sentinel_set.sentinel(1).get("num-slaves") == "2")
