"""Recording a working copy's code: commit, branch, remote and the uncommitted diff."""

import os
import subprocess
from pathlib import Path

import pytest

from runyard.capture.git import (
    capture_repository,
    capture_script,
    needs_bundle,
    strip_credentials,
)

PNG = bytes(range(256)) * 4  # not text: git records it as a binary patch


def git(repo: Path, *args: str, text: bool = True) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@e.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        env=env,
    )
    return done.stdout.decode() if text else ""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo with two committed files, then: one staged edit, one unstaged, new files."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('v1')\n")
    (path / "lib.py").write_text("X = 1\n")
    (path / ".gitignore").write_text("*.ckpt\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "init")
    (path / "lib.py").write_text("X = 2\n")
    git(path, "add", "lib.py")
    (path / "train.py").write_text("print('v2')\n")
    (path / "new_module.py").write_text("Y = 3\n")
    (path / "logo.png").write_bytes(PNG)
    (path / "model.ckpt").write_bytes(b"ignored" * 100)
    return path


def apply_to_fresh_clone(repo: Path, commit: str | None, diff: str, into: Path) -> Path:
    git(repo.parent, "clone", "-q", str(repo), str(into))
    if commit:
        git(into, "checkout", "-q", "--detach", commit)
    subprocess.run(["git", "-C", str(into), "apply", "--binary"], input=diff.encode(), check=True)
    return into


def test_diff_has_staged_unstaged_and_untracked_text_and_binary_and_applies(
    repo: Path, tmp_path: Path
) -> None:
    state = capture_repository(repo)
    assert state.repository == str(repo.resolve())
    assert state.branch == "main"
    assert state.commit == git(repo, "rev-parse", "HEAD").strip()
    assert state.warnings == ()
    assert "GIT binary patch" in state.diff
    assert "model.ckpt" not in state.diff
    copy = apply_to_fresh_clone(repo, state.commit, state.diff, tmp_path / "copy")
    for name in ("train.py", "lib.py", "new_module.py", "logo.png"):
        assert (copy / name).read_bytes() == (repo / name).read_bytes(), name
    assert not (copy / "model.ckpt").exists()


def test_capture_leaves_the_users_index_and_status_untouched(repo: Path) -> None:
    status = git(repo, "status", "--porcelain")  # refreshes the index's stat data first
    index = (repo / ".git" / "index").read_bytes()
    capture_repository(repo)
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "status", "--porcelain") == status
    assert "?? new_module.py" in status


def test_user_diff_config_does_not_change_the_format(repo: Path) -> None:
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "diff.mnemonicprefix", "true")
    git(repo, "config", "color.diff", "always")
    git(repo, "config", "diff.external", "/bin/false")
    diff = capture_repository(repo).diff
    assert "diff --git a/lib.py b/lib.py" in diff
    assert "--- a/train.py" in diff
    assert "\x1b[" not in diff


def test_untracked_files_over_the_limit_are_left_out_with_one_warning(repo: Path) -> None:
    (repo / "dataset.bin").write_bytes(b"x" * 50_000)
    state = capture_repository(repo, max_diff_bytes=20_000)
    assert len(state.warnings) == 1
    assert "untracked files" in state.warnings[0]
    assert "dataset.bin" in state.warnings[0]
    assert "new_module.py" not in state.diff  # every untracked file goes, not just the big one
    assert "diff --git a/lib.py" in state.diff


def test_tracked_changes_over_the_limit_record_no_diff_and_say_so(repo: Path) -> None:
    (repo / "lib.py").write_text("X = 1\n" * 10_000)
    state = capture_repository(repo, max_diff_bytes=5_000)
    assert state.diff == ""
    assert len(state.warnings) == 1
    assert "over the 5000-byte limit" in state.warnings[0]


def test_non_utf8_text_is_recorded_as_a_binary_patch_that_applies(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    state = capture_repository(repo)
    state.diff.encode("utf-8")
    copy = apply_to_fresh_clone(repo, state.commit, state.diff, tmp_path / "copy")
    assert (copy / "latin1.txt").read_bytes() == "café\n".encode("latin-1")


def test_a_repository_without_commits_diffs_against_the_empty_tree(tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    path.mkdir()
    git(path, "init", "-q")
    (path / "a.py").write_text("A = 1\n")
    state = capture_repository(path)
    assert state.commit is None
    assert "new file mode" in state.diff and "+A = 1" in state.diff


def test_remote_url_is_recorded_without_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://bob:s3cret@example.com/org/repo.git")
    state = capture_repository(repo)
    assert state.repository == "https://example.com/org/repo.git"
    # The commit is on no branch of that remote: the SDK and CLI ship it as a bundle.
    assert state.commit is not None and needs_bundle(repo, state.commit)
    assert strip_credentials("git@github.com:org/repo.git") == "git@github.com:org/repo.git"


def test_script_in_a_subfolder_records_entry_point_and_working_dir(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "run.py").write_text("pass\n")
    script, _ = capture_script(repo / "src" / "run.py", ["--lr", "1"], repo / "src")
    assert script.entry_point == "src/run.py"
    assert script.working_dir == "src"
    assert script.args == ["--lr", "1"]


def test_script_outside_git_is_recorded_as_a_diff_creating_it(tmp_path: Path) -> None:
    (tmp_path / "solo").mkdir()
    source = "import sys\nprint('alone', sys.argv)"  # no newline at the end
    (tmp_path / "solo" / "solo.py").write_text(source)
    script, warnings = capture_script(tmp_path / "solo" / "solo.py", [], tmp_path)
    assert (script.repository, script.commit, script.entry_point) == ("", None, "solo.py")
    assert warnings == ()
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    subprocess.run(["git", "-C", str(empty), "apply"], input=script.diff.encode(), check=True)
    assert (empty / "solo.py").read_text() == source


def test_a_same_size_edit_in_the_same_second_as_the_index_is_seen(tmp_path: Path) -> None:
    """The index copy keeps its mtime, so git's "racy clean" check still re-reads the file."""
    path = tmp_path / "racy"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "core.trustctime", "false")  # only mtime and size tell the change
    past = 1_600_000_000_000_000_000
    (path / "a.py").write_text("A = 1\n")
    os.utime(path / "a.py", ns=(past, past))
    git(path, "add", "a.py")
    git(path, "commit", "-qm", "a")
    (path / "a.py").write_text("A = 2\n")
    os.utime(path / "a.py", ns=(past, past))
    os.utime(path / ".git" / "index", ns=(past, past))
    assert "+A = 2" in capture_repository(path).diff
