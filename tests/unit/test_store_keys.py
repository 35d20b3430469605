"""Pure logic: the store's key schema is spelled in keys.py only, in one hash slot."""

import re
from importlib import resources

from redis.crc import key_slot

from runyard.models import TaskStatus
from runyard_server.store import keys, script_keys, scripts

LUA = resources.files("runyard_server.store") / "lua"


def _built() -> list[str]:
    return [
        keys.task("t"),
        keys.task_logs("t"),
        keys.task_log_seqs("t"),
        keys.task_metrics("t"),
        keys.task_final_metrics("t"),
        keys.task_artifacts("t"),
        keys.archive_lock("t"),
        keys.queue("q"),
        keys.queue_since("q"),
        keys.worker("w"),
        keys.worker_running("w"),
        keys.status_index("queued"),
        keys.project_index("p"),
        keys.tag_index("x"),
        keys.parent_index("t"),
        keys.queue_index("q"),
        *keys.metric_indexes("val/acc"),
        keys.names(3),
        keys.WORKERS,
        *script_keys.SINGLETONS.values(),
    ]


def test_every_key_has_the_prefix_and_hashes_to_one_slot() -> None:
    built = _built()

    assert all(key.startswith(keys.PREFIX) for key in built)
    assert {key_slot(key.encode()) for key in built} == {key_slot(b"ry")}


def test_a_key_with_braces_in_its_name_part_stays_in_the_slot() -> None:
    """Redis hashes the first {...} only: a queue or tag named "{x}" cannot move a key."""
    assert key_slot(keys.tag_index("{x}").encode()) == key_slot(keys.ALL_TASKS.encode())


def test_the_labels_of_a_transition_name_every_status_index() -> None:
    declared = script_keys.transition(["t"], ["q", None], ["w"])

    assert declared["task:t"] == keys.task("t")
    assert declared["since:q"] == keys.queue_since("q")
    assert declared["running:w"] == keys.worker_running("w")
    assert {declared[f"status_idx:{s}"] for s in TaskStatus} == {
        keys.status_index(s) for s in TaskStatus
    }


def test_the_name_strings_of_a_task_are_its_own_and_the_one_before() -> None:
    per = keys.NAMES_PER_KEY

    assert list(script_keys.names_for(1)) == ["names:0"]
    assert list(script_keys.names_for(per)) == ["names:0", "names:1"]
    assert list(script_keys.names_upto(2 * per)) == ["names:0", "names:1", "names:2"]


def test_no_lua_script_spells_a_key_name() -> None:
    """Key names (and their suffixes, like the ':logs' of 0.1) are built in keys.py only;
    a script takes every key from KEYS by its label."""
    for path in LUA.iterdir():
        if not path.name.endswith(".lua"):
            continue
        code = "\n".join(line.split("--")[0] for line in path.read_text().splitlines())
        assert "ry:" not in code, path.name
        assert "{ry}" not in code, path.name
        assert not re.search(r"'\:[a-z]", code), f"{path.name} appends a key suffix"
        assert "KEYS[" not in code or path.name == "common.lua", path.name


def test_each_script_is_named_and_numbered_in_its_header() -> None:
    source = scripts.source("claim")

    assert source.startswith("local SCRIPT = 'claim'\n")
    assert f"local NAMES_PER_KEY = {keys.NAMES_PER_KEY}\n" in source
