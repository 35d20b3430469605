"""Builds a task's venv *inside* its container, with the container's own Python.

Copied into the agent's SDK support directory and run as
``python3 /runyard/sdk/build_venv.py VENV SPEC``; it uses the standard library only,
so any image with ``python3`` (and its ``venv`` module) can run it. ``SPEC`` is a
JSON file the agent wrote: ``requirements`` (a requirements file), ``python`` (the
recorded version, or null), ``sdk_python`` (``"3.11"``: the Python the bundled SDK
dependencies were copied from) and ``sdk_requires`` (the SDK's own requirements).

What the venv then holds is written to ``VENV/runyard-installed.json`` (``pip list``),
before the SDK is attached, for the agent to report as the task's installed set.

The runyard SDK is made importable with a ``.pth`` file *appended* to ``sys.path``
after site-packages, so a package the task pins itself wins over the SDK's copy.
"""

import json
import subprocess
import sys
from pathlib import Path

SDK = Path("/runyard/sdk")
PTH_NAME = "zz_runyard_agent_sdk.pth"
INSTALLED_FILE = "runyard-installed.json"


def run(command: list[str]) -> None:
    """Run a build step with its output going to ours; exit with its code when it fails."""
    print("+", " ".join(command), flush=True)
    code = subprocess.call(command)
    if code != 0:
        sys.exit(code)


def site_packages(python: str) -> Path:
    """The venv's purelib directory."""
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([python, "-c", probe], text=True).strip())


def sdk_paths(venv: Path, python: str, spec: dict[str, object]) -> list[str]:
    """Where the SDK and its dependencies are: the bundled copy or a fresh install."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if mine == spec["sdk_python"] and (SDK / "deps").is_dir():
        return [str(SDK / "pkg"), str(SDK / "deps")]
    target = venv / "runyard-sdk-deps"
    requires = [str(line) for line in spec["sdk_requires"]]  # type: ignore[attr-defined]
    command = [python, "-m", "pip", "install", "--no-input", "--target", str(target), *requires]
    print("+", " ".join(command), flush=True)
    if subprocess.call(command) != 0:
        print(
            f"WARNING: could not install the runyard SDK's dependencies for Python {mine}; "
            f"add {', '.join(requires)} to the task's requirements",
            flush=True,
        )
    return [str(SDK / "pkg"), str(target)]


def main() -> None:
    """Create the venv, install the requirements, attach the SDK."""
    venv, spec = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    version = sys.version.split()[0]
    print(f"container Python {version} at {sys.executable}", flush=True)
    wanted = spec.get("python")
    if wanted and not version.startswith(f"{wanted}.") and version != wanted:
        print(f"WARNING: the task was recorded with Python {wanted}; the image has {version}")
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    if spec["requirements"]:
        pip = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
        run([*pip, "-r", str(spec["requirements"])])
    listing = [python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"]
    installed = subprocess.run(listing, capture_output=True, text=True, check=False)
    (venv / INSTALLED_FILE).write_text(installed.stdout if installed.returncode == 0 else "[]")
    paths = sdk_paths(venv, python, spec)
    (site_packages(python) / PTH_NAME).write_text("".join(f"{p}\n" for p in paths))


if __name__ == "__main__":
    main()
