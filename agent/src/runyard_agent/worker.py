"""The agent: register, heartbeat, claim while slots are free, run tasks, drain on SIGTERM.

Threads: the main thread supervises (signals, drain, exit), the poll loop long-polls
``claim`` only while a slot is free, the heartbeat loop keeps leases alive, the stop
watch hears of aborts and preemptions within a second while tasks run, and each task
has a runner. Signal handlers only bump a counter; the main thread acts on it.

GPUs busy with work the agent did not start (:mod:`runyard_agent.gpu_watch`) are
checked before each claim and each hand-out, and at each heartbeat, which also tells
the server each GPU's state.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Mapping

from runyard._version import __version__
from runyard.client import Client
from runyard.errors import TRANSIENT, ApiError, AuthError, NotFoundError, RunyardError
from runyard.models import (
    Claim,
    ClaimRequest,
    GpuState,
    GpuTask,
    Heartbeat,
    HeldTask,
    WorkerRegister,
)
from runyard.models.workers import GANG_HOST_PATTERN
from runyard.retry import Backoff
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import choose_build
from runyard_agent.errors import AgentStopped
from runyard_agent.executors import ADOPTERS, Adopted
from runyard_agent.gpu_provider import GpuProvider
from runyard_agent.gpu_watch import GpuWatch, gpu_state
from runyard_agent.heartbeat import HeartbeatLoop
from runyard_agent.resources import Machine
from runyard_agent.runner import RunnerContext, TaskRunner
from runyard_agent.slots import SlotPool
from runyard_agent.stop_watch import StopWatchLoop

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_AUTH = 3
_SUPERVISE_TICK_S = 0.5
_BACKOFF_BASE_S = 1.0
_MAX_BACKOFF_S = 30.0
_HARD_STOP_EXTRA_S = 30.0
# Share of the lease without a delivered heartbeat after which tasks are killed: early
# enough that the kill lands well before the lease can expire and the task be handed
# out again, late enough to sit out one slow heartbeat (they go every lease/3).
_FENCE_AT = 3 / 4


class Agent:
    """One ``runyard-agent`` process. :meth:`run` returns the process exit code."""

    def __init__(
        self,
        settings: AgentSettings,
        client: Client,
        machine: Machine,
        base_env: Mapping[str, str],
        gpu_provider: GpuProvider | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.pool = SlotPool(machine, settings.slots)
        self.worker_id = ""
        self.signals = 0
        self._drain_started: float | None = None
        self._runners: dict[str, TaskRunner] = {}
        self._lock = threading.Lock()
        self._draining = threading.Event()
        self._slot_freed = threading.Event()
        self._wake = threading.Event()
        self._fatal: str | None = None
        self._left_tasks = 0
        torch = choose_build(settings.torch_backend, len(machine.gpus), machine.cuda)
        log.info("PyTorch builds for tasks: %s (%s)", torch.backend, torch.why)
        self._ctx = RunnerContext(
            settings, client, dict(base_env), self._on_auth, torch, lambda: self.worker_id
        )
        self._gpu_watch = None
        if gpu_provider is not None and machine.gpus:
            indices = [gpu.index for gpu in machine.gpus]
            self._gpu_watch = GpuWatch(gpu_provider, indices, settings.gpu_busy_mb, self._task_pids)
        self._busy_gpus: frozenset[int] = frozenset()
        self._heartbeat = HeartbeatLoop(
            client,
            lambda: self.worker_id,
            self._held,
            on_abort=self._abort_task,
            on_preempt=self._preempt_task,
            on_lost=self._lose_task,
            on_auth=self._on_auth,
            gpu_state=self._gpu_state if self._gpu_watch is not None else None,
        )
        self._stop_watch = StopWatchLoop(
            client,
            lambda: self.worker_id,
            self._watched,
            wait_s=settings.poll_wait_s,
            on_abort=self._abort_task,
            on_preempt=self._preempt_task,
        )
        self._poller = threading.Thread(target=self._poll_loop, name="poll", daemon=True)

    def on_signal(self) -> None:
        """SIGTERM/SIGINT: the first drains, the second requeues running tasks. Signal-safe."""
        self.signals += 1

    def run(self) -> int:
        """Register, then claim and run tasks until drained or stopped; the exit code."""
        adopted = ADOPTERS[self.settings.executor](self.settings)
        try:
            if not (adopted and self._resume(adopted[0].worker_id)):
                self._register()
        except AgentStopped as exc:
            log.error("%s", exc)
            return EXIT_AUTH
        if self._draining.is_set():
            return EXIT_OK
        for item in adopted:
            self._adopt(item)
        self._heartbeat.start()
        self._stop_watch.start()
        self._poller.start()
        self._supervise()
        return self._shutdown()

    def _register(self) -> None:
        machine = self.pool.machine
        request = WorkerRegister(
            name=self.settings.name,
            hostname=_hostname(),
            queues=self.settings.queues,
            resources=machine.total,
            gpus=list(machine.gpus),
            executor=self.settings.executor,
            version=__version__,
            slots=self.pool.slots,
        )
        backoff = Backoff(_BACKOFF_BASE_S, _MAX_BACKOFF_S)
        while not self.signals:
            try:
                worker = self.client.workers.register(request, retries=0)
            except TRANSIENT as exc:
                delay = backoff.next()
                log.warning("registration failed, retrying in %.1fs: %s", delay, exc)
                self._sleep_unless_signalled(delay)
                continue
            except AuthError as exc:
                raise AgentStopped(_auth_message(exc)) from None
            self.worker_id = worker.id
            log.info(
                "registered as %s (id %s) on %s: queues %s; %d GPU(s) [%s], %g CPUs, %.1f GiB; "
                "%d slot(s)",
                worker.name, worker.id, self.settings.server, ", ".join(self.settings.queues),
                len(machine.gpus), ",".join(str(g.index) for g in machine.gpus), machine.cpus,
                machine.memory_gb, self.pool.slots,
            )  # fmt: skip
            return
        self._draining.set()

    def _resume(self, worker_id: str) -> bool:
        """Carry on as the worker an earlier agent left tasks running for (their leases
        are that worker's); False when the server no longer knows it."""
        try:
            self.client.workers.heartbeat(worker_id, Heartbeat(), retries=2)
        except AuthError as exc:
            raise AgentStopped(_auth_message(exc)) from None
        except RunyardError as exc:
            log.warning("cannot carry on as worker %s (%s); registering anew", worker_id, exc)
            return False
        self.worker_id = worker_id
        log.info("carrying on as worker %s, which earlier agent(s) left tasks to", worker_id)
        return True

    def _adopt(self, item: Adopted) -> None:
        """Supervise a task an earlier agent left running (its lease, if still valid,
        is kept by the heartbeats; a lost one kills it)."""
        allocation = self.pool.acquire(item.task.resources)
        if allocation is None:
            log.error("task %s: no slot to re-adopt it; it is not supervised", item.task.id)
            return
        claim = Claim(task=item.task, lease_token=item.lease_token, task_token=item.task_token)
        runner = TaskRunner(claim, allocation, self._ctx, self._runner_done, adopted=item)
        with self._lock:
            self._runners[item.task.id] = runner
        runner.start()

    def _sleep_unless_signalled(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.signals and time.monotonic() < deadline:
            time.sleep(min(_SUPERVISE_TICK_S, max(0.0, deadline - time.monotonic())))

    def _supervise(self) -> None:
        hard_stop_at: float | None = None
        while self._fatal is None:
            if self.signals >= 1 and not self._draining.is_set():
                self._begin_drain()
            if (self.signals >= 2 or self._drain_overdue()) and hard_stop_at is None:
                hard_stop_at = time.monotonic() + self.settings.abort_grace_s + _HARD_STOP_EXTRA_S
                self._requeue_all()
            with self._lock:
                running = len(self._runners)
            # A claim still in flight may yet return a task: wait for it so it is given back
            # at once (a second signal skips the wait; the task's short lease covers it).
            claim_done = not self._poller.is_alive() or self.signals >= 2
            wait_s = self._fence_silent_tasks()
            if self._draining.is_set() and running == 0 and claim_done:
                return
            if hard_stop_at is not None and time.monotonic() > hard_stop_at:
                log.error("%d task(s) did not stop in time; exiting anyway", running)
                return
            self._wake.wait(max(0.01, wait_s))
            self._wake.clear()

    def _fence_silent_tasks(self) -> float:
        """Kill tasks whose lease went unconfirmed too long: the server reruns them.

        A task whose process already ended is left alone: nothing of it runs any more,
        so keeping its result cannot make two live copies. Its reports wait for the
        server, which takes them only while that lease is still the task's (the token
        check); if the lease expired and the task was handed out again, the rerun stands.
        Returns the seconds until the next task would be due, for the supervise wait.
        """
        lease_s, confirmed = self._heartbeat.lease_s, self._heartbeat.silent_since()
        if lease_s is None or confirmed is None:
            return _SUPERVISE_TICK_S
        now = time.monotonic()
        with self._lock:
            runners = [
                runner
                for runner in self._runners.values()
                if not runner.lost and not runner.process_ended
            ]
        # Before the server's expiry (at least confirmed + lease): kill, then the rerun.
        limit, next_due = lease_s * _FENCE_AT, _SUPERVISE_TICK_S
        for runner in runners:
            if runner.lease_confirmed_at is None:
                continue  # not started: no process yet, and the short first lease runs
            silent = now - max(confirmed, runner.lease_confirmed_at)
            if silent <= limit:
                next_due = min(next_due, limit - silent)
                continue
            log.warning(
                "task %s: no heartbeat delivered for %.1fs (lease %gs); the server reruns "
                "it elsewhere, so its process is killed now, reporting nothing",
                runner.task_id, silent, lease_s,
            )  # fmt: skip
            runner.lose()
        return next_due

    def _drain_overdue(self) -> bool:
        """A drain past ``drain_timeout_s``: an orchestrator's SIGKILL is near (Kubernetes
        sends one SIGTERM, then kills at its grace period), so tasks go back now."""
        timeout = self.settings.drain_timeout_s
        if timeout is None or self._drain_started is None:
            return False
        return time.monotonic() - self._drain_started >= timeout

    def _begin_drain(self) -> None:
        self._draining.set()
        self._drain_started = time.monotonic()
        self._slot_freed.set()
        with self._lock:
            running = len(self._runners)
        log.info(
            "draining: no new claims; waiting for %d running task(s) to finish and for the "
            "claim in flight (up to %gs); send SIGTERM again to stop and requeue the tasks",
            running,
            self.settings.poll_wait_s,
        )

    def _requeue_all(self) -> None:
        with self._lock:
            runners = list(self._runners.values())
        log.info("stopping %d running task(s) and giving them back to their queues", len(runners))
        for runner in runners:
            runner.requeue()

    def _shutdown(self) -> int:
        self._draining.set()
        self._slot_freed.set()
        with self._lock:
            runners = list(self._runners.values())
        if self._fatal is not None:
            log.error("%s", self._fatal)
        elif runners:
            log.error(
                "killing %d task(s) that did not stop; their leases will expire", len(runners)
            )
        for runner in runners:
            runner.lose()
        self._heartbeat.stop()
        self._stop_watch.stop()
        if self._left_tasks:
            # Their leases are this worker's: the next agent carries on as it.
            log.info(
                "%d task(s) left running without the agent; worker %s stays registered for "
                "the next agent start to re-adopt them", self._left_tasks, self.worker_id,
            )  # fmt: skip
        elif self._fatal is None:
            try:
                self.client.workers.unregister(self.worker_id)
            except RunyardError as exc:
                log.warning("could not unregister from the server: %s", exc)
        log.info("agent stopped")
        return EXIT_OK if self._fatal is None else EXIT_AUTH

    def _poll_loop(self) -> None:
        backoff = Backoff(_BACKOFF_BASE_S, _MAX_BACKOFF_S)
        while not self._draining.is_set():
            self._check_gpus()
            free = self.pool.free()
            if free is None:
                self._slot_freed.wait()
                self._slot_freed.clear()
                continue
            request = ClaimRequest(
                queues=self.settings.queues,
                free=free,
                wait_s=self.settings.poll_wait_s,
                gpus=self.pool.gpu_free(),
                **self._gang_offer(),
            )
            try:
                claim = self.client.workers.claim(self.worker_id, request, retries=0)
            except TRANSIENT as exc:
                delay = backoff.next()
                log.warning("claim failed, retrying in %.1fs: %s", delay, exc)
                self._draining.wait(delay)
                continue
            except AuthError as exc:
                self._on_auth(exc)
                return
            except NotFoundError:
                log.warning("the server does not know this worker any more; registering again")
                self._register_again()
                continue
            except ApiError as exc:
                log.error("claim refused: %s", exc)
                self._draining.wait(backoff.next())
                continue
            backoff.reset()
            if claim.task is not None:
                self._launch(claim)

    def _gang_offer(self) -> dict[str, str | int | bool]:
        """Where this agent would host rank 0 of a multi-node task: its address and a
        port free now (``MASTER_PORT``). The venv executor only: a container's ports are
        not the host's. The slurm executor takes such a task whole (one job over its
        nodes, Slurm places the ranks)."""
        if self.settings.executor == "slurm":
            return {"whole_gangs": True}
        host = self.settings.gang_host or _hostname()
        if self.settings.executor != "venv" or not re.fullmatch(GANG_HOST_PATTERN, host):
            return {}  # an odd host name: set --gang-host to take multi-node tasks
        with socket.socket() as probe:
            probe.bind(("", 0))
            port = probe.getsockname()[1]
        return {"gang_host": host, "gang_port": port}

    def _register_again(self) -> None:
        try:
            self._register()
        except AgentStopped as exc:
            self._fatal = str(exc)
            self._wake.set()

    def _launch(self, claim: Claim) -> None:
        task = claim.task
        assert task is not None and claim.lease_token is not None
        self._check_gpus()
        placement = next((p for p in task.placement if p.worker == self.worker_id), None)
        allocation = (
            None if self._draining.is_set() else self.pool.acquire(task.resources, placement)
        )
        if allocation is None:
            why = "draining" if self._draining.is_set() else "its resources are not free here"
            log.warning("giving task %s back to its queue: %s", task.id, why)
            self._give_back(task.id, claim.lease_token)
            return
        gang = claim.gang
        log.info(
            "claimed task %s (%s) from queue %s, GPUs [%s] (share %g)%s",
            task.id,
            task.name,
            task.queue,
            allocation.cuda_visible_devices,
            allocation.gpu_fraction,
            "" if gang is None else f", rank {gang.rank} of {gang.world_size}",
        )
        runner = TaskRunner(claim, allocation, self._ctx, self._runner_done)
        with self._lock:
            self._runners[task.id] = runner
        runner.start()
        self._stop_watch.nudge()
        if allocation.gpu_indices:
            self._heartbeat.nudge()

    def _give_back(self, task_id: str, lease_token: str) -> None:
        try:
            self.client.tasks.report_requeue(task_id, lease_token)
        except RunyardError as exc:
            # The short first lease brings the task back anyway.
            log.warning("could not give task %s back (its lease will expire): %s", task_id, exc)

    def _runner_done(self, runner: TaskRunner) -> None:
        with self._lock:
            self._runners.pop(runner.task_id, None)
            self._left_tasks += runner.left
        self.pool.release(runner.allocation)
        if runner.allocation.gpu_indices:
            self._heartbeat.nudge()
        log.info("task %s: done, slot free (%d busy)", runner.task_id, self.pool.busy)
        self._slot_freed.set()
        self._wake.set()

    def _check_gpus(self) -> None:
        """Keep GPUs busy with others' work out of the pool; the server hears of a change."""
        if self._gpu_watch is None:
            return
        busy = self._gpu_watch.busy()
        self.pool.set_busy(busy)
        if busy != self._busy_gpus:
            self._busy_gpus = busy
            self._heartbeat.nudge()

    def _gpu_state(self) -> list[GpuState]:
        assert self._gpu_watch is not None
        self._check_gpus()
        tasks: dict[int, list[GpuTask]] = {}
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            for index, share in runner.allocation.gpu_shares.items():
                tasks.setdefault(index, []).append(GpuTask(task_id=runner.task_id, share=share))
        return gpu_state(self._gpu_watch.indices, self._gpu_watch.use(), tasks)

    def _task_pids(self) -> list[int]:
        with self._lock:
            pids = [runner.pid for runner in self._runners.values()]
        return [pid for pid in pids if pid is not None]

    def _held(self) -> list[HeldTask]:
        with self._lock:
            return [runner.held() for runner in self._runners.values()]

    def _watched(self) -> list[HeldTask]:
        """The held tasks not yet told to stop, for the stop watch."""
        with self._lock:
            return [runner.held() for runner in self._runners.values() if not runner.stopping]

    def _abort_task(self, task_id: str) -> None:
        with self._lock:
            runner = self._runners.get(task_id)
        if runner is not None:
            log.info("task %s: abort requested", task_id)
            runner.abort()

    def _preempt_task(self, task_id: str, by: str) -> None:
        with self._lock:
            runner = self._runners.get(task_id)
        if runner is not None:
            log.info("task %s: preempted by task %s", task_id, by)
            runner.preempt(by)

    def _lose_task(self, task_id: str) -> None:
        with self._lock:
            runner = self._runners.get(task_id)
        if runner is not None:
            log.warning("task %s: lease lost; killing its process, reporting nothing", task_id)
            runner.lose()

    def _on_auth(self, exc: AuthError) -> None:
        if self._fatal is None:
            self._fatal = _auth_message(exc)
        self._wake.set()


def _auth_message(exc: AuthError) -> str:
    return (
        f"the server refused this agent's token ({exc.status} {exc.code}: {exc.detail}); "
        "stopping. Give the agent an agent token the server accepts with --token or "
        "RUNYARD_TOKEN (the server takes them with --token agent:TOKEN)."
    )


def _hostname() -> str:
    return socket.gethostname()[:255]
