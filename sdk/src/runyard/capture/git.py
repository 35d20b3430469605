"""The code of a run: repository, commit, branch and the uncommitted changes as a diff.

The diff covers staged, unstaged and new untracked files (``.gitignore`` respected)
and is recorded without touching the user's index: a copy of ``.git/index`` is
given to git as ``GIT_INDEX_FILE``, ``git add -A`` stages the work tree into that
copy, and ``git diff --binary --cached`` compares it with ``HEAD``. ``git add``
writes blobs of changed files into the object database; those are unreferenced
loose objects that ``git gc`` prunes, never a change to the user's branch or index.

Every command overrides the configuration that would change the diff's format
(``diff.noprefix``, external diff drivers, colours, path quoting), so what the agent
applies is what git would produce with no configuration at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from runyard.models import Script
from runyard.models.limits import MAX_DIFF_BYTES

_CONFIG = (
    "diff.noprefix=false",
    "diff.mnemonicprefix=false",
    "diff.external=",
    "diff.renames=true",
    "core.quotepath=false",
    "core.fsmonitor=false",
    "color.ui=false",
    "advice.addEmbeddedRepo=false",
)
_DIFF_FLAGS = (
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=all",
)
_TIMEOUT_S = 120
# Marks every file binary for `git diff`, so a non-UTF-8 text file becomes a base85 patch.
_ALL_BINARY = "* -diff\n"


class GitError(Exception):
    """Raised when a git command fails in a repository that exists."""


@dataclass(frozen=True)
class RepoState:
    """Where a working copy's code comes from and how it differs from its commit."""

    root: Path
    repository: str
    commit: str | None
    branch: str | None
    diff: str
    warnings: tuple[str, ...] = ()


def find_root(start: Path) -> Path | None:
    """The top of the git work tree containing ``start``; None outside git or without git."""
    try:
        out = _git(start, "rev-parse", "--show-toplevel")
    except (GitError, FileNotFoundError):
        return None
    return Path(out.decode().strip()).resolve()


def capture_repository(root: Path, max_diff_bytes: int = MAX_DIFF_BYTES) -> RepoState:
    """Remote (or local path), commit, branch and uncommitted diff of the repo at ``root``."""
    commit = _optional(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    branch = _optional(root, "symbolic-ref", "--short", "--quiet", "HEAD")
    url = _remote_url(root, branch)
    warnings: list[str] = []
    diff, warning = _uncommitted_diff(root, commit, max_diff_bytes)
    if warning:
        warnings.append(warning)
    return RepoState(root, url or str(root), commit, branch, diff, tuple(warnings))


def needs_bundle(root: Path, commit: str) -> bool:
    """True when no remote-tracking branch holds ``commit`` (or the repo has no remote):
    an agent elsewhere can then get it only from a bundle (see :func:`write_bundle`)."""
    return not _optional(root, "branch", "--remotes", "--contains", commit)


def write_bundle(root: Path, dest: Path) -> None:
    """Write the commits of ``HEAD`` that no remote-tracking branch has as a git bundle.

    Its one ref is ``HEAD``; commits a remote has are left out as prerequisites, which
    the agent's mirror of that remote provides. Refs and index are left untouched.
    """
    _git(root, "bundle", "create", str(dest), "HEAD", "--not", "--remotes")


def capture_script(
    script: Path, args: list[str], cwd: Path, max_diff_bytes: int = MAX_DIFF_BYTES
) -> tuple[Script, tuple[str, ...]]:
    """The :class:`Script` to rerun ``script`` with ``args``, and warnings for the user.

    Inside git: the repository state, the entry point relative to its root and the
    working dir when ``cwd`` is inside it. Outside git: no repository, and the script
    itself recorded as a diff that creates it, which the agent applies to an empty folder.
    """
    script = script.resolve()
    root = find_root(script.parent)
    if root is None:
        diff = new_file_diff(script.name, script.read_bytes())
        return Script(diff=diff, entry_point=script.name, args=args), ()
    state = capture_repository(root, max_diff_bytes)
    working_dir = "."
    if cwd.resolve().is_relative_to(root):
        working_dir = cwd.resolve().relative_to(root).as_posix() or "."
    recorded = Script(
        repository=state.repository,
        commit=state.commit,
        branch=state.branch,
        diff=state.diff,
        entry_point=script.relative_to(root).as_posix(),
        working_dir=working_dir,
        args=args,
    )
    return recorded, state.warnings


def new_file_diff(name: str, content: bytes) -> str:
    """A git patch that creates the text file ``name`` with ``content``."""
    header = f"diff --git a/{name} b/{name}\nnew file mode 100644\n"
    if not content:
        return header
    # Python source is UTF-8 unless it declares otherwise; an odd byte must not stop the run.
    lines = content.decode("utf-8", "replace").split("\n")
    last = lines.pop()
    body = "".join(f"+{line}\n" for line in lines)
    if last:
        lines.append(last)
        body += f"+{last}\n\\ No newline at end of file\n"
    return header + f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n" + body


def strip_credentials(url: str) -> str:
    """``https://user:token@host/repo`` → ``https://host/repo``: secrets stay off the record."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


def _remote_url(root: Path, branch: str | None) -> str | None:
    remotes = (_optional(root, "remote") or "").split()
    if not remotes:
        return None
    tracked = _optional(root, "config", f"branch.{branch}.remote") if branch else None
    remote = tracked if tracked in remotes else "origin" if "origin" in remotes else remotes[0]
    url = _optional(root, "remote", "get-url", "--", remote)
    return strip_credentials(url) if url else None


def _uncommitted_diff(root: Path, commit: str | None, limit: int) -> tuple[str, str | None]:
    """The diff within ``limit`` bytes, and the one warning when something was left out."""
    untracked = _untracked(root)
    untracked_bytes = sum(size for _, size in untracked)
    with_untracked = untracked_bytes <= limit
    diff = _staged_diff(root, commit, with_untracked)
    if with_untracked and untracked and len(diff) > limit:
        with_untracked = False
        diff = _staged_diff(root, commit, with_untracked)
    text = _decode(root, commit, diff, with_untracked)
    if len(text.encode()) > limit:
        return "", (
            f"the uncommitted changes are {len(diff)} bytes, over the {limit}-byte limit: "
            f"recorded without them, so a rerun uses commit {commit or '(none)'} as it is. "
            "Commit the changes, or keep large files out of the repository (.gitignore)."
        )
    if not with_untracked and untracked:
        names = ", ".join(path for path, _ in untracked[:5])
        more = f" and {len(untracked) - 5} more" if len(untracked) > 5 else ""
        return text, (
            f"{len(untracked)} untracked files ({untracked_bytes} bytes: {names}{more}) would "
            f"put the diff over the {limit}-byte limit: recorded without them. Commit the ones "
            "the script needs and add the rest to .gitignore."
        )
    return text, None


def _decode(root: Path, commit: str | None, diff: bytes, with_untracked: bool) -> str:
    try:
        return diff.decode("utf-8")
    except UnicodeDecodeError:
        # Task records are UTF-8: text files in another encoding go as binary patches.
        return _staged_diff(root, commit, with_untracked, all_binary=True).decode("utf-8")


def _untracked(root: Path) -> list[tuple[str, int]]:
    out = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    found = []
    for raw in out.split(b"\0"):
        if raw:
            path = os.fsdecode(raw)
            try:
                found.append((path, (root / path).lstat().st_size))
            except OSError:
                continue
    return found


def _staged_diff(
    root: Path, commit: str | None, with_untracked: bool, *, all_binary: bool = False
) -> bytes:
    real_index = root / _git(root, "rev-parse", "--git-path", "index").decode().strip()
    with tempfile.TemporaryDirectory(prefix="runyard-index-") as scratch:
        index = Path(scratch) / "index"
        if real_index.is_file():
            # copy2 keeps the mtime: git re-reads files changed in the same second as the
            # index was written ("racy git") only when it sees the index's real mtime.
            shutil.copy2(real_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        extra: tuple[str, ...] = ()
        if all_binary:
            attributes = Path(scratch) / "attributes"
            attributes.write_text(_ALL_BINARY)
            extra = ("-c", f"core.attributesFile={attributes}")
        _git(root, "add", "-A" if with_untracked else "-u", "--", ".", env=env)
        base = commit or _empty_tree(root)
        return _git(root, *extra, "diff", "--cached", *_DIFF_FLAGS, base, "--", env=env)


def _empty_tree(root: Path) -> str:
    return _git(root, "hash-object", "-t", "tree", "--stdin", stdin=b"").decode().strip()


def _optional(root: Path, *args: str) -> str | None:
    """Output of a git query, or None when it fails (no commit yet, detached head...)."""
    try:
        return _git(root, *args).decode(errors="replace").strip() or None
    except GitError:
        return None


def _git(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> bytes:
    config = [item for pair in _CONFIG for item in ("-c", pair)]
    base = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    base.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_TERMINAL_PROMPT="0", **(env or {}))
    done = subprocess.run(
        ["git", *config, *args],
        cwd=cwd,
        env=base,
        input=stdin,
        capture_output=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise GitError(f"git {' '.join(args)}: {message or f'exit code {done.returncode}'}")
    return done.stdout
