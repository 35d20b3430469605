"""The task's code: a commit of its repository checked out, with the recorded diff applied.

Each repository has one bare mirror under ``<cache_dir>/git/<key>.git`` (``key`` is a
hash of the repository string, so URLs and local paths are treated alike). The
mirror is created by cloning into a scratch directory and renaming it into place,
and every change to it (create, fetch) happens under an exclusive ``flock``; work
dirs are cloned from it with ``--shared`` under a shared lock. Because work dirs
borrow the mirror's objects, the mirror never runs ``gc`` (``gc.auto=0``).

A commit no remote has comes with ``script.bundle``: the sha256 of a git bundle on
the server. When the mirror cannot get the commit from the repository (or cannot
clone it at all: a local path of another machine), the bundle is downloaded into the
cache once and fetched into the mirror, so the checkout below does not change.
"""

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from runyard.errors import RunyardError
from runyard.models.tasks import Script
from runyard_agent.environments._git import Git
from runyard_agent.environments._locks import file_lock
from runyard_agent.errors import EnvironmentBuildError

Log = Callable[[str], None]
FetchBundle = Callable[[str, Path], object]
"""Downloads the code bundle with this sha256 to this path (the agent's API client)."""

_FULL_OBJECT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def prepare_code(
    script: Script,
    work_root: Path,
    cache_dir: Path,
    log: Log,
    fetch_bundle: FetchBundle | None = None,
) -> Path:
    """Check out ``script``'s code into a new directory under ``work_root`` and return it.

    The commit (or the head of ``script.branch``, or the repository's default head when
    both are unset) is checked out detached, then ``script.diff`` is applied. A script
    without a repository gets an empty git work dir with only its diff applied.
    The caller owns the returned directory and removes it when the task is done.

    Raises EnvironmentBuildError with stage ``clone`` (mirror, fetch, checkout) or
    ``diff`` (the recorded diff does not apply), carrying git's own message.
    """
    _refuse_options(script)
    git = Git(cache_dir / "git-home")
    work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="code-", dir=work_root))
    try:
        if script.repository:
            bundle = None
            if script.bundle is not None and fetch_bundle is not None:
                bundle = _Bundle(git, cache_dir / "git", script.bundle, fetch_bundle, log)
            mirror = _ensure_mirror(git, script, cache_dir / "git", log, bundle)
            _checkout(git, mirror, script, workdir, log)
        else:
            log("no repository recorded: starting from an empty work dir")
            git.run(["init", "--quiet", "--", str(workdir)], stage="clone")
        if script.diff.strip():
            _apply_diff(git, workdir, script.diff, log)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


def _refuse_options(script: Script) -> None:
    # The model validates this too; the agent re-checks because the values become git argv.
    for name, value in (("repository", script.repository), ("branch", script.branch)):
        if value and value.startswith("-"):
            raise EnvironmentBuildError("clone", f"{name} {value!r} starts with '-'")


def _redact(repository: str) -> str:
    """The repository for logs, without any ``user:token@`` part of a URL."""
    parts = urlsplit(repository)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return repository


@dataclass(frozen=True)
class _Bundle:
    """The task's code bundle: downloaded once into the cache, fetched into a mirror."""

    git: Git
    mirrors: Path
    sha256: str
    download: FetchBundle
    log: Log

    def fetch_into(self, mirror: Path, commit: str) -> None:
        """Fetch the bundle's commits into ``mirror``; EnvironmentBuildError without ``commit``."""
        path = self.mirrors / "bundles" / f"{self.sha256}.bundle"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.download(self.sha256, path)
            except (RunyardError, OSError) as exc:
                raise EnvironmentBuildError(
                    "clone", f"the task's code bundle could not be downloaded: {exc}"
                ) from exc
        self.log(f"git: fetching commit {commit[:12]} from the task's code bundle")
        ref = f"+HEAD:refs/runyard/bundles/{self.sha256[:16]}"
        args = ["-C", str(mirror), "fetch", "--quiet", str(path), ref]
        result = self.git.try_run(args, stage="clone")
        if result.returncode != 0 or not _has_commit(self.git, mirror, commit):
            detail = result.stderr.decode(errors="replace").strip() or "it does not hold it"
            raise EnvironmentBuildError(
                "clone", f"commit {commit} could not be fetched from the code bundle: {detail}"
            )


def _ensure_mirror(
    git: Git, script: Script, mirrors: Path, log: Log, bundle: _Bundle | None
) -> Path:
    key = hashlib.sha256(script.repository.encode()).hexdigest()[:32]
    mirror = mirrors / f"{key}.git"
    shown = _redact(script.repository)
    with file_lock(mirrors / f"{key}.lock"):
        if not (mirror / "HEAD").is_file():
            log(f"git: creating mirror of {shown}")
            scratch = mirrors / f"{key}.git.partial"
            shutil.rmtree(scratch, ignore_errors=True)
            args = ["clone", "--mirror", "--quiet", "--", script.repository, str(scratch)]
            if not _git_ok(git, args, strict=bundle is None):
                log(f"git: {shown} cannot be cloned here; the mirror starts empty")
                git.run(["init", "--bare", "--quiet", "--", str(scratch)], stage="clone")
            scratch.rename(mirror)
        elif script.commit is None or not _has_commit(git, mirror, script.commit):
            log(f"git: fetching {shown}")
            args = ["-C", str(mirror), "fetch", "--prune", "--quiet", "origin"]
            _git_ok(git, args, strict=bundle is None)
        else:
            log(f"git: mirror of {shown} already has {script.commit}")
        if script.commit is not None and not _has_commit(git, mirror, script.commit):
            if bundle is not None:
                bundle.fetch_into(mirror, script.commit)
            else:
                _fetch_commit(git, mirror, script.commit, shown)
    return mirror


def _git_ok(git: Git, args: list[str], *, strict: bool) -> bool:
    """Whether ``git args`` succeeded; ``strict`` raises its error instead of answering
    False (without a bundle to fall back on, an unreachable repository is the failure)."""
    if strict:
        git.run(args, stage="clone")
        return True
    return git.try_run(args, stage="clone").returncode == 0


def _has_commit(git: Git, mirror: Path, commit: str) -> bool:
    args = ["-C", str(mirror), "cat-file", "-e", f"{commit}^{{commit}}"]
    return git.try_run(args, stage="clone").returncode == 0


def _fetch_commit(git: Git, mirror: Path, commit: str, shown: str) -> None:
    """Fetch a commit no branch or tag points to (servers allow it when it is reachable)."""
    detail = "it is abbreviated, so it cannot be fetched on its own"
    if _FULL_OBJECT_ID.match(commit.lower()):
        args = ["-C", str(mirror), "fetch", "--quiet", "origin", commit]
        result = git.try_run(args, stage="clone")
        if result.returncode == 0 and _has_commit(git, mirror, commit):
            return
        detail = result.stderr.decode(errors="replace").strip() or "the fetch did not bring it"
    raise EnvironmentBuildError(
        "clone",
        f"commit {commit} is not in {shown} ({detail}); push it, or rerun from a pushed commit",
    )


def _checkout(git: Git, mirror: Path, script: Script, workdir: Path, log: Log) -> None:
    with file_lock(mirror.with_suffix(".lock"), shared=True):
        git.run(
            ["clone", "--quiet", "--shared", "--no-checkout", "--", str(mirror), str(workdir)],
            stage="clone",
        )
    # The task sees its real origin (the SDK records it again if the task creates tasks).
    git.run(["-C", str(workdir), "config", "remote.origin.url", script.repository], stage="clone")
    revision = _revision(git, script, workdir)
    log(f"git: checking out {revision}")
    git.run(["-C", str(workdir), "checkout", "--quiet", "--detach", revision, "--"], stage="clone")


def _revision(git: Git, script: Script, workdir: Path) -> str:
    if script.commit is not None:
        return script.commit
    if script.branch is None:
        return "HEAD"
    revision = f"refs/remotes/origin/{script.branch}"
    args = ["-C", str(workdir), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"]
    if git.try_run(args, stage="clone").returncode != 0:
        shown = _redact(script.repository)
        raise EnvironmentBuildError("clone", f"branch {script.branch!r} is not in {shown}")
    return revision


def _apply_diff(git: Git, workdir: Path, diff: str, log: Log) -> None:
    # surrogateescape round-trips bytes that were not UTF-8 when the diff was recorded.
    patch = diff.encode("utf-8", "surrogateescape")
    if not patch.endswith(b"\n"):
        patch += b"\n"
    strip = diff_strip_level(diff)
    log(f"git: applying the recorded diff ({len(patch)} bytes, -p{strip})")
    args = ["-C", str(workdir), "apply", "--binary", "--whitespace=nowarn", f"-p{strip}"]
    result = git.try_run(args, stage="diff", stdin=patch)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise EnvironmentBuildError(
            "diff", f"git apply failed: {stderr}; the recorded diff does not apply to the commit"
        )


def diff_strip_level(diff: str) -> int:
    """How many leading path components ``git apply -p`` must strip from ``diff``'s paths.

    1 for the usual ``a/`` ``b/`` (or mnemonic ``c/`` ``w/``) prefixes, 0 when the user
    recorded it with ``diff.noprefix=true``. Decided by the first ``diff --git`` header
    whose two paths are the same file; a diff of renames only falls back to its
    ``rename from`` line.
    """
    rename_from: str | None = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            level = _header_level(line[len("diff --git ") :])
            if level is not None:
                return level
        elif line.startswith(("rename from ", "copy from ")) and rename_from is None:
            rename_from = line.split(" from ", 1)[1]
    if rename_from is not None:
        for line in diff.splitlines():
            if line.startswith("diff --git "):
                return 0 if line[len("diff --git ") :].startswith(rename_from + " ") else 1
    return 1


def _header_level(paths: str) -> int | None:
    """Strip level from ``old new`` of a header, or None when old and new differ (a rename)."""
    half = len(paths) // 2
    if len(paths) % 2 == 0 or paths[half] != " ":
        return None
    old, new = paths[:half], paths[half + 1 :]
    if old == new:
        return 0
    unquoted_old, unquoted_new = old.strip('"'), new.strip('"')
    if "/" in unquoted_old and unquoted_old.split("/", 1)[1] == unquoted_new.partition("/")[2]:
        return 1
    return None
