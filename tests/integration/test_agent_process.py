"""Task process trees: SIGTERM to the group, a grace period to checkpoint, then SIGKILL."""

import signal
import sys
import time
from pathlib import Path

import psutil

from runyard_agent.process import TaskProcess, describe_exit

CHECKPOINTS_ON_SIGTERM = """
import pathlib, signal, sys, time
step = 0
def stop(signum, frame):
    pathlib.Path(sys.argv[1]).write_text("saved at step %d" % step)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    step += 1
    time.sleep(0.01)
"""

IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(1)
"""

SPAWNS_A_GRANDCHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def start(tmp_path: Path, code: str, *args: str) -> TaskProcess:
    script = tmp_path / "task.py"
    script.write_text(code)
    return TaskProcess.start([sys.executable, str(script), *args], tmp_path, {"PATH": "/usr/bin"})


def first_line(process: TaskProcess) -> str:
    return process.stdout.readline().decode().strip()


def test_sigterm_lets_the_script_write_its_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.txt"
    process = start(tmp_path, CHECKPOINTS_ON_SIGTERM, str(checkpoint))
    assert first_line(process) == "ready"
    started = time.monotonic()
    code = process.terminate(grace_s=10)
    assert code == 0
    assert checkpoint.read_text().startswith("saved at step")
    assert time.monotonic() - started < 5


def test_a_script_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    process = start(tmp_path, IGNORES_SIGTERM)
    assert first_line(process) == "ready"
    started = time.monotonic()
    code = process.terminate(grace_s=1.0)
    elapsed = time.monotonic() - started
    assert code == -signal.SIGKILL
    assert 0.9 <= elapsed < 5
    assert describe_exit(code) == "killed by SIGKILL"


def test_stopping_kills_the_whole_process_group(tmp_path: Path) -> None:
    process = start(tmp_path, SPAWNS_A_GRANDCHILD)
    grandchild = psutil.Process(int(first_line(process)))
    process.terminate(grace_s=5)
    grandchild.wait(timeout=5)
    assert not grandchild.is_running()


def test_leftover_children_die_when_the_main_process_exits(tmp_path: Path) -> None:
    code = SPAWNS_A_GRANDCHILD.replace("time.sleep(600)\n", "", 1).replace(
        "print(child.pid, flush=True)\ntime.sleep(600)", "print(child.pid, flush=True)"
    )
    process = start(tmp_path, code)
    grandchild = psutil.Process(int(first_line(process)))
    assert process.wait(timeout=10) == 0
    grandchild.wait(timeout=5)
    assert not grandchild.is_running()


def test_the_task_runs_in_its_own_session(tmp_path: Path) -> None:
    process = start(tmp_path, "import os; print(os.getsid(0), os.getpgid(0), flush=True)")
    sid, pgid = map(int, first_line(process).split())
    assert sid == pgid == process.pid
    assert process.wait(timeout=10) == 0


def test_exit_codes_are_passed_through(tmp_path: Path) -> None:
    process = start(tmp_path, "import sys; sys.exit(3)")
    assert process.wait(timeout=10) == 3
    assert describe_exit(3) == "exit code 3"
