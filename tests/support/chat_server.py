"""A real OpenAI-compatible chat completions server on 127.0.0.1, driven by a script.

Each POST .../chat/completions takes the next behaviour from the script queue (a behaviour, or
a function of the recorded request returning one); when the queue is empty, `default` answers
(by default: echo the last user message). Faults are real on the wire: an HTTP status with
headers, a body that is not JSON, a connection held open without reply (hang), a connection
closed without reply (drop).

    with ChatServer([Status(429, headers={"Retry-After": "1"}), Status(500), Ok("X")]) as srv:
        ... EndpointSettings(base_url=srv.url, ...) ...
        srv.requests[0].body["messages"], srv.max_in_flight
        srv.wait_for_requests(3, timeout_s=60)  # a condition to wait on, not a sleep

Python's ThreadingHTTPServer (one thread per keep-alive connection) is enough: the benchmark
holds 32-64 connections sleeping `latency_s` each, which threads do well, and it needs no
dependency. Its listen backlog is 256 (socketserver's default is 5): 64 clients connecting at
once must find room in the accept queue. Handler threads are daemons, so a hung reply never
keeps a test process alive. The server only binds 127.0.0.1, and stops by itself after
`max_lifetime_s` (a safety net for a server a test forgot to stop): it then says so on stderr,
because what a client sees afterwards, "connection refused" ("ConnectError: All connection
attempts failed" in httpx), does not name the cause. Tests that run whole sweeps (minutes, more
on a loaded machine) must pass a lifetime far above their duration.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Ok:
    """A normal reply. usage defaults to word counts; model to the model requested."""

    text: str = "ok"
    logprobs: list[dict[str, Any]] | None = None  # choices[0].logprobs.content, verbatim
    finish_reason: str = "stop"
    model: str | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)


@dataclass(frozen=True)
class Status:
    """An error status; body defaults to OpenAI's {"error": {"message": ...}}."""

    code: int
    message: str = "scripted error"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not a chat completion (not JSON, or JSON without choices)."""

    body: str = '{"choices": [ not json'


@dataclass(frozen=True)
class Hang:
    """Hold the connection `seconds` (released early when the server stops), then close it."""

    seconds: float = 30.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without any reply."""


Behaviour = Ok | Status | Malformed | Hang | Drop


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None when the body was not JSON
    received_at: float  # time.monotonic()

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


Responder = Callable[[RecordedRequest], Behaviour]


def echo_last_user(request: RecordedRequest) -> Behaviour:
    users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
    return Ok(text=f"echo: {users[-1] if users else ''}")


def token_logprobs(
    tokens: Sequence[tuple[str, float]], alternatives: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """logprobs.content for the given (token, logprob) pairs; each position's top_logprobs is
    the chosen token plus `alternatives`, most likely first."""
    content = []
    for token, logprob in tokens:
        top = {token: logprob, **{t: lp for t, lp in (alternatives or {}).items() if t != token}}
        ranked = sorted(top.items(), key=lambda item: -item[1])
        content.append({
            "token": token,
            "logprob": logprob,
            "bytes": list(token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                             for t, lp in ranked],
        })
    return content


def completion_body(request: RecordedRequest, ok: Ok) -> dict[str, Any]:
    """The chat.completion JSON object the OpenAI API returns for `ok`."""
    words_in = sum(len(str(m.get("content", "")).split()) for m in request.messages)
    prompt_tokens, completion_tokens = ok.usage or (words_in, len(ok.text.split()))
    requested = request.body.get("model") if isinstance(request.body, dict) else None
    return {
        "id": f"chatcmpl-{int(request.received_at * 1e6)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ok.model or requested or "scripted",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": ok.text},
            "logprobs": {"content": ok.logprobs} if ok.logprobs is not None else None,
            "finish_reason": ok.finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx's pool expects
    disable_nagle_algorithm = True  # else headers then body wait on the client's delayed ACK
    timeout = 30  # an idle keep-alive connection's thread ends by itself
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.chat._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.chat._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests assert on `requests`, not on stderr

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted"}]}), {})
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}), {})

    def do_POST(self) -> None:
        chat = self.server.chat
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = chat._record(self.command, self.path, dict(self.headers.items()), raw)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}), {})
            return
        with chat._in_flight():
            chat._stopping.wait(chat.latency_s)
            behaviour = chat._next_behaviour(request)
            try:
                self._perform(behaviour, request)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. its timeout)

    def _perform(self, behaviour: Behaviour, request: RecordedRequest) -> None:
        if isinstance(behaviour, Ok):
            self._send(200, json.dumps(completion_body(request, behaviour)), {})
        elif isinstance(behaviour, Status):
            body = behaviour.body
            if body is None:
                body = json.dumps({"error": {"message": behaviour.message, "code": behaviour.code}})
            self._send(behaviour.code, body, behaviour.headers)
        elif isinstance(behaviour, Malformed):
            self._send(200, behaviour.body, {})
        elif isinstance(behaviour, Hang):
            self.server.chat._stopping.wait(behaviour.seconds)
            self.close_connection = True
        else:  # Drop
            self.close_connection = True

    def _send(self, code: int, body: str, headers: Mapping[str, str]) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connecting at once must not overflow the backlog

    def __init__(self, chat: ChatServer, port: int) -> None:
        self.chat = chat
        super().__init__(("127.0.0.1", port), _Handler)


class ChatServer:
    """The loopback server; a context manager (start on enter, stop on exit)."""

    def __init__(
        self,
        script: Iterable[Behaviour | Responder] = (),
        default: Behaviour | Responder = echo_last_user,
        latency_s: float = 0.0,
        max_lifetime_s: float = 300.0,
        port: int = 0,  # 0: any free port; a fixed one lets a test bring a server up late
    ) -> None:
        self.latency_s = latency_s
        self.max_in_flight = 0
        self.expired = threading.Event()  # set when max_lifetime_s stopped the server
        self._script: deque[Behaviour | Responder] = deque(script)
        self._default = default
        self._max_lifetime_s = max_lifetime_s
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified at each recorded request
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._now_in_flight = 0
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(self, port)
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        """The base_url a client uses: http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout_s: float) -> bool:
        """Block until `count` requests were received (whatever their reply); False on timeout.

        Tests wait on this condition instead of sleeping, so a loaded machine is only slower."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._requests) >= count, timeout_s)

    def push(self, *behaviours: Behaviour | Responder) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def start(self) -> ChatServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        # Bounded: a server a test forgot to stop still goes away.
        self._timer = threading.Timer(self._max_lifetime_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _expire(self) -> None:
        """The lifetime ran out: stop, and say so (clients only see connections refused)."""
        self.stop()
        print(
            f"ChatServer {self.url}: stopped after max_lifetime_s={self._max_lifetime_s}; "
            "a test still using it sees 'connection refused'. Pass a longer max_lifetime_s.",
            file=sys.stderr,
            flush=True,
        )
        self.expired.set()  # once the port refuses: a test waiting on it sees what follows

    def stop(self) -> None:
        with self._lock:
            if self._stopping.is_set() or self._thread is None:
                return
            self._stopping.set()  # releases hangs and latencies at once
            connections = list(self._connections)
        if self._timer is not None:
            self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in connections:  # wakes threads blocked reading idle keep-alive sockets
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        lowered = {name.lower(): value for name, value in headers.items()}
        request = RecordedRequest(method, path, lowered, body, time.monotonic())
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
        return request

    def _next_behaviour(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            step = self._script.popleft() if self._script else self._default
        return step(request) if callable(step) else step

    @contextlib.contextmanager
    def _in_flight(self) -> Any:
        with self._lock:
            self._now_in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._now_in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._now_in_flight -= 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
