"""prepare_code against real git repositories in temporary directories."""

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.models.tasks import Script
from runyard_agent.environments.code import prepare_code
from runyard_agent.errors import EnvironmentBuildError

PNG = bytes(range(256)) * 4 + b"\x00\r\n\x00"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def record_diff(repo: Path) -> str:
    """The diff the SDK records: untracked files as intent-to-add, then the binary diff."""
    git(repo, "add", "--intent-to-add", ".")
    out = subprocess.run(
        ["git", "-C", str(repo), "diff", "--binary", "HEAD"], check=True, capture_output=True
    ).stdout
    return out.decode("utf-8", "surrogateescape")


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repository with two commits on main and a side branch."""
    repo = tmp_path / "user repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.name", "User")
    git(repo, "config", "user.email", "user@example.com")
    (repo / "train.py").write_text("print('v1')\n")
    (repo / "config.yaml").write_text("lr: 0.1\n")
    (repo / "logo.png").write_bytes(PNG)
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "v1")
    git(repo, "branch", "side")
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "commit", "--quiet", "-am", "v2")
    return repo


@pytest.fixture
def collected() -> list[str]:
    return []


@pytest.fixture
def prepare(tmp_path: Path, collected: list[str]) -> Callable[[Script], Path]:
    def run(script: Script) -> Path:
        return prepare_code(script, tmp_path / "work", tmp_path / "cache", collected.append)

    return run


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("noprefix", [True, False], ids=["noprefix", "prefixed"])
def test_checkout_applies_diff_with_modified_new_binary_and_staged_files(
    user_repo: Path, prepare: Callable[[Script], Path], noprefix: bool
) -> None:
    git(user_repo, "config", "diff.noprefix", str(noprefix).lower())
    commit = head(user_repo)
    (user_repo / "train.py").write_text("print('v2 edited')\n")
    (user_repo / "notes dir").mkdir()
    (user_repo / "notes dir" / "new file.txt").write_text("untracked\r\nwith crlf\n")
    (user_repo / "logo.png").write_bytes(PNG[::-1])
    (user_repo / "weights.bin").write_bytes(b"\x00\xff" * 300)
    (user_repo / "config.yaml").write_text("lr: 0.01\n")
    git(user_repo, "add", "config.yaml")
    diff = record_diff(user_repo)
    assert ("diff --git train.py train.py" in diff) is noprefix

    workdir = prepare(Script(repository=str(user_repo), commit=commit, diff=diff))

    assert (workdir / "train.py").read_text() == "print('v2 edited')\n"
    assert (workdir / "notes dir" / "new file.txt").read_bytes() == b"untracked\r\nwith crlf\n"
    assert (workdir / "logo.png").read_bytes() == PNG[::-1]
    assert (workdir / "weights.bin").read_bytes() == b"\x00\xff" * 300
    assert (workdir / "config.yaml").read_text() == "lr: 0.01\n"
    assert head(workdir) == commit


def test_checkout_ignores_the_agent_hosts_git_config(
    user_repo: Path,
    prepare: Callable[[Script], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "host home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[core]\n\tautocrlf = true\n[diff]\n\tnoprefix = true\n[apply]\n\twhitespace = error\n"
    )
    (user_repo / "train.py").write_text("print('trailing')   \n")
    script = Script(repository=str(user_repo), commit=head(user_repo), diff=record_diff(user_repo))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))

    workdir = prepare(script)

    assert (workdir / "train.py").read_bytes() == b"print('trailing')   \n"
    assert (workdir / "config.yaml").read_bytes() == b"lr: 0.1\n"


def test_branch_head_is_checked_out_when_no_commit_is_recorded(
    user_repo: Path, prepare: Callable[[Script], Path]
) -> None:
    side = prepare(Script(repository=str(user_repo), branch="side"))
    default = prepare(Script(repository=str(user_repo)))

    assert (side / "train.py").read_text() == "print('v1')\n"
    assert (default / "train.py").read_text() == "print('v2')\n"
    assert side != default


def test_mirror_is_reused_and_fetches_a_commit_it_lacks(
    user_repo: Path, prepare: Callable[[Script], Path], collected: list[str], tmp_path: Path
) -> None:
    prepare(Script(repository=str(user_repo), commit=head(user_repo)))
    (user_repo / "train.py").write_text("print('v3')\n")
    git(user_repo, "commit", "--quiet", "-am", "v3")
    collected.clear()

    workdir = prepare(Script(repository=str(user_repo), commit=head(user_repo)))

    assert (workdir / "train.py").read_text() == "print('v3')\n"
    assert any(line.startswith("git: fetching") for line in collected)
    assert len(list((tmp_path / "cache" / "git").glob("*.git"))) == 1
    assert git(workdir, "remote", "get-url", "origin").strip() == str(user_repo)


def test_unknown_commit_fails_at_clone_stage_with_gits_message(
    user_repo: Path, prepare: Callable[[Script], Path], tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(Script(repository=str(user_repo), commit="0123456789" * 4))

    assert caught.value.stage == "clone"
    assert "0123456789" * 4 in caught.value.message
    assert "not our ref" in caught.value.message or "couldn't find" in caught.value.message
    assert list((tmp_path / "work").iterdir()) == []


def test_unknown_branch_fails_at_clone_stage(
    user_repo: Path, prepare: Callable[[Script], Path]
) -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(Script(repository=str(user_repo), branch="nope"))

    assert caught.value.stage == "clone"
    assert "'nope'" in caught.value.message


def test_missing_repository_fails_at_clone_stage_with_gits_message(
    tmp_path: Path, prepare: Callable[[Script], Path]
) -> None:
    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(Script(repository=str(tmp_path / "no such repo")))

    assert caught.value.stage == "clone"
    assert "does not exist" in caught.value.message


def test_diff_that_does_not_apply_fails_at_diff_stage(
    user_repo: Path, prepare: Callable[[Script], Path]
) -> None:
    (user_repo / "train.py").write_text("print('edited')\n")
    diff = record_diff(user_repo).replace("-print('v2')", "-print('something else')")

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(Script(repository=str(user_repo), commit=head(user_repo), diff=diff))

    assert caught.value.stage == "diff"
    assert "patch failed" in caught.value.message


def test_script_without_repository_gets_only_its_diff(
    user_repo: Path, prepare: Callable[[Script], Path]
) -> None:
    (user_repo / "solo.py").write_text("print('solo')\n")
    diff = record_diff(user_repo)
    diff = diff[diff.index("diff --git a/solo.py") :]

    workdir = prepare(Script(diff=diff))

    assert (workdir / "solo.py").read_text() == "print('solo')\n"


def test_option_like_repository_is_refused_before_git_runs(
    prepare: Callable[[Script], Path],
) -> None:
    script = Script.model_construct(repository="--upload-pack=touch /tmp/pwned", diff="")

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(script)

    assert caught.value.stage == "clone"


def test_ext_transport_repository_runs_no_command(
    prepare: Callable[[Script], Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    with pytest.raises(EnvironmentBuildError) as caught:
        prepare(Script(repository=f"ext::sh -c touch% {marker}"))

    assert caught.value.stage == "clone"
    assert "transport 'ext' not allowed" in caught.value.message
    assert not marker.exists()


def test_two_tasks_preparing_the_same_repository_at_once_both_succeed(
    user_repo: Path, prepare: Callable[[Script], Path]
) -> None:
    script = Script(repository=str(user_repo), commit=head(user_repo))
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(prepare(script))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(results)) == 4
    assert all((path / "train.py").read_text() == "print('v2')\n" for path in results)
