"""A real Docker engine and a small local Python image for the docker executor's tests.

No registry is reachable from CI, so the image is built from Debian packages:
``debootstrap --variant=minbase`` with python3, venv and git, trimmed, then
imported with ``docker import``. When this machine has extra CA certificates (an
egress proxy), its bundle goes into the image too, as a site's own base image would
carry it, so pip inside containers reaches PyPI like pip on the host.

The engine is a private ``dockerd`` (vfs storage, no iptables, no bridge) with its
own data root, exec root, pid file and socket under ``ROOT``, a cache that outlives
the test session: the image is built once per machine, not once per run. Its
``PATH`` has a stand-in ``nvidia-container-runtime-hook``, which makes dockerd
register its NVIDIA device driver, so containers with GPU device requests start
(with ``NVIDIA_VISIBLE_DEVICES`` set by the engine) on a machine without GPUs.

Sessions running at once share one engine: each holds a shared lock on
``ROOT/engine.lock`` while it uses it, and the session that started dockerd stops it
at its end only when no other session still holds the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import requests

from tests.ci import unavailable

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("RUNYARD_TEST_DOCKER_ROOT", "/var/cache/runyard-test-docker"))
IMAGE = "runyard-test-python:bookworm-1"
MISSING_IMAGE = "runyard-test-missing:nope"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,git,ca-certificates"
_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")
_TRIM_ALL = ("usr/share/locale",)
_FAKE_HOOK = "#!/bin/sh\n# Stand-in for the NVIDIA runtime hook: the test machine has no GPUs.\n"
_FAKE_HOOK += "cat >/dev/null\nexit 0\n"
_IMAGE_ENV = [
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]


@dataclass(frozen=True)
class DockerEngine:
    """A reachable engine with the test image on it."""

    host: str
    client: docker.DockerClient
    image: str
    image_build_s: float | None


def _system_deps() -> None:
    if shutil.which("dockerd") and shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        unavailable("dockerd or debootstrap is missing and only root may install them")
    subprocess.run(["sh", str(REPO / "scripts" / "ci-system-deps.sh")], check=True)


def _ping(host: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=host, timeout=120)
    except docker.errors.DockerException:
        return None
    try:
        client.ping()
    except (docker.errors.DockerException, requests.RequestException):
        client.close()
        return None
    return client


def _start_dockerd(host: str) -> subprocess.Popen[bytes]:
    bin_dir = ROOT / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    hook = bin_dir / "nvidia-container-runtime-hook"
    hook.write_text(_FAKE_HOOK)
    hook.chmod(0o755)
    pidfile = ROOT / "dockerd.pid"
    _kill_stale_dockerd(pidfile)
    command = ["dockerd", "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false"]
    command += ["--bridge=none", "--data-root", str(ROOT / "data"), "--exec-root", "/run/ryd"]
    command += ["--pidfile", str(pidfile), "-H", host]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    env.pop("DOCKER_HOST", None)
    with (ROOT / "dockerd.log").open("ab") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill_stale_dockerd(pidfile: Path) -> None:
    """A dockerd of ours that no longer answers (a crashed session) holds the pid file."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if cmdline[0].endswith(b"dockerd") and str(ROOT).encode() in b" ".join(cmdline):
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)
    pidfile.unlink(missing_ok=True)


def _wait_up(host: str, process: subprocess.Popen[bytes]) -> docker.DockerClient:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client = _ping(host)
        if client is not None:
            return client
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = (ROOT / "dockerd.log").read_text(errors="replace")[-3000:]
    unavailable(f"dockerd did not come up:\n{tail}")


def build_image(client: docker.DockerClient) -> float:
    """Debootstrap a minimal Debian with Python and import it as ``IMAGE``; seconds taken."""
    started = time.monotonic()
    rootfs = ROOT / "rootfs"
    _unmount_under(rootfs)
    shutil.rmtree(rootfs, ignore_errors=True)
    command = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm"]
    subprocess.run([*command, str(rootfs), DEBIAN_MIRROR], check=True, capture_output=True)
    for part in _TRIM:
        for child in (rootfs / part).glob("*"):
            if child.is_file():
                child.unlink()
    for part in _TRIM_ALL:
        shutil.rmtree(rootfs / part, ignore_errors=True)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if any(Path("/usr/local/share/ca-certificates").glob("*.crt")) and bundle.is_file():
        shutil.copyfile(bundle, rootfs / "etc/ssl/certs/ca-certificates.crt")
    tarball = ROOT / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    repository, tag = IMAGE.split(":")
    client.api.import_image_from_file(str(tarball), repository, tag, changes=_IMAGE_ENV)
    tarball.unlink()
    shutil.rmtree(rootfs)
    return time.monotonic() - started


def _unmount_under(rootfs: Path) -> None:
    """An interrupted debootstrap leaves /proc and /sys mounted in the rootfs: never delete them."""
    prefix = f"{rootfs}/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _ensure_image(client: docker.DockerClient) -> float | None:
    try:
        client.images.get(IMAGE)
        return None
    except docker.errors.ImageNotFound:
        seconds = build_image(client)
        (ROOT / "image-build-seconds").write_text(f"{seconds:.1f}\n")
        return seconds


def _stop_dockerd(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def docker_engine() -> Iterator[DockerEngine]:
    """The engine for a test session: started (and the image built) when needed."""
    if os.geteuid() != 0:
        unavailable("a private dockerd needs root")
    _system_deps()
    ROOT.mkdir(parents=True, exist_ok=True)
    host = f"unix://{ROOT / 'docker.sock'}"
    started: subprocess.Popen[bytes] | None = None
    with (ROOT / "engine.lock").open("a") as users:
        with (ROOT / "start.lock").open("a") as starting:
            fcntl.flock(starting, fcntl.LOCK_EX)
            fcntl.flock(users, fcntl.LOCK_SH)
            client = _ping(host)
            if client is None:
                started = _start_dockerd(host)
                client = _wait_up(host, started)
            build_s = _ensure_image(client)
        try:
            yield DockerEngine(host=host, client=client, image=IMAGE, image_build_s=build_s)
        finally:
            client.close()
            fcntl.flock(users, fcntl.LOCK_UN)
            if started is not None:
                _stop_if_last(users, started)


def _stop_if_last(users: IO[str], process: subprocess.Popen[bytes]) -> None:
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another session still uses the engine; the daemon stays up for it
    _stop_dockerd(process)
