"""A tiny loopback TCP proxy whose link can be cut and restored, to partition an agent."""

import contextlib
import socket
import threading
from types import TracebackType

from runyard_server.embedded import free_port


class CuttableProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target``; :meth:`cut` drops the link.

    While cut, open connections are closed and new ones are accepted and then left
    without an answer, as a partitioned network looks to a client: requests time out.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CuttableProxy":
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every open connection; new ones hang until :meth:`restore`."""
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        """Forward again (connections accepted while cut stay dead; clients time out)."""
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._close_all()

    def __enter__(self) -> "CuttableProxy":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            if self._cut.is_set():
                continue  # a black hole: accepted, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
