"""A tiny stand-in for a training script, used by `make demo`.

It reads its hyperparameters from the task the agent runs (so a clone with a
changed parameter really changes what it does) and prints a progress bar and
a final metric.
"""

import os
import random
import sys
import time

from runyard.client import Client


def load_params() -> dict[str, object]:
    defaults: dict[str, object] = {"lr": 0.1, "epochs": 3, "seed": 7}
    task_id = os.environ.get("RUNYARD_TASK_ID")
    if task_id:
        defaults.update(Client().tasks.get(task_id).params.get("General", {}))
    return defaults


def main() -> None:
    params = load_params()
    lr, epochs = float(str(params["lr"])), int(str(params["epochs"]))
    random.seed(int(str(params["seed"])))
    print(f"training with lr={lr} epochs={epochs} on python {sys.version.split()[0]}")
    loss = 1.0
    for epoch in range(1, epochs + 1):
        for step in range(0, 101, 25):
            print(f"\repoch {epoch} [{'#' * (step // 10):<10}] {step}%", end="", flush=True)
            time.sleep(0.05)
        loss *= 1 - min(lr * 4, 0.9) * random.uniform(0.8, 1.0)
        print(f"\nepoch {epoch}: loss={loss:.4f}")
    print(f"final val_acc={1 - loss / 2:.4f}")


if __name__ == "__main__":
    main()
