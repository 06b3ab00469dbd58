"""A tiny scripted HTTP server (the standard library's, in a thread) for what a real service
will not do on demand: answer 503 once, drop an event stream halfway, never end one."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


Handler = Callable[["Exchange"], None]


class Exchange:
    """One request, and ways to answer it."""

    def __init__(self, raw: BaseHTTPRequestHandler, seen: Seen, number: int) -> None:
        self.raw = raw
        self.seen = seen
        self.number = number  # 0 for the first request the server got

    def reply(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.raw.send_response(status)
        for name, value in (headers or {}).items():
            self.raw.send_header(name, value)
        self.raw.send_header("Content-Length", str(len(body)))
        self.raw.end_headers()
        self.raw.wfile.write(body)

    def start_events(self) -> None:
        self.raw.send_response(200)
        self.raw.send_header("Content-Type", "text/event-stream")
        self.raw.send_header("Transfer-Encoding", "chunked")
        self.raw.end_headers()

    def chunk(self, text: str) -> None:
        data = text.encode()
        self.raw.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.raw.wfile.flush()

    def end_events(self) -> None:
        self.raw.wfile.write(b"0\r\n\r\n")
        self.raw.wfile.flush()

    def drop(self) -> None:
        """Cut the connection in the middle of the answer."""
        self.raw.wfile.flush()
        self.raw.close_connection = True
        with contextlib.suppress(OSError):
            self.raw.connection.shutdown(socket.SHUT_RDWR)


def sse(event: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


class FakeServer:
    def __init__(self, handle: Handler) -> None:
        self.seen: list[Seen] = []
        self.stop_event = threading.Event()
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, self.path, headers, body)
                server.seen.append(seen)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    handle(Exchange(self, seen, len(server.seen) - 1))

            do_GET = do_POST = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
