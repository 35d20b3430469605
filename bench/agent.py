"""Agent bench: real ``runyard-agent`` processes against a real ``runyard-server``.

    .venv/bin/python bench/agent.py [--quick] [--out PATH]

Starts its own embedded Redis, a ``runyard-server`` on it and ``runyard-agent``
processes (all on loopback, all stopped by PID at the end), measures, prints a table
and writes JSON (default bench/results/agent.json). What it measures:

  (1) claim→process started, cached venv: tasks from a real git repository (a
      warm-up task builds the venv first). The task's first statement is
      ``T0 = time.time()``, printed; "claim→first statement" is T0 minus the time
      the bench sent the enqueue request while the agent sat idle in its claim
      long-poll, an upper bound on claim→first statement (it adds the enqueue
      request and the wake-up, ~ms). ``started→first statement`` uses the task's
      ``started`` field, which the server stamps when the agent reports
      ``started`` right after the claim: a lower bound. Stages come from the
      timestamps of the agent's lines in the task log and its own log.
  (2) cold venv build, uv vs pip: ``ensure_venv`` called in-process, each run with
      a new empty cache dir (virtualenv's app-data included), the installers' own
      download caches private to the bench and warmed by one throw-away build each.
  (3) a task printing 1,000,000 lines: the loop's own time (first line to flush of
      the last) under the agent vs run directly with stdout to /dev/null (and to a
      pipe drained by a thread, the floor of any pipe reader), direct and agent runs
      interleaved, medians compared; every line read back through
      GET /tasks/{id}/logs with the cursor and checked 0..999999 once, in order; how
      long after the loop ended the server had the last line (the task's
      ``finished``, which the agent reports only after its log drained: an upper
      bound); CPU seconds of the agent, server and Redis meanwhile.
  (4) idle agent CPU: an agent with default settings on an empty queue, 5 s after it
      registered, CPU time (psutil, children included) over 30 s.
  (5) the agent's log path alone, against a server that only acknowledges, and
  (6) a local run: ``Task.init`` → its record visible on the server (``_logpath.py``).
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _agent_procs import Agent, Repo, make_repo, read_logs, submit, wait_final
from _agent_report import TARGETS, render
from _harness import CpuMeter, Stack, bench_main, log, start_stack, stop_stack, summary_ms, tail
from _logpath import measure_local_init, measure_log_path
from _report import verdicts

from runyard.models import Environment
from runyard_agent.environments.venv import ensure_venv

HERE = Path(__file__).resolve().parent

TASK_REQUIREMENTS = ["six==1.16.0"]
BUILD_REQUIREMENTS = [
    "six==1.16.0",
    "tomli==2.0.1",
    "packaging==24.1",
    "idna==3.7",
    "attrs==23.2.0",
]
LINES = 1_000_000


@dataclass(frozen=True)
class Plan:
    claim_tasks: int = 10
    build_runs: int = 3
    spam_runs: int = 3
    idle_settle_s: float = 5.0
    idle_s: float = 30.0
    local_runs: int = 5


QUICK = Plan(claim_tasks=5, build_runs=1, spam_runs=1, idle_s=15.0, local_runs=3)


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def agent_log_time(line: str) -> float:
    """Wall time of an agent log line (``%(asctime)s``: local time, millisecond resolution)."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def base_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.port}"


def load() -> dict[str, float]:
    one, five, _ = os.getloadavg()
    return {"load1": one, "load5": five}


# --------------------------------------------------------------------------- (1)


def measure_claim(stack: Stack, agent: Agent, repo: Repo, plan: Plan) -> dict[str, Any]:
    api = stack.api
    task_id, sent = submit(api, repo, "first.py", "bench", TASK_REQUIREMENTS, "warm-up")
    task = wait_final(api, task_id, 600)
    if task["status"] != "completed":
        raise RuntimeError(f"warm-up task {task['status']}: {task.get('failure_reason')}")
    warm_s = first_statement(read_logs(api, task_id)[0]) - sent
    log(f"(1) warm-up task (venv build) took {warm_s:.1f} s to its first statement")

    rows: list[dict[str, float]] = []
    cpu = CpuMeter({**stack.pids(), "agent": agent.pid})
    cpu.start()
    for i in range(plan.claim_tasks):
        time.sleep(0.5)  # the agent is back in its long-poll, idle
        task_id, sent = submit(api, repo, "first.py", "bench", TASK_REQUIREMENTS, f"claim-{i}")
        task = wait_final(api, task_id, 120, poll_s=0.05)
        if task["status"] != "completed":
            raise RuntimeError(f"task {task_id} {task['status']}: {task.get('failure_reason')}")
        lines, _ = read_logs(api, task_id)
        rows.append(claim_row(agent, task_id, task, lines, sent))
    usage = cpu.stop()

    def stat(key: str) -> dict[str, float]:
        return summary_ms([row[key] for row in rows])

    result: dict[str, Any] = {
        "tasks": len(rows),
        "warmup_first_statement_s": warm_s,
        "claim_to_first_ms": stat("claim_to_first"),
        "claim_to_first_s": {k: v / 1e3 for k, v in stat("claim_to_first").items() if k != "n"},
        "started_to_first_ms": stat("started_to_first"),
        "agent_claim_to_popen_ms": stat("agent_claim_to_popen"),
        "stages_ms": {
            "enqueue→started": stat("enqueue_to_started"),
            "started→code ready, venv hit": stat("started_to_venv"),
            "venv hit→Popen": stat("venv_to_popen"),
            "Popen→first statement": stat("popen_to_first"),
        },
        "cpu_cores": usage,
        "samples": rows,
    }
    return result


def first_statement(lines: list[dict[str, Any]]) -> float:
    for line in lines:
        if line["text"].startswith("FIRST "):
            return float(line["text"].split()[1])
    raise RuntimeError("the task printed no FIRST line:\n" + "\n".join(x["text"] for x in lines))


def claim_row(
    agent: Agent, task_id: str, task: dict[str, Any], lines: list[dict[str, Any]], sent: float
) -> dict[str, float]:
    first = first_statement(lines)
    started = wall(task["started"])
    agent_lines = [x for x in lines if x["stream"] == "agent"]
    venv_hit = next(x["ts"] for x in agent_lines if "venv cache hit" in x["text"])
    pattern = re.compile(rf"^(.{{23}}).*task {task_id}: process \d+ started ([\d.]+)s after")
    found = [m for line in agent.log.splitlines() if (m := pattern.match(line))]
    if not found:
        raise RuntimeError(f"no 'process started' line for {task_id} in the agent log")
    popen = agent_log_time(found[0].group(1))
    return {
        "claim_to_first": first - sent,
        "started_to_first": first - started,
        "agent_claim_to_popen": float(found[0].group(2)),
        "enqueue_to_started": started - sent,
        "started_to_venv": venv_hit - started,
        "venv_to_popen": popen - venv_hit,
        "popen_to_first": first - popen,
    }


# --------------------------------------------------------------------------- (2)


def measure_builds(root: Path, plan: Plan) -> dict[str, Any]:
    """Cold ``ensure_venv`` with uv and with pip, download caches warmed first."""
    os.environ["UV_CACHE_DIR"] = str(root / "uv-cache")
    os.environ["PIP_CACHE_DIR"] = str(root / "pip-cache")
    environment = Environment(requirements=BUILD_REQUIREMENTS)
    runs: dict[str, list[dict[str, float]]] = {"uv": [], "pip": []}
    counter = 0

    def build(installer: str) -> dict[str, float]:
        nonlocal counter
        counter += 1
        marks: list[tuple[float, str]] = []
        cache = root / f"venv-cache-{counter}"
        t0 = time.monotonic()
        ensure_venv(
            environment,
            cache,
            lambda text: marks.append((time.monotonic(), text)),
            installer="uv" if installer == "uv" else "pip",
        )
        total = time.monotonic() - t0
        install_at = next(t for t, text in marks if text.startswith("installing "))
        built_at = next(t for t, text in marks if " built in " in text)
        install = built_at - install_at
        return {"total_s": total, "virtualenv_s": install_at - t0, "install_s": install}

    for installer in ("uv", "pip"):
        warm = build(installer)
        log(f"(2) warm-up {installer}: {warm['total_s']:.2f} s (fills its download cache)")
    cpu = CpuMeter({"bench": os.getpid()})
    cpu.start()
    for _ in range(plan.build_runs):
        for installer in ("uv", "pip"):
            runs[installer].append(build(installer))
    usage = cpu.stop()
    result: dict[str, Any] = {"requirements": BUILD_REQUIREMENTS, "runs": runs, "cpu_cores": usage}
    for installer, samples in runs.items():
        result[installer] = {
            key: statistics.median(s[key] for s in samples)
            for key in ("total_s", "virtualenv_s", "install_s")
        }
    result["ratio_pip_over_uv"] = result["pip"]["total_s"] / result["uv"]["total_s"]
    result["install_ratio_pip_over_uv"] = result["pip"]["install_s"] / result["uv"]["install_s"]
    return result


# --------------------------------------------------------------------------- (3)


def spam_times(stderr: str) -> tuple[float, float]:
    match = re.search(r"^SPAM (\S+) (\S+)$", stderr, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no SPAM line in:\n{stderr[-2000:]}")
    return float(match.group(1)), float(match.group(2))


def direct_run(python: Path, script: Path, to_pipe: bool) -> float:
    """The loop's own time, run directly: stdout to /dev/null, or to a drained pipe."""
    if not to_pipe:
        done = subprocess.run(
            [str(python), str(script)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=True,
        )
        t0, t1 = spam_times(done.stderr)
        return t1 - t0
    process = subprocess.Popen(
        [str(python), str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout

    def drain() -> None:
        while os.read(out.fileno(), 65536):
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    err = process.stderr.read().decode()
    process.wait(300)
    reader.join(30)
    out.close()
    process.stderr.close()
    t0, t1 = spam_times(err)
    return t1 - t0


def check_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    numbers = [int(x["text"]) for x in lines if x["stream"] == "stdout" and x["text"].isdigit()]
    in_order = numbers == list(range(LINES))
    in_place = sum(1 for i, n in enumerate(numbers) if n == i) - max(0, len(numbers) - LINES)
    return {
        "in_place": in_place,
        "numbered_lines": len(numbers),
        "distinct": len(set(numbers)),
        "all_once_in_order": in_order,
        "first_missing": next((i for i, n in enumerate(numbers) if n != i), None)
        if not in_order
        else None,
        "agent_notes": [x["text"] for x in lines if x["stream"] == "agent"],
    }


def measure_spam(stack: Stack, agent: Agent, repo: Repo, root: Path, plan: Plan) -> dict[str, Any]:
    api = stack.api
    venvs = sorted((root / "agent-cache" / "venvs").glob("*/bin/python"))
    python = venvs[0]
    script = repo.path / "spam.py"
    direct: list[float] = []
    piped: list[float] = []
    runs = []
    for i in range(plan.spam_runs):
        # Interleaved, so a change in the background load hits both sides alike.
        direct.append(direct_run(python, script, False))
        piped.append(direct_run(python, script, True))
        log(f"(3) direct: /dev/null {direct[-1]:.3f} s, drained pipe {piped[-1]:.3f} s")
        cpu = CpuMeter({**stack.pids(), "agent": agent.pid})
        agent_self0 = agent_self_cpu(agent.pid)
        cpu.start()
        task_id, sent = submit(api, repo, "spam.py", "bench", TASK_REQUIREMENTS, f"spam-{i}")
        task = wait_final(api, task_id, 580, poll_s=0.1)
        usage = cpu.stop()
        agent_self = agent_self_cpu(agent.pid) - agent_self0
        if task["status"] != "completed":
            raise RuntimeError(f"spam task {task['status']}: {task.get('failure_reason')}")
        read_t0 = time.monotonic()
        lines, pages = read_logs(api, task_id)
        read_s = time.monotonic() - read_t0
        stderr = "\n".join(x["text"] for x in lines if x["stream"] == "stderr")
        t0, t1 = spam_times(stderr)
        last_stdout = max(x["ts"] for x in lines if x["stream"] == "stdout")
        run = {
            "loop_s": t1 - t0,
            "enqueue_to_end_s": wall(task["finished"]) - sent,
            "last_line_read_after_end_s": last_stdout - t1,
            "server_had_last_line_within_s": wall(task["finished"]) - t1,
            "log_lines_total": len(lines),
            "read_back_s": read_s,
            "read_back_pages": pages,
            "cpu_s": {**cpu.seconds, "agent_self": agent_self},
            "cpu_cores": usage,
            **check_lines(lines),
        }
        runs.append(run)
        log(
            f"(3) under agent: loop {run['loop_s']:.2f} s, {run['numbered_lines']} lines, "
            f"in order {run['all_once_in_order']}, "
            f"last line +{run['server_had_last_line_within_s']:.2f} s"
        )
    agent_s = statistics.median(r["loop_s"] for r in runs)
    direct_s = statistics.median(direct)
    return {
        "direct_devnull_s": direct_s,
        "direct_devnull_runs": direct,
        "direct_pipe_s": statistics.median(piped),
        "direct_pipe_runs": piped,
        "agent_s": agent_s,
        "ratio": agent_s / direct_s,
        "lines_ok": all(r["all_once_in_order"] for r in runs),
        "lines_received": min(r["numbered_lines"] for r in runs),
        "lines_in_place": min(r["in_place"] for r in runs),
        "last_line_within_s": max(r["server_had_last_line_within_s"] for r in runs),
        "runs": runs,
    }


def agent_self_cpu(pid: int) -> float:
    """User + system CPU of the agent process alone (its threads; not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- (4)


def measure_idle(stack: Stack, root: Path, plan: Plan) -> dict[str, Any]:
    agent = Agent(base_url(stack), root, "bench-idle")
    try:
        agent.wait_log("registered as", 60)
        time.sleep(plan.idle_settle_s)
        cpu = CpuMeter({**stack.pids(), "agent": agent.pid})
        before = agent.cpu_seconds()
        t0 = time.monotonic()
        cpu.start()
        time.sleep(plan.idle_s)
        used = agent.cpu_seconds() - before
        window = time.monotonic() - t0
        usage = cpu.stop()
    finally:
        agent.stop()
    return {
        "window_s": window,
        "cpu_s": used,
        "percent_of_core": 100 * used / window,
        "cpu_cores": usage,
    }


# --------------------------------------------------------------------------- run


def run(plan: Plan, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runyard-agent-bench-") as tmp:
        root = Path(tmp)
        results: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_at_start": load(),
            },
            "plan": {**asdict(plan), "quick": quick},
        }
        stack = start_stack(root)
        log(f"server {stack.api}")
        agent: Agent | None = None
        try:
            repo = make_repo(root)
            agent = Agent(base_url(stack), root, "bench-agent", "--queue", "bench", "--cpu-only")
            agent.wait_log("registered as", 60)
            results["claim"] = measure_claim(stack, agent, repo, plan)
            c = results["claim"]["claim_to_first_ms"]
            log(f"(1) claim→first statement p50 {c['p50']:.0f} ms, max {c['max']:.0f} ms")
            results["spam"] = measure_spam(stack, agent, repo, root, plan)
            python = sorted((root / "agent-cache" / "venvs").glob("*/bin/python"))[0]
            results["logpath"] = measure_log_path(python, repo.path / "spam.py", plan.spam_runs)
            results["local_init"] = measure_local_init(stack, sys.executable, plan.local_runs)
            agent.stop()
            results["idle"] = measure_idle(stack, root, plan)
            log(f"(4) idle agent {results['idle']['percent_of_core']:.3f} % of a core")
            results["build"] = measure_builds(root, plan)
            results["machine"]["load_at_end"] = load()
        except BaseException:
            log(f"server log tail:\n{tail(stack.server_log)}")
            if agent is not None:
                log(f"agent log tail:\n{tail(agent.log_path)}")
            raise
        finally:
            if agent is not None:
                agent.stop()
            stop_stack(stack)
    return results


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "agent.json",
        quick_help="smaller run (about two minutes)",
        run=lambda quick: run(QUICK if quick else Plan(), quick),
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
