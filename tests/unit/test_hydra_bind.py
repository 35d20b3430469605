"""The Hydra binding's pure parts: a config as params, params back as Hydra overrides."""

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from runyard.capture import hydra_bind
from runyard.capture.hydra_bind import Job, flatten, override_text, rerun_overrides

CONFIG = {
    "model": {"max_depth": 5, "name": "tree_${model.max_depth}", "layers": [64, 32]},
    "lr": 0.1,
    "data": {},
    "seed": "???",
}


@pytest.mark.parametrize(
    "value",
    [
        "plain", "it's", "ends\\", "back\\'quote", "${model.max_depth}", "tree_${a}",
        "a=b,c", " spaced ", "", 3, -2, 0.1, 1e-05, True, False, None,
        [1, "a b", [2.5]], {"a": 1, "b": "x y"},
    ],
)  # fmt: skip
def test_override_text_is_read_back_by_hydras_parser_as_the_same_value(value: Any) -> None:
    parsed = OverridesParser.create().parse_override(override_text("k", value))
    assert parsed.key_or_group == "k"
    assert parsed.value() == value


def test_flatten_keeps_interpolations_and_missing_values_as_written() -> None:
    assert flatten(OmegaConf.create(CONFIG)) == {
        "model.max_depth": 5,
        "model.name": "tree_${model.max_depth}",
        "model.layers": [64, 32],
        "lr": 0.1,
        "data": {},
        "seed": "???",
    }


def test_rerun_overrides_are_the_params_changed_since_the_record() -> None:
    config = OmegaConf.create(CONFIG)
    params = {
        "Hydra": {**flatten(config), "model.max_depth": 3, "extra.flag": True},
        "HydraRecord": {"overrides": [], "config": OmegaConf.to_yaml(config)},
    }
    assert rerun_overrides(params) == ["model.max_depth=3", "++extra.flag=true"]
    unchanged = {**params, "Hydra": flatten(config)}
    assert rerun_overrides(unchanged) == []
    assert rerun_overrides({"General": {"lr": 1}}) == []


def test_a_multirun_job_reruns_alone_with_its_own_overrides() -> None:
    job = Job(config=None, overrides=["model.max_depth=3"], hydra_dir=None, multirun=True, number=1)
    argv = ["-m", "model.max_depth=2,3,4", "--config-name=big", "-cn", "other"]
    assert job.child_args(argv) == ["--config-name=big", "-cn", "other", "model.max_depth=3"]


def test_connect_omegaconf_writes_back_only_changed_keys_so_interpolations_follow() -> None:
    config = OmegaConf.create(CONFIG)
    OmegaConf.set_struct(config, True)

    def agent_values(values: dict[str, Any]) -> None:
        values.update({"model.max_depth": 3, "new.key": "x"})

    hydra_bind.connect_omegaconf(config, agent_values)
    assert config.model.max_depth == 3
    assert config.model.name == "tree_3"
    assert config.new.key == "x"


def test_the_hydra_dir_is_zipped_under_its_own_name(tmp_path: Path) -> None:
    hydra_dir = tmp_path / "out" / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "overrides.yaml").write_text("- lr=0.2\n")
    job = Job(config=None, overrides=[], hydra_dir=hydra_dir, multirun=False, number=0)
    packed = job.pack_hydra_dir(tmp_path / "hydra.zip")
    assert packed is not None
    with zipfile.ZipFile(packed) as archive:
        assert archive.read(".hydra/overrides.yaml") == b"- lr=0.2\n"
    gone = Job(config=None, overrides=[], hydra_dir=None, multirun=False, number=0)
    assert gone.pack_hydra_dir(tmp_path / "none.zip") is None


@pytest.mark.parametrize(
    "imports",
    ["from runyard import Task\nimport hydra", "import hydra\nfrom runyard import Task"],
)
def test_hydra_is_bound_whichever_is_imported_first(imports: str) -> None:
    check = f"{imports}\nfrom hydra._internal.hydra import Hydra\nprint(Hydra._runyard_bound)\n"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
