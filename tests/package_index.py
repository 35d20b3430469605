"""A PEP 503 package index on loopback, over a folder of wheels built in the test.

``make_wheel`` writes a minimal pure-Python wheel (one module that records its own
version); :class:`LocalIndex` serves ``<root>/<path>/<project>/`` pages listing the
wheels, optionally behind HTTP basic auth so a test proves credentials reach the
installer. Requests are counted per path, so a test can tell which index was used.
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A wheel of distribution ``name`` whose module ``name`` has ``__version__ = version``."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: runyard-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={_digest(text.encode())},{len(text.encode())}"
        for path, text in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class LocalIndex:
    """Wheels under ``root``: ``add(path, name, version)`` puts one at ``<path>/<name>/``."""

    def __init__(self, root: Path, credentials: tuple[str, str] | None = None) -> None:
        self.root = root
        self.credentials = credentials
        self.requests: Counter[str] = Counter()
        self.refused = 0
        self._server: ThreadingHTTPServer | None = None

    def add(self, path: str, name: str, version: str) -> Path:
        """Build a wheel of ``name`` ``version`` into the index at ``path`` (e.g. ``simple``)."""
        project = self.root / path / canonicalize_name(name)
        wheel = make_wheel(project, name, version)
        # With the ``#sha256=`` fragment PyPI gives, so lock files record the archives' hashes.
        links = "".join(
            f'<a href="{html.escape(p.name)}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}">'
            f"{html.escape(p.name)}</a>\n"
            for p in sorted(project.glob("*.whl"))
        )
        (project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>")
        return wheel

    def url(self, path: str, *, with_credentials: bool = True) -> str:
        """The index URL of ``path``, with ``user:password@`` when the index wants them."""
        assert self._server is not None, "start the index first"
        host, port = self._server.server_address[:2]
        auth = ""
        if self.credentials and with_credentials:
            auth = f"{self.credentials[0]}:{self.credentials[1]}@"
        return f"http://{auth}{host!s}:{port}/{path.strip('/')}"

    @contextmanager
    def serving(self) -> Iterator[LocalIndex]:
        """Serve on a free loopback port for the duration of the block."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        index = self
        expected = None
        if self.credentials:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            expected = f"Basic {token}"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(with_body=True)

            def do_HEAD(self) -> None:
                self._answer(with_body=False)

            def _answer(self, *, with_body: bool) -> None:
                if expected is not None and self.headers.get("Authorization") != expected:
                    index.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test index"')
                    self.end_headers()
                    return
                path = self.path.split("?", 1)[0].strip("/")
                index.requests[path] += 1
                target = index.root / path
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file() or index.root.resolve() not in target.resolve().parents:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = target.read_bytes()
                self.send_response(200)
                kind = "text/html" if target.suffix == ".html" else "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads ``requests`` instead."""

        return Handler
