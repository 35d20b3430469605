"""``runyard task create/clone`` with typed and fractional GPU requests, and ``task show``
printing them; a bad one is a usage error naming the field."""

from tests.integration.test_cli import cli, cli_json, create, live, unique
from tests.servers import ServerProcess

__all__ = ["live"]  # the module's server fixture, shared with test_cli


def test_create_and_clone_take_typed_and_fractional_gpu_requests(live: ServerProcess) -> None:
    task = create(live, unique("typed"), "--gpus", "0.5", "--gpu-model", "A100*",
                  "--gpu-memory-gb", "40")  # fmt: skip
    assert task["resources"]["gpus"] == 0.5
    assert task["resources"]["gpu_model"] == "A100*"
    assert task["resources"]["gpu_memory_gb"] == 40

    clone = cli_json(live, "task", "clone", task["id"], "--gpus", "4",
                     "--gpu-interconnect", "nvlink")  # fmt: skip

    # The flags given replace the source's values; the others are kept.
    assert clone["resources"]["gpus"] == 4
    assert clone["resources"]["gpu_interconnect"] == "nvlink"
    assert clone["resources"]["gpu_model"] == "A100*"
    shown = cli(live, "task", "show", clone["id"]).stdout
    assert "4 GPU (A100*, ≥40 GB, nvlink)" in shown


def test_a_bad_gpu_request_is_a_usage_error_naming_the_field(live: ServerProcess) -> None:
    done = cli(live, "task", "create", "--script", "t.py", "--gpus", "0.3", rc=2)
    assert "gpus" in done.stderr and "0.5, 0.25 or 0.125" in done.stderr
    done = cli(live, "task", "create", "--script", "t.py", "--gpu-model", "A100*", rc=2)
    assert "gpus > 0" in done.stderr
