"""The task scripts the browser tests run on a real agent, in a real git repository."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Reads its params from its task (as a clone gets them), prints them with their JSON
# types, logs metric curves, and with ``--gate FILE`` waits for that file before its
# last line, so a test can print a line after the browser has loaded the page.
TRAIN = """\
import argparse, json, math, os, time
import requests
from runyard.client import Client

parser = argparse.ArgumentParser()
parser.add_argument("--gate")
args = parser.parse_args()
task_id = os.environ["RUNYARD_TASK_ID"]
params = Client().tasks.get(task_id).params.get("General", {})
shown = [f"{k}={json.dumps(v)} ({type(v).__name__})" for k, v in params.items()]
print("params " + " ".join(shown), flush=True)
lr, epochs = float(params.get("lr", 0.1)), int(params.get("epochs", 3))
url = os.environ["RUNYARD_SERVER"].rstrip("/") + f"/api/v1/tasks/{task_id}/metrics"
token = os.environ.get("RUNYARD_TOKEN")
headers = {"Authorization": "Bearer " + token} if token else {}
points = []
for epoch in range(epochs):
    loss = math.exp(-lr * 3 * (epoch + 1))
    now = time.time()
    points += [
        {"series": "train/loss", "value": loss, "step": epoch, "ts": now},
        {"series": "val/acc", "value": 1 - loss / 2, "step": epoch, "ts": now},
    ]
    print(f"epoch {epoch}: loss={loss:.4f}", flush=True)
requests.post(url, json={"points": points}, headers=headers, timeout=10).raise_for_status()
summary = json.dumps({"lr": lr, "final_loss": loss}).encode()
artifact = url.replace("/metrics", "/artifacts/summary.json")
requests.post(artifact, data=summary, headers=headers, timeout=10).raise_for_status()
if args.gate:
    print("waiting for the gate", flush=True)
    while not os.path.exists(args.gate):
        time.sleep(0.1)
    print("gate opened: printed after the page loaded", flush=True)
print(f"final lr={lr}", flush=True)
"""


@dataclass
class Experiment:
    """A git repository holding ``train.py`` at ``commit`` plus an uncommitted ``diff``."""

    path: Path
    commit: str
    diff: str


def make_experiment(root: Path) -> Experiment:
    path = root / "experiment"
    path.mkdir()
    (path / "train.py").write_text(TRAIN)
    git = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    with (path / "train.py").open("a") as handle:
        handle.write('print("uncommitted change applied", flush=True)\n')
    diff = subprocess.run(
        [*git, "diff", "--binary"], check=True, capture_output=True, text=True
    ).stdout
    return Experiment(path=path, commit=commit, diff=diff)
