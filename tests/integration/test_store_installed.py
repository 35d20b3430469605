"""``environment.installed``: reported by the attempt holding the lease, never copied by a
clone, and pinned by ``clone`` with ``pin_installed``."""

import pytest
import redis.asyncio as aioredis

from runyard.models import CloneRequest, Environment, InstalledPackage
from runyard_server import store
from runyard_server.errors import Invalid, StaleLease
from tests.integration.store_support import PLENTY, T0, make_task, make_worker

pytestmark = pytest.mark.anyio

INSTALLED = [
    InstalledPackage(name="numpy", version="2.1.3", hashes=["sha256:" + "a" * 64]),
    InstalledPackage(name="pip", version="24.0"),
    InstalledPackage(name="acme-tabular", version="0.3.0", path="."),
]


async def test_installed_is_recorded_by_the_lease_holder_and_pinned_by_a_clone(
    r: aioredis.Redis,
) -> None:
    asked = Environment(requirements=["numpy>=2"], lock_file="uv.lock", repo_packages=["."])
    task = await make_task(r, queue="q", environment=asked)
    worker = await make_worker(r)
    claim = await store.claim(r, worker.id, ["q"], PLENTY, 15, T0)
    assert claim is not None and claim.lease_token is not None
    with pytest.raises(StaleLease):
        await store.record_installed(r, task.id, "0" * 32, INSTALLED)

    recorded = await store.record_installed(r, task.id, claim.lease_token, INSTALLED)
    assert recorded.environment.installed == INSTALLED
    assert recorded.environment.requirements == ["numpy>=2"]  # what was asked stays

    copy = await store.clone_task(r, task.id, CloneRequest(), T0)
    assert copy.environment.installed == []  # the clone has not been built yet
    assert copy.environment.lock_file == "uv.lock"
    pinned = await store.clone_task(r, task.id, CloneRequest(pin_installed=True), T0)
    # Exact pins, no lock file; pip is the venv's own, the repo's package from the checkout.
    assert pinned.environment.requirements == ["numpy==2.1.3"]
    assert pinned.environment.lock_file is None
    assert pinned.environment.repo_packages == ["."]
    with pytest.raises(Invalid, match=r"no environment\.installed to pin"):
        await store.clone_task(r, copy.id, CloneRequest(pin_installed=True), T0)


async def test_installed_given_at_create_is_not_stored(r: aioredis.Redis) -> None:
    task = await make_task(r, environment=Environment(installed=INSTALLED))
    assert task.environment.installed == []
