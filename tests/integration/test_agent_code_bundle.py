"""prepare_code with a code bundle: the commit comes from the bundle when the recorded
repository is gone, and a bundle that cannot be downloaded is a clear build failure."""

import shutil
from pathlib import Path

import pytest

from runyard.errors import NotFoundError
from runyard.models.tasks import Script
from runyard_agent.environments.code import prepare_code
from runyard_agent.errors import EnvironmentBuildError
from tests.integration.test_agent_code import git, user_repo

__all__ = ["user_repo"]

SHA = "ab" * 32


def test_the_commit_comes_from_the_bundle_when_the_repository_is_gone(
    user_repo: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "code.bundle"
    git(user_repo, "bundle", "create", str(bundle), "HEAD")
    commit = git(user_repo, "rev-parse", "HEAD").strip()
    script = Script(repository=str(user_repo), commit=commit, entry_point="train.py", bundle=SHA)
    shutil.rmtree(user_repo)
    asked: list[str] = []
    lines: list[str] = []

    def download(sha256: str, dest: Path) -> None:
        asked.append(sha256)
        shutil.copy(bundle, dest)

    for _ in range(2):  # the second run finds the commit in the mirror
        workdir = prepare_code(
            script, tmp_path / "work", tmp_path / "cache", lines.append, download
        )
        assert (workdir / "train.py").read_text() == "print('v2')\n"

    assert asked == [SHA]
    assert any("cannot be cloned here" in line for line in lines)
    assert sum("from the task's code bundle" in line for line in lines) == 1


def test_a_bundle_that_cannot_be_downloaded_fails_the_build_clearly(tmp_path: Path) -> None:
    script = Script(repository=str(tmp_path / "gone"), commit="ab" * 20, bundle=SHA)

    def download(sha256: str, dest: Path) -> None:
        raise NotFoundError(404, "not_found", f"code bundle {sha256} does not exist")

    with pytest.raises(EnvironmentBuildError, match="code bundle could not be downloaded"):
        prepare_code(script, tmp_path / "work", tmp_path / "cache", lambda _: None, download)
