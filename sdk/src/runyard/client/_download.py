"""A file from the server saved whole or not at all, its sha256 checked on the way."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from runyard.client._http import Transport
from runyard.errors import ProtocolError

_CHUNK = 1024 * 1024


def download_checked(http: Transport, path: str, target: Path, what: str) -> Path:
    """Stream ``GET path`` into ``target`` through a scratch file in its folder.

    The server's ``x-sha256`` header is checked against what arrived; a mismatch
    (``what`` names the file in the error) leaves nothing behind.
    """
    response = http.send("GET", path, stream=True)
    digest = hashlib.sha256()
    fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with response, os.fdopen(fd, "wb") as out:
            for chunk in response.iter_content(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        expected = response.headers.get("x-sha256")
        if expected and expected != digest.hexdigest():
            raise ProtocolError(f"{what} arrived damaged (sha256 mismatch); download it again")
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target
