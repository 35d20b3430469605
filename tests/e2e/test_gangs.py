"""Multi-node tasks on real agents: a rendezvous over the ranks' env, all ranks stopping
together, two gangs sharing too few agents, and a lost agent taking the whole gang back."""

import os
import signal
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import Environment, Resources, Script, Task, TaskCreate, TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    AgentProcess,
    gone,
    log_texts,
    pid_in,
    wait_for,
    wait_status,
)
from tests.gitrepo import Repo, commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

# Pure-Python rendezvous, as torch.distributed's env:// does it: rank 0 listens on
# MASTER_ADDR:MASTER_PORT, every other rank connects and sends its rank and start time.
# Then `hold` runs until SIGTERM (writing term{RANK} into argv[2]), `done` ends.
GANG = """\
import json, os, pathlib, signal, socket, sys, time
started = time.time()
mode, out = sys.argv[1], pathlib.Path(sys.argv[2])
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
assert os.environ["LOCAL_RANK"] == "0" and os.environ["NODE_RANK"] == str(rank)
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
(out / f"pid{rank}").write_text(str(os.getpid()))
signal.signal(signal.SIGTERM, lambda *_: (out / f"term{rank}").write_text("x") or sys.exit(0))
if rank == 0:
    server = socket.create_server((addr, port))
    server.settimeout(30)
    starts = {0: started}
    for _ in range(world - 1):
        conn, _ = server.accept()
        peer = json.loads(conn.makefile().readline())
        starts[peer["rank"]] = peer["started"]
        conn.close()
    assert sorted(starts) == list(range(world)), starts
    spread = max(starts.values()) - min(starts.values())
    (out / "rendezvous.json").write_text(json.dumps({"world": world, "spread": spread}))
    print(f"rendezvous of {world} ranks, started within {spread:.2f}s", flush=True)
else:
    deadline = time.time() + 30
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=2)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    conn.sendall((json.dumps({"rank": rank, "started": started}) + "\\n").encode())
    conn.close()
    print(f"connected to {addr}:{port}", flush=True)
while mode == "hold":
    time.sleep(0.1)
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    return commit_then_change(path, {"gang.py": GANG}, "gang.py", "\n")


def submit_gang(client: Client, repo: Repo, mode: str, out: Path, nodes: int = 3) -> Task:
    out.mkdir(parents=True, exist_ok=True)
    return client.tasks.create(
        TaskCreate(
            name=f"gang-{mode}",
            queue="default",
            create_queue=True,
            max_retries=1,
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="gang.py",
                args=[mode, str(out)],
            ),
            environment=Environment(requirements=[]),
            resources=Resources(nodes=nodes),
        )
    )


def agents(factory: AgentFactory, server: ServerProcess, n: int) -> list[AgentProcess]:
    return [factory(server.url, "--gang-host", "127.0.0.1") for _ in range(n)]


def test_three_ranks_rendezvous_on_three_agents_and_start_together(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, repo: Repo, tmp_path: Path
) -> None:
    agents(agent_factory, server, 3)
    out = tmp_path / "out"
    task = submit_gang(client, repo, "done", out)

    done = wait_status(client, task.id, *DONE, timeout=90)

    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    seen = (out / "rendezvous.json").read_text()
    assert '"world": 3' in seen
    assert float(seen.split('"spread": ')[1].rstrip("}")) < 2.0
    assert sorted(p.rank for p in done.placement) == [0, 1, 2]
    assert len({p.worker for p in done.placement}) == 3
    texts = log_texts(client, task.id)
    assert any(t.startswith("[rank 0] rendezvous of 3 ranks") for t in texts)
    for rank in (1, 2):
        assert any(t.startswith(f"[rank {rank}] connected to 127.0.0.1:") for t in texts)


def test_a_rank_killed_mid_run_stops_the_others_and_fails_the_task_once(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, repo: Repo, tmp_path: Path
) -> None:
    agents(agent_factory, server, 3)
    out = tmp_path / "out"
    task = submit_gang(client, repo, "hold", out)
    pids = [pid_in(out / f"pid{rank}") for rank in range(3)]
    wait_for(lambda: (out / "rendezvous.json").exists(), 60, "the rendezvous")

    os.kill(pids[1], signal.SIGKILL)
    done = wait_status(client, task.id, *DONE, timeout=60)

    assert done.status is TaskStatus.FAILED
    assert (done.failure_reason or "").startswith("rank 1: script: killed by SIGKILL")
    assert (out / "term0").exists() and (out / "term2").exists()
    assert all(gone(pid) for pid in pids)
    events = [t for t in log_texts(client, task.id) if "stopping the task" in t]
    assert sorted(t.split("]")[0] for t in events) == ["[rank 0", "[rank 2"]


def test_two_gangs_competing_for_four_agents_both_complete(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, repo: Repo, tmp_path: Path
) -> None:
    agents(agent_factory, server, 4)
    first = submit_gang(client, repo, "done", tmp_path / "first")
    second = submit_gang(client, repo, "done", tmp_path / "second")

    for task in (first, second):
        done = wait_status(client, task.id, *DONE, timeout=120)
        assert done.status is TaskStatus.COMPLETED, done.failure_reason
        assert done.attempt == 1


def test_losing_one_ranks_agent_requeues_the_whole_gang(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, repo: Repo, tmp_path: Path
) -> None:
    started = agents(agent_factory, server, 3)
    out = tmp_path / "out"
    task = submit_gang(client, repo, "hold", out)
    pids = [pid_in(out / f"pid{rank}") for rank in range(3)]
    running = client.tasks.get(task.id)
    names = {w.id: w.name for w in client.workers.list()}
    doomed_name = names[running.placement[2].worker]
    doomed = next(
        a for a in started if f"--name {doomed_name} " in " ".join(map(str, a.process.args))
    )

    doomed.process.kill()
    os.kill(pids[2], signal.SIGKILL)  # its agent is gone; its rank with it
    back = wait_status(client, task.id, TaskStatus.QUEUED, timeout=30)

    assert back.attempt == 1
    wait_for(lambda: gone(pids[0]) and gone(pids[1]), 15, "the other ranks to be killed")
    assert not (out / "term0").exists()  # killed, not stopped: it runs again elsewhere
    client.tasks.abort(task.id)
