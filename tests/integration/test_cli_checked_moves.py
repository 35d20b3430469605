"""The real ``runyard`` CLI: checked overrides, ``--new-param`` and queue moves that say
what went wrong (issue 11)."""

import json

from tests.integration.test_cli import cli, create, live, unique
from tests.servers import ServerProcess

__all__ = ["live"]  # the module's server fixture, shared with test_cli


def test_clone_typo_and_wrong_type_are_clear_errors_and_new_param_adds(
    live: ServerProcess,
) -> None:
    source = create(live, "base", "--param", "Args/lr=0.1", "--param", "Args/epochs=3")

    typo = cli(live, "task", "clone", source["id"], "--param", "Args/lrr=0.01", rc=1)
    wrong = cli(live, "task", "clone", source["id"], "--param", "Args/lr=fast", rc=1)
    added = cli(
        live, "task", "clone", source["id"], "--param", "Args/epochs=5",
        "--new-param", "Args/seed=1", "--json",
    )  # fmt: skip

    assert "runyard: error:" in typo.stderr and "did you mean Args/lr" in typo.stderr
    assert "--new-param" in typo.stderr
    assert "'Args/lr': 'fast' is not a float" in wrong.stderr
    assert json.loads(added.stdout)["params"] == {"Args": {"lr": 0.1, "epochs": 5, "seed": 1}}


def test_enqueue_to_a_missing_queue_asks_for_create_queue_then_warns_it_is_unserved(
    live: ServerProcess,
) -> None:
    task = create(live, "t")
    queue = unique("nosuch")

    missing = cli(live, "task", "enqueue", task["id"], "--queue", queue, rc=1)
    created = cli(live, "task", "enqueue", task["id"], "--queue", queue, "--create-queue")

    assert f"queue {queue} does not exist" in missing.stderr
    assert "--create-queue" in missing.stderr
    assert f"enqueued {task['id']}" in created.stdout
    assert f"runyard: warning: no live worker serves queue {queue}" in created.stderr


def test_the_short_ids_compare_prints_are_accepted_by_other_commands(
    live: ServerProcess,
) -> None:
    first = create(live, "first", "--param", "Args/lr=0.1")
    second = create(live, "second", "--param", "Args/lr=0.2")
    short = first["id"][:8]

    compared = cli(live, "task", "compare", short, second["id"][:6]).stdout
    shown = cli(live, "task", "show", short, "--json").stdout
    enqueued = cli(live, "task", "enqueue", short, "--queue", unique("q"), "--create-queue")
    too_short = cli(live, "task", "show", first["id"][:5], rc=2)

    assert short in compared and second["id"][:8] in compared
    assert json.loads(shown)["id"] == first["id"]
    assert f"enqueued {first['id']}" in enqueued.stdout
    assert "the first 6 or more" in too_short.stderr
