"""The real ``runyard`` CLI shows what a finished task produced: metrics, artifacts
(downloaded with their sha256 checked), its diff, and ``task show`` with both (issue 11).

The task is a real local run of ``tests/sdk_support.TRAIN`` (metrics per epoch, a
model artifact, an uncommitted change) recorded by the SDK.
"""

import hashlib
import json
from pathlib import Path

import pytest

from runyard.client import Client
from tests.integration.test_cli import cli, live, unique
from tests.sdk_support import make_repo, run_script
from tests.servers import ServerProcess

__all__ = ["live"]  # the module's server fixture, shared with test_cli


@pytest.fixture(scope="module")
def finished(live: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The id of a completed local run with metrics, an artifact and a diff."""
    repo = make_repo(tmp_path_factory.mktemp("results"))
    project = unique("results")
    done = run_script(repo / "train.py", project, "ok", server_url=live.url)
    assert done.returncode == 0, done.stderr
    with Client(live.url) as client:
        (task,) = client.tasks.list(project=project).items
    return task.id


def test_task_metrics_prints_final_values_series_points_and_json(
    live: ServerProcess, finished: str
) -> None:
    final = cli(live, "task", "metrics", finished[:8]).stdout
    points = cli(live, "task", "metrics", finished, "--series", "val/acc").stdout
    as_json = json.loads(cli(live, "task", "metrics", finished, "--json").stdout)
    series_json = json.loads(
        cli(live, "task", "metrics", finished, "--series", "val/acc", "--json").stdout
    )
    unknown = cli(live, "task", "metrics", finished, "--series", "val/acx", rc=2)

    assert final.splitlines()[0].split() == ["METRIC", "FINAL", "POINTS"]
    assert final.splitlines()[1].split() == ["val/acc", "0.6", "2"]
    assert [line.split()[:2] for line in points.splitlines()[1:]] == [["0", "0.5"], ["1", "0.6"]]
    assert as_json == {"val/acc": pytest.approx(0.6)}
    assert [p["step"] for p in series_json] == [0, 1]
    assert "has no such series (it has: val/acc)" in unknown.stderr


def test_task_artifacts_and_download_with_the_checksum(
    live: ServerProcess, finished: str, tmp_path: Path
) -> None:
    listed = cli(live, "task", "artifacts", finished).stdout
    (record,) = json.loads(cli(live, "task", "artifacts", finished, "--json").stdout)
    saved = cli(live, "task", "download", finished, "model.bin", "-o", str(tmp_path / "m.bin"))
    missing = cli(live, "task", "download", finished, "nothing.bin", "-o", str(tmp_path), rc=1)

    content = (tmp_path / "m.bin").read_bytes()
    assert content == b"weights" * 100
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert "model.bin" in listed and record["sha256"][:16] in listed
    assert "sha256 checked" in saved.stdout
    assert "nothing.bin" in missing.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["m.bin"]


def test_task_diff_prints_the_recorded_changes_and_show_has_results(
    live: ServerProcess, finished: str
) -> None:
    diff = cli(live, "task", "diff", finished).stdout
    shown = cli(live, "task", "show", finished).stdout

    assert 'print("uncommitted change applied")' in diff and "notes.txt" in diff
    assert "val/acc" in shown and "0.6" in shown
    assert "model.bin" in shown
