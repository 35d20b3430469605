"""How environment builders share the cache: advisory file locks and atomic publishing.

``fcntl.flock`` locks belong to an open file description, so two threads of one
agent that each open the lock file exclude each other just like two agents do.
"""

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on ``path`` during the block; wait until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def publish_dir(target: Path) -> Iterator[Path]:
    """A scratch directory to build in, renamed to ``target`` when the block ends.

    The rename is atomic, so readers see the whole directory or none of it. When
    another builder renamed its own into place first, theirs is as good: ours is
    dropped. On an error the scratch directory is removed and ``target`` untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        yield scratch
        os.rename(scratch, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
