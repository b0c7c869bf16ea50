"""A real HTTP server on 127.0.0.1 for a test's own handler (conftest's `spec_server` serves the fake Conductor)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, Type


@contextmanager
def serving(handler: Type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """`handler` served on a port the OS picks, on a thread of its own, until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # daemon handler threads: a stalled one never holds the exit
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, 0.01 here
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
