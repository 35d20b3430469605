"""How the agent decides the ``-p`` level of a recorded diff."""

import pytest

from runyard_agent.environments.code import diff_strip_level


@pytest.mark.parametrize(
    ("header", "level"),
    [
        ("diff --git a/train.py b/train.py", 1),
        ("diff --git train.py train.py", 0),
        ("diff --git c/src/x.py w/src/x.py", 1),
        ('diff --git "a/caf\\303\\251 dir/x y.py" "b/caf\\303\\251 dir/x y.py"', 1),
        ("diff --git a dir/x y.py a dir/x y.py", 0),
        ("diff --git a/x a/x", 0),
    ],
    ids=["prefixed", "noprefix", "mnemonic", "quoted", "spaces-noprefix", "dir-named-a"],
)
def test_strip_level_follows_the_prefixes_the_user_recorded(header: str, level: int) -> None:
    assert diff_strip_level(f"{header}\nindex 1..2 100644\n--- x\n+++ y\n@@ -1 +1 @@\n") == level


@pytest.mark.parametrize(
    ("header", "level"),
    [("diff --git a/old.py b/new.py", 1), ("diff --git old.py new.py", 0)],
    ids=["prefixed", "noprefix"],
)
def test_strip_level_of_a_rename_only_diff_uses_the_rename_line(header: str, level: int) -> None:
    diff = f"{header}\nsimilarity index 100%\nrename from old.py\nrename to new.py\n"

    assert diff_strip_level(diff) == level


def test_strip_level_defaults_to_git_prefixes_when_nothing_decides() -> None:
    assert diff_strip_level("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n") == 1
