"""Local runs: a script run on the user's machine records itself as a running task.

The reply is a ``Claim`` like an agent's: the script reports its end with the
lease token through the same report routes, and writes metrics and logs with
the task token. A local run has no worker; it keeps a long lease (``--local-lease``)
alive with ``POST /tasks/{id}/ping``, so a script killed outright is failed by the
reaper instead of staying ``running`` forever. Aborting it ends it at once.
"""

import secrets
import time

from fastapi import APIRouter

from runyard.models import Claim, TaskCreate
from runyard_server import store
from runyard_server.api.deps import PrincipalDep, RedisDep, SettingsDep, TokensDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.errors import Invalid
from runyard_server.permissions import authorize

router = APIRouter(prefix="/local-runs", tags=["tasks"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def start_local_run(
    body: TaskCreate, r: RedisDep, who: PrincipalDep, tokens: TokensDep, settings: SettingsDep
) -> Claim:
    who.require("user")
    if body.queue:
        raise Invalid("a local run is not queued: leave 'queue' out, or POST /tasks to enqueue")
    await authorize(r, who, "create", body.project)
    now = time.time()
    draft = await store.create_task(r, body, now, owner=who.owner)
    lease_token = secrets.token_hex(16)
    task = await store.start_local_run(r, draft.id, lease_token, settings.local_lease_s, now)
    return Claim(
        task=task, lease_token=lease_token, task_token=tokens.task_token(task.id, lease_token)
    )
