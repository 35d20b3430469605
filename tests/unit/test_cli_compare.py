"""``task compare`` rows and markers, ``task reproduce``'s verdict, the console copy."""

from datetime import UTC, datetime

from runyard._console import Tee
from runyard.cli.compare import (
    code_rows,
    installed_rows,
    metric_rows,
    package_rows,
    params_rows,
    render,
)
from runyard.cli.reproduce import compare_finals
from runyard.models import Environment, InstalledPackage, Script, Task, TaskStatus


def task(tid: str, lr: float, requirements: list[str], diff: str = "") -> Task:
    return Task(
        id=tid * 32,
        status=TaskStatus.COMPLETED,
        created=datetime(2024, 1, 1, tzinfo=UTC),
        params={"General": {"lr": lr, "opt": {"name": "sgd"}}},
        script=Script(repository="/r", commit="ab" * 20, diff=diff, entry_point="t.py"),
        environment=Environment(python="3.11.7", requirements=requirements),
    )


def test_installed_rows_compare_versions_only_between_tasks_that_recorded_them() -> None:
    a, b, local = task("a", 0.1, []), task("b", 0.1, []), task("c", 0.1, [])
    a.environment.installed = [
        InstalledPackage(name="numpy", version="1.26.4"),
        InstalledPackage(name="acme", version="0.3.0", path="."),
    ]
    b.environment.installed = [InstalledPackage(name="numpy", version="2.0.0")]
    rows = installed_rows([a, b, local])
    assert rows["numpy"] == ["1.26.4", "2.0.0", "-"]
    assert rows["acme"] == ["0.3.0 (repo: .)", "-", "-"]
    assert installed_rows([a, local]) == {}  # a local run has no record: nothing to compare


def test_rows_flatten_params_and_mark_only_what_differs() -> None:
    a = task("a", 0.1, ["numpy==1.26.4", "six==1.16.0"])
    b = task("b", 0.01, ["NumPy==2.0.0", "six==1.16.0"], diff="diff --git a/t.py b/t.py\n")
    params = params_rows([a, b])
    assert params == {"General/lr": ["0.1", "0.01"], "General/opt/name": ["sgd", "sgd"]}
    assert package_rows([a, b])["numpy"] == ["numpy==1.26.4", "NumPy==2.0.0"]
    assert code_rows([a, b])["diff"][0] == "none"
    assert code_rows([a, b])["diff"][1].startswith("1 file(s), ")
    blocks = {
        "params": params,
        "packages": package_rows([a, b]),
        "metrics": metric_rows([{"acc": 0.9}, {"acc": 0.9}]),
    }
    plain = render([a, b], blocks, color=False, show_same_packages=False)
    marked = [line.split()[1] for line in plain.splitlines() if line.startswith("* ")]
    assert marked == ["General/lr", "numpy"]
    assert "(1 identical packages not shown; --all lists them)" in plain
    assert "\033[" not in plain
    colored = render([a, b], blocks, color=True, show_same_packages=True)
    assert "\033[1;33m* General/lr" in colored
    assert "six" in colored


def test_reproduce_matches_within_the_tolerance_and_never_with_a_missing_series() -> None:
    rows = compare_finals({"acc": 0.9, "loss": 0.1}, {"acc": 0.9 + 1e-9, "f1": 0.5}, 1e-6)
    assert [(r["series"], r["match"]) for r in rows] == [
        ("acc", True),
        ("f1", False),
        ("loss", False),
    ]


def test_console_copy_splits_lines_on_newlines_and_carriage_returns() -> None:
    class Sink:
        def __init__(self) -> None:
            self.written = ""

        def write(self, text: str) -> int:
            self.written += text
            return len(text)

    lines: list[tuple[str, str]] = []
    stream = Sink()
    tee = Tee(stream, "stdout", lambda name, texts: lines.extend((name, t) for t in texts))  # type: ignore[arg-type]
    tee.write("progress 10%\rprogress 20%\r")
    tee.write("\nepoch 1 done\nlast")
    tee.drain()
    assert stream.written == "progress 10%\rprogress 20%\r\nepoch 1 done\nlast"
    texts = ["progress 10%", "progress 20%", "epoch 1 done", "last"]
    assert lines == [("stdout", text) for text in texts]
