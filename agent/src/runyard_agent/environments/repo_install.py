"""The repository's own packages, installed editable from this task's checkout.

They are never put in the cached venv: that venv is shared by every task with the same
requirements (several at once, from other commits), while an editable install points
at one checkout. Instead each task that has repository packages gets a small venv of
its own, the *task venv*, inside its checkout's ``.git`` folder (removed with the
checkout, invisible to ``git status``): a ``.pth`` file makes the cached venv's
site-packages (and the ``.pth`` files there, such as the SDK overlay) part of it, and
``uv pip install --no-deps -e`` puts the repository's packages in front. Their
dependencies come from the cached venv (the task's requirements or lock file).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from runyard.models import InstalledPackage
from runyard_agent.environments._proc import run_tool
from runyard_agent.environments.interpreters import Interpreter
from runyard_agent.errors import EnvironmentBuildError

Log = Callable[[str], None]

TASK_VENV = ".git/runyard-task-venv"
BASE_PTH = "_runyard_base_venv.pth"
_SDK_DISTRIBUTION = "runyard"

_LIST_SCRIPT = """
import importlib.metadata as m, json
seen = {}
for d in m.distributions():
    name = d.metadata["Name"]
    if name and name.lower() not in seen:
        seen[name.lower()] = [name, d.version, d.read_text("direct_url.json") or ""]
print(json.dumps(list(seen.values())))
"""


def site_packages(venv: Path, python: Interpreter) -> Path:
    """The site-packages folder of a venv made for ``python``."""
    major, minor = python.version[:2]
    return venv / "lib" / f"python{major}.{minor}" / "site-packages"


def install_repo_packages(
    base_venv: Path,
    python: Interpreter,
    checkout: Path,
    folders: list[str],
    uv_bin: Path | None,
    env: dict[str, str],
    log: Log,
) -> Path:
    """Make the task venv over ``base_venv`` with ``folders`` of ``checkout`` installed
    editable; its python. Raises EnvironmentBuildError (stage ``install``) with the reason."""
    if uv_bin is None:
        raise EnvironmentBuildError("install", "installing the repository's packages needs uv")
    missing = [f for f in folders if not (checkout / f).is_dir()]
    if missing:
        raise EnvironmentBuildError(
            "install", f"repository package folder(s) not in the checkout: {', '.join(missing)}"
        )
    started = time.monotonic()
    venv = checkout / TASK_VENV
    run_tool(
        [str(uv_bin), "venv", "--quiet", "--python", str(python.executable), str(venv)],
        stage="install",
        what="uv could not create the task venv",
        env=env,
    )
    base = site_packages(base_venv, python)
    # ``import`` lines of a .pth run at start-up; addsitedir also reads the base's .pth files.
    (site_packages(venv, python) / BASE_PTH).write_text(
        f"import site; site.addsitedir({str(base)!r})\n"
    )
    editables = [arg for folder in folders for arg in ("-e", str(checkout / folder))]
    command = [str(uv_bin), "pip", "install", "--no-deps", "--python", str(venv / "bin" / "python")]
    run_tool(
        [*command, *editables],
        stage="install",
        what="uv could not install the repository's own packages",
        env=env,
    )
    log(
        f"installed the repository's own package(s) from the checkout in "
        f"{time.monotonic() - started:.1f} s: {', '.join(folders)}"
    )
    return venv / "bin" / "python"


def list_installed(python: Path, checkout: Path | None = None) -> list[InstalledPackage]:
    """Every distribution ``python`` imports (the SDK the agent brings aside), by name;
    packages of ``checkout`` with their folder. An empty list when the interpreter cannot
    say (about 0.1 s for 80 packages, so a cached venv keeps its list in its marker)."""
    try:
        done = subprocess.run(
            [str(python), "-c", _LIST_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        found = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    packages = []
    root = checkout.resolve() if checkout is not None else None
    for name, version, direct_url in found:
        canonical = canonicalize_name(name)
        if canonical == _SDK_DISTRIBUTION:
            continue
        packages.append(
            InstalledPackage(
                name=canonical,
                version=version,
                path=_repo_folder(direct_url, root) if root is not None else None,
            )
        )
    return sorted(packages, key=lambda package: package.name)


def with_hashes(
    packages: list[InstalledPackage], hashes: dict[str, list[str]]
) -> list[InstalledPackage]:
    """``packages`` with the archive hashes a lock file gave for each name."""
    return [
        package.model_copy(update={"hashes": hashes[package.name]})
        if hashes.get(package.name)
        else package
        for package in packages
    ]


def _repo_folder(direct_url: str, root: Path) -> str | None:
    try:
        url = str(json.loads(direct_url).get("url", "")) if direct_url else ""
    except (ValueError, AttributeError):
        return None
    if not url.startswith("file://"):
        return None
    source = Path(url.removeprefix("file://")).resolve()
    return source.relative_to(root).as_posix() if source.is_relative_to(root) else None
