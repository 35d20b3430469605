"""Real git repositories for tests: scripts committed, then one uncommitted change."""

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Repo:
    """A git repository with one commit and an uncommitted ``diff`` on top of it."""

    path: Path
    commit: str
    diff: str


def commit_then_change(path: Path, files: dict[str, str], changed: str, appended: str) -> Repo:
    """Write ``files`` (relative path → text) and commit them, then append to ``changed``."""
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "scripts"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    with (path / changed).open("a") as handle:
        handle.write(appended)
    diff = subprocess.run(
        [*git, "diff", "--binary"], check=True, capture_output=True, text=True
    ).stdout
    return Repo(path=path, commit=commit, diff=diff)
