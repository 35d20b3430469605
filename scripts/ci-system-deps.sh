#!/bin/sh
# System packages the docker executor and deploy tests need: a Docker engine (docker.io),
# debootstrap (the test image is built from Debian packages: no registry is reachable)
# docker-compose (checks deploy/docker-compose.yml), and Debian's redis-server 7.0 with
# redis-sentinel (the failover test) and redis-cli (the Redis Cluster the store tests
# also run on), and slurm-wlm with munge (the one-node Slurm cluster the slurm executor's
# tests start). Installed only when missing,
# only as root; elsewhere the tests that need them skip (and fail in CI).
set -eu
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
[ -x /usr/bin/redis-server ] || missing="$missing redis-server"
command -v redis-sentinel >/dev/null 2>&1 || missing="$missing redis-sentinel"
command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] || missing="$missing slurm-wlm"
[ -x /usr/sbin/munged ] || missing="$missing munge"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-system-deps: missing$missing; install them (needs root and apt-get)" >&2
    exit 0
fi
echo "ci-system-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
