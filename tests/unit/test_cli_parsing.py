"""The ``runyard`` CLI without a server: argument parsing, param syntax, output and exit codes."""

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runyard.cli.common import UsageError, params_from, parse_param, read_requirements
from runyard.cli.main import build_parser, main
from runyard.cli.output import age, details, duration, table

TASK_ID = "0123456789abcdef0123456789abcdef"


def unused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("General/lr=0.01", ("General/lr", 0.01)),
        ("General/epochs=10", ("General/epochs", 10)),
        ("General/amp=true", ("General/amp", True)),
        ("General/layers=[64, 32]", ("General/layers", [64, 32])),
        ("General/opt=adam", ("General/opt", "adam")),
        ('General/seed="42"', ("General/seed", "42")),
        ("General/empty=", ("General/empty", "")),
        ("Model/enc/dim=8", ("Model/enc/dim", 8)),
        ("Args/expr=a=b", ("Args/expr", "a=b")),
    ],
)
def test_param_value_is_json_when_it_parses_else_string(text: str, expected: object) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["lr=0.1", "General/lr", "/lr=1", "General/=1", "General//x=1"])
def test_malformed_param_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="Section/key=value"):
        parse_param(text)


def test_params_from_builds_nested_sections() -> None:
    texts = ["General/lr=0.1", "General/opt=adam", "Model/enc/dim=8", "Model/enc/act=relu"]
    assert params_from(texts) == {
        "General": {"lr": 0.1, "opt": "adam"},
        "Model": {"enc": {"dim": 8, "act": "relu"}},
    }


def test_params_from_refuses_a_key_that_is_both_value_and_section() -> None:
    with pytest.raises(UsageError, match="already holds a value"):
        params_from(["Model/enc=1", "Model/enc/dim=8"])


def test_requirements_file_drops_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# pinned\nnumpy==1.26.4  # math\n\ntorch>=2.2\n")
    assert read_requirements(str(path)).requirements == ["numpy==1.26.4", "torch>=2.2"]


def test_missing_requirements_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--requirements"):
        read_requirements(str(tmp_path / "nope.txt"))


def test_requirements_pyproject_with_a_group_keeps_its_project_and_lock(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "acme"\nversion = "1"\ndependencies = ["six"]\n'
        '[project.optional-dependencies]\ntrain = ["numpy"]\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (tmp_path / "uv.lock").write_text("version = 1\n")
    environment = read_requirements("pyproject.toml[train]", tmp_path)
    assert environment.requirements == ["six", "numpy"]
    assert environment.repo_packages == ["."]
    assert environment.lock_file == "uv.lock"


def test_pip_options_in_a_requirements_file_are_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("-e .\nsix\n")
    with pytest.raises(UsageError, match=r"pip options are not requirements: -e \."):
        read_requirements(str(path))


def test_task_create_flags_parse_with_repeats() -> None:
    args = build_parser().parse_args(
        [
            "--server", "http://h:1", "task", "create", "--name", "n", "--project", "p",
            "--script", "train.py", "--arg=--lr", "--arg", "0.1", "--requirement", "numpy",
            "--requirement", "torch", "--param", "General/lr=0.1", "--gpus", "2",
            "--memory-gb", "16", "--tag", "a", "--tag", "b", "--queue", "gpu", "--priority", "5",
        ]
    )  # fmt: skip
    assert args.server == "http://h:1"
    assert args.arg == ["--lr", "0.1"]
    assert args.requirement == ["numpy", "torch"]
    assert (args.gpus, args.memory_gb, args.tag, args.queue, args.priority) == (
        2,
        16.0,
        ["a", "b"],
        "gpu",
        5,
    )


def test_listing_and_show_commands_take_json() -> None:
    parser = build_parser()
    for argv in (
        ["task", "list"],
        ["task", "show", TASK_ID],
        ["queue", "list"],
        ["queue", "show", "gpu"],
        ["worker", "list"],
    ):
        assert parser.parse_args([*argv, "--json"]).json is True


def test_logs_follow_has_a_short_flag() -> None:
    assert build_parser().parse_args(["task", "logs", TASK_ID, "-f"]).follow is True


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["task"],
        ["task", "show"],
        ["task", "show", "not-an-id"],
        ["task", "enqueue", TASK_ID],
        ["queue", "show", "bad name"],
        ["task", "list", "--status", "sleeping"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_param_exits_2_before_contacting_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--server", unused_url(), "task", "create", "--param", "lr=1"])
    assert caught.value.code == 2
    assert "Section/key=value" in capsys.readouterr().err


def test_invalid_spec_exits_2_with_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--server", unused_url(), "task", "create", "--requirement=--index-url=x"])
    assert caught.value.code == 2
    assert "pip option" in capsys.readouterr().err


def test_unreachable_server_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = unused_url()
    assert main(["--server", url, "queue", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("runyard: error: cannot reach") and url in err


def test_table_aligns_columns_and_marks_empty_cells() -> None:
    text = table(["id", "name"], [("1", "alpha"), ("22", None)])
    assert text.splitlines() == ["ID  NAME", "1   alpha", "22  -"]


def test_details_aligns_values_and_skips_empty_ones() -> None:
    assert details([("id", "x"), ("parent", None), ("status", "draft")]) == (
        "id:     x\nstatus: draft"
    )


def test_ages_use_the_largest_whole_unit() -> None:
    now = datetime(2024, 1, 2, tzinfo=UTC)
    assert age(now - timedelta(seconds=42), now) == "42s"
    assert age(now - timedelta(minutes=5, seconds=59), now) == "5m"
    assert age(now - timedelta(days=3), now) == "3d"
    assert duration(None) == "-"
