"""``runyard task create --repo DIR --requirements FILE`` reads a relative FILE from the
repository's root, as ``Task.init(requirements=FILE)`` does (issue 11)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from runyard.client import Client
from tests.integration.test_cli import live
from tests.sdk_support import make_repo
from tests.servers import ServerProcess

__all__ = ["live"]  # the module's server fixture, shared with test_cli

RUNYARD = Path(sys.executable).with_name("runyard")


def test_a_relative_requirements_file_is_read_from_the_repo_root(
    live: ServerProcess, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path, requirements="six==1.16.0\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "RUNYARD_SERVER": live.url, "RUNYARD_TOKEN": ""}
    argv = ["task", "create", "--repo", str(repo), "--script", "train.py"]

    done = subprocess.run(
        [str(RUNYARD), *argv, "--requirements", "requirements.txt", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    with Client(live.url) as client:
        task = client.tasks.get(json.loads(done.stdout)["id"])
    assert task.environment.requirements == ["six==1.16.0"]
