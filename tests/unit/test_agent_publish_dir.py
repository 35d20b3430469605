"""publish_dir: a cache directory appears whole or not at all, and a racing builder wins."""

from pathlib import Path

import pytest

from runyard_agent.environments._locks import publish_dir


def test_the_built_directory_appears_at_the_target_and_no_scratch_is_left(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "abc"
    with publish_dir(target) as scratch:
        assert not target.exists()
        (scratch / "file").write_text("built")
    assert (target / "file").read_text() == "built"
    assert [p.name for p in target.parent.iterdir()] == ["abc"]


def test_when_another_builder_published_first_its_directory_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "abc"
    with publish_dir(target) as scratch:
        (scratch / "file").write_text("ours")
        target.mkdir()
        (target / "file").write_text("theirs")
    assert (target / "file").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["abc"]


def test_a_failed_build_leaves_neither_target_nor_scratch(tmp_path: Path) -> None:
    target = tmp_path / "abc"
    with pytest.raises(OSError, match="disk full"), publish_dir(target) as scratch:
        (scratch / "half").write_text("x")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []
