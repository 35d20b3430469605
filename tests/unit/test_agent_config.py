"""Agent settings: command line over environment over the TOML file over defaults."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from runyard_agent.cli import load_settings, main
from runyard_agent.config import AgentSettings, default_name


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNYARD_SERVER", "RUNYARD_TOKEN", "RUNYARD_AGENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings([])
    assert settings.queues == ["default"]
    assert settings.server == "http://127.0.0.1:8008"
    assert settings.abort_grace_s == 30
    assert settings.cache_dir == Path.home() / ".cache" / "runyard-agent"
    assert settings.work_root == settings.cache_dir / "work"
    assert settings.slots is None and settings.gpus is None and not settings.cpu_only


def test_command_line_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('server = "http://file:1"\nqueues = ["f"]\nabort_grace_s = 5\nslots = 3\n')
    monkeypatch.setenv("RUNYARD_SERVER", "http://env:2")
    monkeypatch.setenv("RUNYARD_AGENT_QUEUES", "e1,e2")
    settings = load_settings(["--config", str(config), "--queue", "c"])
    assert settings.queues == ["c"]
    assert settings.server == "http://env:2"
    assert settings.abort_grace_s == 5
    assert settings.slots == 3
    settings = load_settings(["--config", str(config)])
    assert settings.queues == ["e1", "e2"]


def test_repeatable_queue_and_gpu_list() -> None:
    settings = load_settings(["--queue", "gpu", "--queue", "cpu", "--gpus", "0,1", "--cpu-only"])
    assert settings.queues == ["gpu", "cpu"]
    assert settings.gpus == [0, 1]
    assert settings.cpu_only


def test_token_comes_from_environment_and_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_TOKEN", "s3cret")
    settings = load_settings([])
    assert settings.token_value == "s3cret"
    assert "s3cret" not in repr(settings)


def test_home_in_directories_is_expanded() -> None:
    settings = load_settings(["--cache-dir", "~/x", "--work-dir", "~/w"])
    assert settings.cache_dir == Path.home() / "x"
    assert settings.work_root == Path.home() / "w"


@pytest.mark.parametrize(
    "argv",
    [
        ["--server", "ftp://x"],
        ["--queue", "bad name"],
        ["--executor", "docker", "--docker-forbid-task-image"],
        ["--poll-wait-s", "31"],
        ["--slots", "0"],
    ],
)
def test_invalid_settings_are_refused(argv: list[str]) -> None:
    with pytest.raises(ValidationError):
        load_settings(argv)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("queuez = ['x']\n")
    with pytest.raises(ValidationError, match="queuez"):
        AgentSettings(config=config)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        AgentSettings(config=tmp_path / "nope.toml")


def test_default_name_is_a_valid_worker_name() -> None:
    assert AgentSettings(name=default_name()).name


def test_bad_settings_exit_2_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--poll-wait-s", "99"])
    assert exited.value.code == 2
    assert "poll_wait_s: Input should be less than or equal to 30" in capsys.readouterr().err
