"""A tiny stand-in for a training script, used by `make demo`.

``task.connect`` returns the task's own hyperparameters when an agent runs it (so
a clone with a changed parameter really changes what it does); run by hand, it
records the script as a local run. It prints a progress bar and logs metrics.
"""

import random
import sys
import time

from runyard import Task


def main() -> None:
    task = Task.init(project="demo", name="baseline", requirements="requirements.txt")
    params = task.connect({"lr": 0.1, "epochs": 3, "seed": 7})
    lr, epochs = params["lr"], params["epochs"]
    random.seed(params["seed"])
    print(f"training with lr={lr} epochs={epochs} on python {sys.version.split()[0]}")
    loss = 1.0
    for epoch in range(1, epochs + 1):
        for step in range(0, 101, 25):
            print(f"\repoch {epoch} [{'#' * (step // 10):<10}] {step}%", end="", flush=True)
            time.sleep(0.05)
        loss *= 1 - min(lr * 4, 0.9) * random.uniform(0.8, 1.0)
        print(f"\nepoch {epoch}: loss={loss:.4f}")
        task.log_metric("loss", loss, step=epoch)
    task.log_metric("val_acc", 1 - loss / 2)
    print(f"final val_acc={1 - loss / 2:.4f}")


if __name__ == "__main__":
    main()
