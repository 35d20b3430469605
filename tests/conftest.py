"""Shared fixtures: real Redis servers on free ports, flushed around each test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from runyard_server.embedded import EmbeddedRedis
from runyard_server.history_files import LocalHistory
from tests.ci import unavailable
from tests.docker_engine import DockerEngine
from tests.docker_engine import docker_engine as start_docker_engine
from tests.s3_server import S3Server, moto_server, s3rver
from tests.servers import RedisClusterProcesses, ServerProcess
from tests.slurm_cluster import SlurmCluster
from tests.slurm_cluster import missing as slurm_missing
from tests.slurm_cluster import start as start_slurm
from tests.slurm_cluster import stop as stop_slurm


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server for the whole test session."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """One real 3-master Redis Cluster (redis-server 7.0) for the whole test session."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_url(redis_session: EmbeddedRedis) -> Iterator[str]:
    """URL of the session Redis, empty at the start of the test and flushed after it."""
    client = redis.Redis.from_url(redis_session.url)
    client.flushall()
    yield redis_session.url
    client.flushall()
    client.close()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Start extra, private redis-servers (for restart and crash tests); all stopped after."""
    started: list[EmbeddedRedis] = []

    def make(data_dir: Path | None = None, fsync: str = "always") -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir or tmp_path / f"redis{len(started)}", fsync=fsync).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def history(tmp_path: Path) -> LocalHistory:
    """An empty local history store (archived task output) in the test's temp dir."""
    return LocalHistory(tmp_path / "history")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real ``runyard-server`` processes, each on its own embedded Redis."""
    started: list[ServerProcess] = []

    def make(*extra_args: str, data_dir: Path | None = None) -> ServerProcess:
        n = len(started)
        server = ServerProcess(
            data_dir or tmp_path / f"server{n}", list(extra_args), tmp_path / f"server{n}.log"
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """A live server with short leases so lease-expiry tests take seconds, not minutes."""
    return server_factory("--lease", "3", "--first-lease", "3")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A real Docker engine with the test Python image (see ``tests/docker_engine.py``)."""
    with start_docker_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A one-node Slurm cluster (munged, slurmctld, slurmd) for the whole session."""
    why = slurm_missing()
    if why is not None:
        unavailable(f"no Slurm cluster: {why} (make test installs it)")
    cluster, daemons = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    stop_slurm(cluster, daemons)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on loopback for the whole session (see ``tests/s3_server.py``)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_disk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver, which keeps objects on disk: for the uploads too large for moto's memory."""
    with s3rver(tmp_path_factory.mktemp("s3rver")) as server:
        yield server
