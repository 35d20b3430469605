"""Settings of the web surface: tokens from a file, the host names a server answers to."""

from pathlib import Path

import pytest

from runyard_server.api.same_origin import allowed_hostnames, hostname
from runyard_server.config import Settings


def test_tokens_from_a_file_join_the_others_and_worker_processes_get_them_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("  # comment\nagent:file-agent-secret\nfile-bare-secret\n")
    settings = Settings(tokens="user:given-user-secret", token_file=token_file)
    assert [(t.role, t.token) for t in settings.tokens] == [
        ("user", "given-user-secret"),
        ("agent", "file-agent-secret"),
        ("user", "file-bare-secret"),
    ]
    env = settings.to_env()
    assert "RUNYARD_TOKEN_FILE" not in env
    token_file.unlink()  # a worker process never reads it again
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().tokens == settings.tokens


def test_allowed_hosts_travel_to_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(allowed_hosts="runyard.lan, CI.example ,")
    assert settings.allowed_hosts == ["runyard.lan", "CI.example"]
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings().allowed_hosts == settings.allowed_hosts
    monkeypatch.setenv("RUNYARD_ALLOWED_HOSTS", "")
    assert Settings().allowed_hosts == []


@pytest.mark.parametrize(
    ("netloc", "name"),
    [
        ("localhost:8008", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:8008", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("attacker.example:8008", "attacker.example"),
        ("a:b:c", None),
        ("host:port", None),
        ("", None),
    ],
)
def test_the_host_name_of_a_host_header(netloc: str, name: str | None) -> None:
    assert hostname(netloc) == name


def test_which_names_a_server_answers_to() -> None:
    assert allowed_hostnames(Settings()) == {"localhost", "127.0.0.1", "::1"}
    bound = Settings(host="127.0.0.2", allowed_hosts="Runyard.lan")
    assert allowed_hostnames(bound) == {"localhost", "127.0.0.1", "::1", "127.0.0.2", "runyard.lan"}
    assert allowed_hostnames(Settings(tokens="user:user-secret-1", host="0.0.0.0")) is None
    listed = Settings(tokens="user:user-secret-1", host="0.0.0.0", allowed_hosts="r.lan")
    assert allowed_hostnames(listed) == {"localhost", "127.0.0.1", "::1", "r.lan"}
