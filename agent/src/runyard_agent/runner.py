"""One claimed task, start to end, on its own thread.

The order matters: report ``started`` first (it turns the short first lease into a
full one), then build the code and the virtualenv, run the entry point, supervise it,
and report how it ended. Other threads steer a runner through :meth:`TaskRunner.abort`,
:meth:`TaskRunner.preempt`, :meth:`TaskRunner.lose` and :meth:`TaskRunner.requeue`.
"""

from __future__ import annotations

import enum
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runyard.client import Client
from runyard.errors import AuthError
from runyard.models import Claim, FailureKind, HeldTask, Task
from runyard.models.limits import MAX_REASON_CHARS
from runyard_agent import environments
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import TorchBuild
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors import EXECUTORS, Adopted, Launch, LaunchRequest, TaskHandle
from runyard_agent.process import describe_exit
from runyard_agent.reports import LeaseReporter
from runyard_agent.slots import Allocation
from runyard_agent.task_log import TaskLog

log = logging.getLogger(__name__)

LOG_DRAIN_TIMEOUT_S = 120.0
# A task left running without the agent: its output read so far gets this long to ship.
LEAVE_DRAIN_TIMEOUT_S = 10.0


class Stop(enum.IntEnum):
    """Why a task must stop early; a higher value wins over a lower one."""

    ABORT = 1
    PREEMPT = 2
    REQUEUE = 3
    LOST = 4


@dataclass(frozen=True)
class RunnerContext:
    """What every runner shares: settings, the client, the agent's environment, callbacks."""

    settings: AgentSettings
    client: Client
    base_env: Mapping[str, str]
    on_auth: Callable[[AuthError], None]
    torch: TorchBuild
    worker_id: Callable[[], str]


class TaskRunner:
    """Runs one claimed task; :meth:`start` it, then steer it from other threads."""

    def __init__(
        self,
        claim: Claim,
        allocation: Allocation,
        ctx: RunnerContext,
        on_done: Callable[[TaskRunner], None],
        adopted: Adopted | None = None,
    ) -> None:
        if claim.task is None or claim.lease_token is None:
            raise ValueError("a runner needs a claim with a task and a lease token")
        self.task: Task = claim.task
        self.lease_token: str = claim.lease_token
        self.gang = claim.gang
        self.task_token = claim.task_token
        self.allocation = allocation
        self.ctx = ctx
        self.on_done = on_done
        self.claimed_at = time.monotonic()
        self.process_started_at: float | None = None
        # When the server last surely held the full lease for us: the ``started`` report.
        self.lease_confirmed_at: float | None = None
        self._stop: Stop | None = None
        self._preempted_by = ""
        self._lost = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._process: TaskHandle | None = None
        self._workdir: Path | None = None
        self._output: TaskLog | None = None
        self._adopted = adopted
        self._left = False
        self._report = LeaseReporter(
            ctx.client,
            self.task.id,
            self.lease_token,
            stop=self._lost,
            on_lost=self.lose,
            on_auth=ctx.on_auth,
        )
        # Daemon: an agent that gives up on a stuck task must still be able to exit.
        self._thread = threading.Thread(
            target=self._run, name=f"task-{self.task.id[:8]}", daemon=True
        )

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.task.id

    @property
    def lost(self) -> bool:
        """True once the lease is gone (the process is killed, nothing more is reported)."""
        return self._lost.is_set()

    @property
    def left(self) -> bool:
        """True when the task was left running without the agent (for the next to adopt)."""
        return self._left

    @property
    def stopping(self) -> bool:
        """True once told to stop (abort, preemption, requeue or a lost lease)."""
        with self._lock:
            return self._stop is not None

    @property
    def process_ended(self) -> bool:
        """True once the task's process exited: only its result is left, to report."""
        with self._lock:
            process = self._process
        return process is not None and process.returncode is not None

    @property
    def pid(self) -> int | None:
        """The task process's pid (a container's init, for docker) while it runs."""
        with self._lock:
            process = self._process
        if process is None or process.returncode is not None:
            return None
        return process.pid or None

    def held(self) -> HeldTask:
        """The task, its lease token and what its process says it is doing, for heartbeats."""
        with self._lock:
            process = self._process
        detail = None if process is None else process.state_detail
        return HeldTask(task_id=self.task.id, lease_token=self.lease_token, state_detail=detail)

    def start(self) -> None:
        """Run the task on a new thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the runner's thread to end; False when it still runs after ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def abort(self) -> None:
        """A user aborted the task: SIGTERM, grace period, SIGKILL; then report ``aborted``."""
        self._request(Stop.ABORT)

    def preempt(self, by: str) -> None:
        """Task ``by`` preempts this one: stop it as an abort would (its grace lets it
        checkpoint), then give it back to the head of its queue."""
        with self._lock:
            self._preempted_by = by
        self._request(Stop.PREEMPT)

    def requeue(self) -> None:
        """The agent is going away: stop the task the same way and give it back to its queue."""
        self._request(Stop.REQUEUE)

    def lose(self) -> None:
        """The lease is gone: kill the process now and report nothing more."""
        self._request(Stop.LOST)
        self._lost.set()
        with self._lock:
            process = self._process
        if process is not None:
            process.kill()

    def _request(self, stop: Stop) -> None:
        with self._lock:
            if self._stop is None or stop > self._stop:
                self._stop = stop
        self._wake.set()

    def _run(self) -> None:
        try:
            self._execute()
        except Exception:
            # A bug here must not leave the task leased forever by our heartbeats.
            log.exception("task %s: the agent failed while running it", self.task.id)
            self._kill_process()
            self._report.failed(
                FailureKind.AGENT, "the agent failed while running the task; see its log"
            )
        finally:
            if self._output is not None:
                self._output.abandon()
            if self._workdir is not None and not self._left:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self.on_done(self)

    def _execute(self) -> None:
        adopted = self._adopted
        sent = time.monotonic()
        if adopted is None and not self._report.started():
            return
        self.lease_confirmed_at = sent
        self._output = output = TaskLog(
            self._send_logs,
            self.lease_token,
            on_lost=self.lose,
            on_auth=self.ctx.on_auth,
            spool=self.ctx.settings.log_spool,
            prefix="" if self.gang is None else f"[rank {self.gang.rank}] ",
            first_seq=0 if adopted is None else adopted.first_seq,
        )
        if adopted is not None:
            self._workdir = adopted.workdir
            log.info("task %s (%s): re-adopted from an earlier agent", self.task.id, self.task.name)
            output.agent_line("an agent restart re-adopted this task's job")
            handle = adopted.follow(output.agent_line, self._report.installed)
            self._end(output, self._watch(output, handle))
            return
        log.info("task %s (%s): started, building its environment", self.task.id, self.task.name)
        try:
            launch = self._build(output)
            code = self._supervise(output, launch) if launch is not None else None
        except EnvironmentBuildError as exc:
            self._end_build_failed(output, exc)
            return
        self._end(output, code)

    def _send_logs(self, body: bytes) -> object:
        return self.ctx.client.logs.append_encoded(self.task.id, body, retries=0)

    def _build(self, output: TaskLog) -> Launch | None:
        """Code and environment; None when a stop request came in meanwhile."""
        settings = self.ctx.settings
        self._workdir = environments.prepare_code(
            self.task.script,
            settings.work_root,
            settings.cache_dir,
            output.agent_line,
            self.ctx.client.bundles.download,
        )
        if self._stop is not None:
            return None
        launch = EXECUTORS[settings.executor](
            LaunchRequest(
                task=self.task,
                workdir=self._workdir,
                allocation=self.allocation,
                settings=settings,
                token=self.task_token or settings.token_value,
                base_env=self.ctx.base_env,
                note=output.agent_line,
                torch=self.ctx.torch,
                record_installed=self._report.installed,
                gang=self.gang,
                lease_token=self.lease_token,
                worker_id=self.ctx.worker_id(),
            )
        )
        if self._stop is not None:
            launch.discard()
            return None
        return launch

    def _supervise(self, output: TaskLog, launch: Launch) -> int | None:
        return self._watch(output, launch.start())

    def _watch(self, output: TaskLog, process: TaskHandle) -> int | None:
        """Follow the started task until it ends or is stopped; its exit code (None: left
        running without the agent)."""
        with self._lock:
            self._process = process
        if self._stop is Stop.LOST:
            process.kill()
        self.process_started_at = time.monotonic()
        log.info(
            "task %s: process %d started %.2fs after the claim (GPUs: %s)",
            self.task.id,
            process.pid,
            self.process_started_at - self.claimed_at,
            self.allocation.cuda_visible_devices or "none",
        )
        output.attach(process)
        threading.Thread(target=self._wait_exit, args=(process,), daemon=True).start()
        while process.returncode is None and self._stop is None:
            self._wake.wait()
            self._wake.clear()
        return self._stop_process(process, output)

    def _wait_exit(self, process: TaskHandle) -> None:
        process.wait()
        self._wake.set()

    def _stop_process(self, process: TaskHandle, output: TaskLog) -> int | None:
        stop = self._stop
        if stop is None:
            code = process.wait()
            assert code is not None
            return code
        if stop is Stop.LOST:
            return process.kill()
        if stop is Stop.REQUEUE and process.leave(lambda: output.finish(LEAVE_DRAIN_TIMEOUT_S)):
            log.info("task %s: left running without the agent", self.task.id)
            self._left = True
            return None
        with self._lock:
            ended = process.returncode
            if stop is Stop.PREEMPT and ended is not None:
                # It finished before the preemption came: its result stands, no rerun.
                self._stop = None
                return ended
        grace = self.ctx.settings.abort_grace_s
        why = {
            Stop.ABORT: "abort requested",
            Stop.PREEMPT: f"preempted by task {self._preempted_by}, of a higher priority; "
            "it goes back to the head of its queue",
        }.get(stop, "the agent is shutting down")
        output.agent_line(f"stopping the task ({why}): SIGTERM, SIGKILL after {grace:g}s")
        log.info("task %s: stopping (%s)", self.task.id, why)
        return process.terminate(grace)

    def _kill_process(self) -> None:
        with self._lock:
            process = self._process
        if process is not None:
            process.kill()

    def _end(self, output: TaskLog, code: int | None) -> None:
        stop = self._stop
        if stop is Stop.LOST:
            log.warning("task %s: lease lost; process killed, nothing reported", self.task.id)
            return
        if self._left:
            return
        with self._lock:
            process = self._process
        ending = process.ending if process is not None and stop is None else None
        if code is not None:
            output.agent_line(f"process ended: {describe_exit(code)}")
        elif stop is Stop.PREEMPT:
            output.agent_line(
                f"preempted by task {self._preempted_by} before the process started; "
                "it goes back to the head of its queue"
            )
        if ending is not None:
            output.agent_line(ending.reason)
        output.finish(LOG_DRAIN_TIMEOUT_S)
        if stop is Stop.ABORT:
            self._report.aborted(code)
        elif stop in (Stop.REQUEUE, Stop.PREEMPT) or (ending is not None and ending.requeue):
            # The server records a preemption from its own mark (requeue.lua).
            self._report.requeue()
        elif ending is not None:
            exit_code = code if ending.kind is FailureKind.SCRIPT else None
            self._report.failed(ending.kind, ending.reason[:MAX_REASON_CHARS], exit_code=exit_code)
        elif code == 0:
            self._report.completed(0)
        else:
            assert code is not None
            reason = script_failure_reason(code, output.tail())
            self._report.failed(FailureKind.SCRIPT, reason, exit_code=code)

    def _end_build_failed(self, output: TaskLog, exc: EnvironmentBuildError) -> None:
        log.warning("task %s: environment build failed: %s", self.task.id, exc)
        if self._stop is Stop.LOST:
            return
        output.agent_line(f"environment build failed at {exc.stage}: {exc.message}")
        output.finish(LOG_DRAIN_TIMEOUT_S)
        reason = f"{exc.stage}: {exc.message}"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS // 2] + "\n…\n" + reason[-MAX_REASON_CHARS // 2 :]
        self._report.failed(FailureKind.ENVIRONMENT, reason)


def script_failure_reason(code: int, tail: list[str]) -> str:
    """``exit code 3; last output lines:`` and the task's last lines, within the report limit."""
    head = describe_exit(code)
    if not tail:
        return f"{head}; the script printed nothing"
    body = "\n".join(tail)
    room = MAX_REASON_CHARS - len(head) - 40
    if len(body) > room:
        body = "…" + body[-room:]
    return f"{head}; last output lines:\n{body}"
