"""Training scripts that use ``runyard.Task``, real git repositories for them, and running them.

The scripts run as real subprocesses of the test interpreter, pointed at a real server
with ``RUNYARD_SERVER``, exactly as a user runs a script on a laptop.
"""

import os
import subprocess
import sys
from pathlib import Path

# argv: PROJECT MODE [--bs N]. MODE: ok | raise | exit3 | remote QUEUE
TRAIN = """\
import argparse, random, sys
from runyard import Task

task = Task.init(project=sys.argv[1], name="train", requirements="requirements.txt")
cfg = task.connect({"lr": 0.1, "epochs": 2, "opt": {"name": "sgd"}, "amp": False})
parser = argparse.ArgumentParser()
parser.add_argument("project")
parser.add_argument("mode")
parser.add_argument("queue", nargs="?")
parser.add_argument("--bs", type=int, default=8)
args = task.connect(parser.parse_args())
print(f"lr={cfg['lr']!r} epochs={cfg['epochs']!r} opt={cfg['opt']['name']} "
      f"amp={cfg['amp']!r} bs={args.bs!r} draw={random.random()!r}")
if args.mode == "remote":
    print("recorded as", task.id)
    task.execute_remotely(queue=args.queue, create_queue=True)
    print("still running locally")
for epoch in range(cfg["epochs"]):
    task.log_metric("val/acc", 0.5 + epoch * cfg["lr"], step=epoch)
    print(f"epoch {epoch}", end="\\r" if epoch == 0 else "\\n")
with open("model.bin", "wb") as out:
    out.write(b"weights" * 100)
task.upload_artifact("model.bin", "model.bin")
if args.mode == "raise":
    raise ValueError("loss exploded")
if args.mode == "exit3":
    sys.exit(3)
print("done")
"""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with no user or system configuration."""
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@e.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return done.stdout


def make_repo(root: Path, script: str = TRAIN, requirements: str = "") -> Path:
    """A git repo with ``train.py`` committed, then an uncommitted edit and a new file."""
    repo = root / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(script)
    (repo / "requirements.txt").write_text(requirements)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "train")
    with (repo / "train.py").open("a") as handle:
        handle.write('print("uncommitted change applied")\n')
    (repo / "notes.txt").write_text("an untracked file\n")
    return repo


def run_script(
    script: Path,
    *args: str,
    server_url: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``python script ARGS`` in the script's folder, as a user would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    clean.update(RUNYARD_SERVER=server_url, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [sys.executable, script.name, *args],
        cwd=script.parent,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
