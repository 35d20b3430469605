"""The task scripts the browser tests run on a real agent, in a real git repository."""

from pathlib import Path

from tests.gitrepo import Repo, commit_then_change

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


def make_experiment(root: Path) -> Repo:
    path = root / "experiment"
    path.mkdir()
    appended = 'print("uncommitted change applied", flush=True)\n'
    return commit_then_change(path, {"train.py": TRAIN}, "train.py", appended)
