"""The soak's processes, and how each is hurt and healed.

One Redis (AOF, fsync always, on a fixed port so it can come back where the server
looks), one ``runyard-server`` on it (lease and first lease as an operator's bad day
would set them), and agents that each reach the server through their own
:class:`CuttableProxy`. Task processes keep a ledger: one file per task, a line per
step with the run's random id and the wall clock, which is how the checks see
whether two copies of a task were alive at once.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from runyard_server.embedded import EmbeddedRedis
from tests.faults.proxy import CuttableProxy
from tests.faults.support import children_of, git_repo, wait_gone
from tests.servers import ServerProcess

AGENT = str(Path(sys.executable).parent / "runyard-agent")
QUEUE = "soak"
PROJECT = "soak"

# argv: ledger dir, lines, seconds between lines, exit code. Each line goes to the
# ledger before it is printed: a run that prints is a run that is alive.
TASK = """\
import os, pathlib, secrets, sys, time
ledger = pathlib.Path(sys.argv[1]) / os.environ["RUNYARD_TASK_ID"]
lines, pause, code = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
run = secrets.token_hex(4)
def note(what):
    with open(ledger, "a") as f:
        f.write(f"{run} {time.time():.6f} {what}\\n")
note("start")
for n in range(1, lines + 1):
    note(f"line {n}")
    print(run, "line", n, flush=True)
    time.sleep(pause)
note("end")
sys.exit(code)
"""
# A frozen machine's agent resumes before its tasks: its fence then kills a task whose
# lease it lost before that task runs again (the order a paused VM does not promise).
_THAW_TASKS_AFTER_S = 1.0


class SoakAgent:
    """One ``runyard-agent`` behind its own proxy; killed, frozen or cut off on demand."""

    def __init__(self, index: int, server_port: int, root: Path) -> None:
        self.name = f"agent{index}"
        self.root = root
        self.proxy = CuttableProxy(server_port).start()
        self.log_path = root / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._frozen: list[psutil.Process] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        argv = [
            AGENT, "--server", self.proxy.url, "--name", self.name, "--queue", QUEUE,
            "--cache-dir", str(self.root / "cache"), "--poll-wait-s", "2",
            "--abort-grace-s", "3",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9; its task processes die with it (PDEATHSIG)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP the agent and every task process it runs."""
        assert self.process is not None
        agent = psutil.Process(self.process.pid)
        self._frozen = [agent, *agent.children(recursive=True)]
        for process in self._frozen:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        agent, *tasks = self._frozen
        with contextlib.suppress(psutil.NoSuchProcess):
            agent.send_signal(signal.SIGCONT)
        time.sleep(_THAW_TASKS_AFTER_S)
        for process in tasks:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)
        self._frozen = []

    def close(self) -> None:
        if self._frozen:
            self.thaw()
        self.kill()
        self.proxy.close()


class World:
    """Redis, server and agents for one soak under ``root``."""

    def __init__(self, root: Path, agents: int, lease_s: float, first_lease_s: float) -> None:
        self.root = root
        self.ledger = root / "ledger"
        self.ledger.mkdir(parents=True)
        self.repo = root / "repo"
        self.commit = git_repo(self.repo, {"task.py": TASK})
        self.redis = EmbeddedRedis(root / "redis", fsync="always")
        # --log-level info: one JSON line per request, the checks count the 5xx in them.
        args = ["--redis-url", self.redis.url, "--log-level", "info"]
        args += ["--lease", str(lease_s), "--first-lease", str(first_lease_s)]
        self.server = ServerProcess(root / "server", args, root / "server.log")
        self.agents = [SoakAgent(i, self.server.port, root) for i in range(agents)]

    def start(self) -> None:
        self.redis.start()
        self.server.start()
        for agent in self.agents:
            agent.start()

    def kill_server(self) -> None:
        """kill -9 the API and its jobs process together, as a crashed host would."""
        children = children_of(self.server)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        self.server.kill()
        wait_gone(children)

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
        self.server.stop()
        self.redis.stop()
        _kill_task_processes(self.root / "cache")


def _kill_task_processes(cache: Path) -> None:
    """Task processes live in their own sessions: end any left behind (their venv and
    work dir are under the agents' cache)."""
    for process in psutil.process_iter(["cmdline"]):
        if any(str(cache) in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
