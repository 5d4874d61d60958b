"""A real HTTP server on 127.0.0.1 (a free port, in a thread) serving test files, counting requests.

Paths can misbehave on purpose: ``drop`` sends a Content-Length larger than what
it writes and then closes the connection, ``slow`` trickles its file over
``slow_s`` seconds, ``stall`` says nothing for ``stall_s`` seconds. Every request
is bounded in time, and the server stops when the ``serve`` block ends.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class FileServer:
    def __init__(self, files: dict[str, bytes], drop: set[str], slow: set[str], stall: set[str],
                 slow_s: float, stall_s: float) -> None:
        self.files, self.drop, self.slow, self.stall = files, drop, slow, stall
        self.slow_s, self.stall_s = slow_s, stall_s
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.running = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.requests["/" + path.lstrip("/")]

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)
            self.running = False


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that stops reading cannot hold a handler thread for ever

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            with server.lock:
                server.requests[self.path] += 1
            if self.path in server.stall:
                time.sleep(server.stall_s)
                return
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) * 2 if self.path in server.drop else len(body)))
            self.end_headers()
            if self.path in server.drop:  # half the promised bytes, then hang up
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            pieces = 10 if self.path in server.slow else 1
            step = -(-len(body) // pieces)
            for start in range(0, len(body), step):
                self.wfile.write(body[start:start + step])
                self.wfile.flush()
                if pieces > 1:
                    time.sleep(server.slow_s / pieces)

    return Handler


@contextlib.contextmanager
def serve(files: dict[str, bytes], drop: set[str] = frozenset(), slow: set[str] = frozenset(),
          stall: set[str] = frozenset(), slow_s: float = 2.0, stall_s: float = 3.0) -> Iterator[FileServer]:
    """Serve ``files`` (URL path -> bytes) until the block ends."""
    norm = lambda paths: {"/" + p.lstrip("/") for p in paths}  # noqa: E731
    server = FileServer({"/" + k.lstrip("/"): v for k, v in files.items()}, norm(drop), norm(slow),
                        norm(stall), slow_s, stall_s)
    try:
        yield server
    finally:
        server.stop()
