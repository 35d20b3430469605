"""``runyard.Pipeline`` builds the same definition from Python and from YAML, and a bad
file or step is refused before anything reaches a server."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from runyard import Pipeline
from runyard.cli.common import UsageError
from runyard.cli.pipelines import _params

BASE = "b" * 32

YAML = f"""\
name: nightly
params: {{lr: 0.1}}
queue: gpu
steps:
  - {{name: prepare, base: {BASE}}}
  - name: train
    base: {BASE}
    parents: [prepare]
    params: {{Args/lr: "${{params.lr}}", Args/data: "${{prepare.artifacts.data}}"}}
    retries: 2
"""


def test_python_and_yaml_make_the_same_definition(tmp_path: Path) -> None:
    built = Pipeline("nightly", params={"lr": 0.1}, queue="gpu")
    built.add_step("prepare", base=BASE).add_step(
        "train",
        base=BASE,
        parents=["prepare"],
        params={"Args/lr": "${params.lr}", "Args/data": "${prepare.artifacts.data}"},
        retries=2,
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML)

    assert Pipeline.from_yaml(path).spec() == built.spec()


def test_a_bad_file_or_step_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        Pipeline.from_yaml(path)
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="expected a mapping of pipeline fields"):
        Pipeline.from_yaml(path)
    with pytest.raises(ValidationError, match="exactly one of base"):
        Pipeline("p").add_step("nothing")


def test_cli_params_are_json_when_they_parse() -> None:
    assert _params(["lr=0.05", "name=run-1", "layers=[1, 2]"]) == {
        "lr": 0.05,
        "name": "run-1",
        "layers": [1, 2],
    }
    with pytest.raises(UsageError, match="NAME=VALUE"):
        _params(["lr"])
