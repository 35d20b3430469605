"""Reading the YAML files of sweeps and pipelines.

PyYAML is the ``runyard[yaml]`` extra, not a dependency: the agent lays the SDK's
dependencies over task venvs and would put its own PyYAML in front of a task's.
"""

from pathlib import Path
from typing import Any


def read_mapping(path: str | Path, holds: str) -> dict[str, Any]:
    """The mapping a YAML file holds; ValueError saying what is wrong when it cannot be
    read or is not a mapping with string keys (``holds`` says what it should hold, e.g.
    "sweep fields (base, params, ...)"), ImportError naming the extra without PyYAML."""
    try:
        import yaml  # imported here: the CLI's other commands never pay for it
    except ImportError:
        raise ImportError(f"reading {path} needs PyYAML: pip install 'runyard[yaml]'") from None
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ValueError(f"{path}: expected a mapping of {holds}")
    return loaded
