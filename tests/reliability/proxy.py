"""A fault-injecting HTTP proxy between the handlers and the local AWS endpoint (moto).

botocore hooks (faults.py) can only fail a request before it is sent. This proxy fails it on
the network, where the failures that matter for exactly-once live: a connection reset AFTER
the server applied the request (the client sees an error and retries a write that already
happened), a reset in the middle of the response, added latency, and the error responses
AWS sends under load (S3 503 SlowDown, DynamoDB and SNS throttling).

Point a client (or a worker process, through ``AWS_ENDPOINT_URL``) at ``Proxy.url``; every
request is matched against the rules in order, and the first rule whose matcher accepts it
and that has shots left decides what happens. Requests no rule takes go through unchanged.
A ``("custom", handle)`` rule hands the request to ``handle(exchange)``, which may forward it
(changed or not), answer it itself, or reset the connection (the soak's fault injector,
``tests/reliability/injector.py``, is one). The proxy speaks HTTP/1.1 on both sides
(keep-alive towards the client, one upstream connection per request), bodies by
``Content-Length`` or chunked encoding.
"""

from __future__ import annotations

import itertools
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DDB_JSON",
    "Exchange",
    "Proxy",
    "Request",
    "Response",
    "Rule",
    "answer",
    "ddb_op",
    "ddb_throttling",
    "ddb_transaction_conflict",
    "s3_put",
    "s3_slowdown",
    "sns_op",
    "sns_throttling",
]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes  # the request as received (head and body)

    @property
    def target(self) -> str:
        """DynamoDB's operation (``X-Amz-Target: DynamoDB_20120810.PutItem`` -> PutItem)."""
        return self.headers.get("x-amz-target", "").rpartition(".")[2]

    @property
    def query_action(self) -> str:
        """The ``Action`` of a query-protocol request (SNS, ...)."""
        if "x-www-form-urlencoded" not in self.headers.get("content-type", ""):
            return ""
        return parse_qs(self.body.decode("utf-8", "replace")).get("Action", [""])[0]

    def with_body(self, body: bytes) -> Request:
        """The same request with another body (``Content-Length`` set, chunking dropped)."""
        start, _, rest = self.raw.partition(b"\r\n")
        head = rest.partition(b"\r\n\r\n")[0]
        lines = [
            line
            for line in head.split(b"\r\n")
            if line.split(b":", 1)[0].strip().lower()
            not in (b"content-length", b"transfer-encoding")
        ]
        lines.append(b"Content-Length: " + str(len(body)).encode())
        headers = {k: v for k, v in self.headers.items() if k != "transfer-encoding"}
        headers["content-length"] = str(len(body))
        raw = start + b"\r\n" + b"\r\n".join(lines) + b"\r\n\r\n" + body
        return Request(self.method, self.path, headers, body, raw)


@dataclass
class Response:
    """An upstream response, its body decoded from chunks; ``encode()`` frames it again."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        head, _, rest = raw.partition(b"\r\n\r\n")
        start, headers = _headers(head)
        body = rest
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while rest:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                body, rest = body + rest[:size], rest[size + 2 :]
        return cls(int(start.split(" ", 2)[1]), headers, body)

    def encode(self) -> bytes:
        skip = ("content-length", "transfer-encoding", "connection")
        lines = [f"HTTP/1.1 {self.status} Proxied"]
        lines += [f"{k}: {v}" for k, v in self.headers.items() if k not in skip]
        lines += [f"Content-Length: {len(self.body)}", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.body


@dataclass
class Exchange:
    """What a ``("custom", handle)`` rule's handler gets: the request, its client connection
    (a number unique for the proxy's life, and its far end's port, to find the process behind
    it) and ``forward``, which sends a request upstream and returns the raw response."""

    request: Request
    connection: int
    client_port: int
    proxy_port: int
    forward: Callable[[Request], bytes]


@dataclass
class Rule:
    """``action`` is one of: ``("respond", status, headers, body)`` (the server never sees
    the request; ``body`` may be a function of the ``Request``), ``("delay", seconds)``
    (then forwarded), ``("barrier", n, timeout)`` (held until ``n`` requests the rule took
    are held together, or ``timeout`` seconds passed, then forwarded: requests sent
    concurrently are in flight at the same time for sure), ``("reset_before",)`` (the
    connection is reset before forwarding: not applied), ``("reset_after", fraction)``
    (forwarded and applied, the response read, then the client gets ``fraction`` of its
    bytes and a reset), ``("custom", handle)`` (``handle(Exchange)`` returns the raw response
    to send, or None to reset the connection). ``times``: how many requests it takes (None:
    every one while on)."""

    match: Callable[[Request], bool]
    action: tuple[Any, ...]
    times: int | None = 1
    hits: int = 0
    answered: int = 0  # requests it took that were forwarded and answered by the server
    on: bool = True
    seen: list[Request] = field(default_factory=list)
    met: threading.Barrier | None = None  # ("barrier", n, timeout): made on first use

    def take(self, request: Request) -> bool:
        if not self.on or (self.times is not None and self.hits >= self.times):
            return False
        if not self.match(request):
            return False
        self.hits += 1
        self.seen.append(request)
        return True


# -- matchers ----------------------------------------------------------------------------


def ddb_op(operation: str) -> Callable[[Request], bool]:
    return lambda r: r.target == operation


def sns_op(action: str) -> Callable[[Request], bool]:
    return lambda r: r.query_action == action


def s3_put(bucket: str) -> Callable[[Request], bool]:
    """S3 PutObject to ``bucket`` (path-style URL, as against a local endpoint)."""
    return lambda r: r.method == "PUT" and urlsplit(r.path).path.startswith(f"/{bucket}/")


# -- the error responses AWS sends -------------------------------------------------------


def s3_slowdown(status: int = 503, code: str = "SlowDown") -> tuple[Any, ...]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        "<Message>Please reduce your request rate.</Message>"
        "<RequestId>PROXY</RequestId><HostId>proxy</HostId></Error>"
    ).encode()
    return ("respond", status, {"Content-Type": "application/xml"}, body)


def ddb_transaction_conflict(request: Request, at: int = 0) -> bytes:
    """The body of DynamoDB's ``TransactionCanceledException`` for a TransactWriteItems
    another transaction conflicted with: one cancellation reason per action of the request,
    ``TransactionConflict`` on the action ``at`` (the first by default; taken modulo the
    number of actions) and ``None`` on the others (the shape of the service model's
    ``CancellationReasonList``; use as ``("respond", 400, JSON, this)``)."""
    actions = json.loads(request.body or b"{}").get("TransactItems") or [{}]
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in actions]
    reasons[at % len(reasons)] = {
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    }
    codes = ", ".join(r["Code"] for r in reasons)
    return json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific "
            f"reasons [{codes}]",
            "CancellationReasons": reasons,
        }
    ).encode()


DDB_JSON = {"Content-Type": "application/x-amz-json-1.0"}


def ddb_throttling(code: str = "ProvisionedThroughputExceededException") -> tuple[Any, ...]:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "Rate exceeded"}
    ).encode()
    return ("respond", 400, DDB_JSON, body)


def sns_throttling(code: str = "Throttling", status: int = 400) -> tuple[Any, ...]:
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        f"<Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message>"
        "</Error><RequestId>PROXY</RequestId></ErrorResponse>"
    ).encode()
    return ("respond", status, {"Content-Type": "text/xml"}, body)


def answer(action: tuple[Any, ...]) -> bytes:
    """A ``("respond", status, headers, body)`` action as the raw response it sends (what a
    ``("custom", ...)`` handler returns)."""
    _, status, headers, body = action
    return Response(status, {k.lower(): v for k, v in headers.items()}, body).encode()


# -- HTTP/1.1 message framing ------------------------------------------------------------


class _Closed(Exception):
    pass


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self.buf += chunk

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head + marker

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        try:
            while True:
                self._fill()
        except _Closed:
            out, self.buf = self.buf, b""
            return out


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _body(reader: _Reader, headers: dict[str, str], response: bool) -> tuple[bytes, bool]:
    """The raw body bytes (framing included) and whether the sender closes afterwards."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while True:
            size_line = reader.until(b"\r\n")
            out += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                out += reader.until(b"\r\n")  # (no trailers from botocore or moto)
                return out, False
            out += reader.exactly(size + 2)
    if "content-length" in headers:
        return reader.exactly(int(headers["content-length"])), False
    if response:
        return reader.rest(), True
    return b"", False


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Proxy:
    """``with Proxy(upstream_url) as proxy: ... proxy.url ...``; add rules any time.

    Leaving the ``with`` block stops taking connections and waits (up to ``drain`` seconds)
    until every request the proxy is holding or forwarding has its answer: a write a rule
    delays must not land after the test, in the next test's tables on the same endpoint."""

    def __init__(self, upstream: str, drain: float = 60.0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.requests = 0
        self.drain = drain
        self._connections = itertools.count(1)
        self._lock = threading.Lock()
        self._forwarding = 0  # requests read and not answered yet
        self._closing = False
        self._idle = threading.Condition(self._lock)
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: Any) -> None:
        with self._lock:
            self._closing = True  # a request read from now on is refused (connection reset)
        self._server.shutdown()
        self._server.server_close()
        with self._idle:
            drained = self._idle.wait_for(lambda: self._forwarding == 0, self.drain)
        if failed is None:  # else the block's own error is the one to see
            assert drained, f"{self._forwarding} requests still unanswered after {self.drain} s"

    def add(self, match: Callable[[Request], bool], action: tuple[Any, ...], **kw: Any) -> Rule:
        rule = Rule(match, action, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def _pick(self, request: Request) -> Rule | None:
        with self._lock:
            self.requests += 1
            for rule in self.rules:
                if rule.take(request):
                    return rule
        return None

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client)
        connection = next(self._connections)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                start, headers = _headers(head)
                if "100-continue" in headers.get("expect", "").lower():
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body, _ = _body(reader, headers, response=False)
                method, _, rest = start.partition(" ")
                request = Request(method, rest.rpartition(" ")[0], headers, body, head + body)
                with self._handling() as admitted:
                    if not admitted:  # the proxy is closing: not forwarded
                        _reset(client)
                        return
                    if not self._exchange(client, connection, request):
                        return
        except (_Closed, OSError):
            try:
                client.close()
            except OSError:
                pass

    def _exchange(self, client: socket.socket, connection: int, request: Request) -> bool:
        """Answer one request as its rule says; False when the connection is done."""
        rule = self._pick(request)
        action = rule.action if rule else ("pass",)
        kind = action[0]
        if kind == "respond":
            _, status, extra, payload = action
            if callable(payload):
                payload = payload(request)
            lines = [f"HTTP/1.1 {status} Injected"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            lines += [f"Content-Length: {len(payload)}", "", ""]
            client.sendall("\r\n".join(lines).encode() + payload)
            return True
        if kind == "reset_before":
            _reset(client)
            return False
        if kind == "custom":
            exchange = Exchange(
                request,
                connection,
                client.getpeername()[1],
                self._server.server_address[1],
                lambda r: self._forward(r)[0],
            )
            answer = action[1](exchange)
            if answer is None:
                _reset(client)
                return False
            client.sendall(answer)
            return True
        if kind == "delay":
            time.sleep(float(action[1]))
        if kind == "barrier":
            assert rule is not None
            self._meet(rule)
        response, closes = self._forward(request)
        if rule is not None:
            with self._lock:
                rule.answered += 1
        if kind == "reset_after":
            cut = int(len(response) * float(action[1]))
            if cut:
                client.sendall(response[:cut])
            _reset(client)
            return False
        client.sendall(response)
        if closes:
            client.close()
            return False
        return True

    @contextmanager
    def _handling(self) -> Iterator[bool]:
        """Counts a request from the moment it was read until it is answered (``__exit__``
        waits for none to be left); yields False, counting nothing, once the proxy closes."""
        with self._lock:
            admitted = not self._closing
            if admitted:
                self._forwarding += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._idle:
                    self._forwarding -= 1
                    self._idle.notify_all()

    def _meet(self, rule: Rule) -> None:
        """Hold a request of a ``("barrier", n, timeout)`` rule until ``n`` are held."""
        _, n, timeout = rule.action
        with self._lock:
            if rule.met is None:
                rule.met = threading.Barrier(int(n))
            barrier = rule.met
        try:
            barrier.wait(float(timeout))
        except threading.BrokenBarrierError:
            pass  # not met in time: forwarded anyway (the test's overlap check then fails)

    def _forward(self, request: Request) -> tuple[bytes, bool]:
        """Send the request upstream on a fresh connection; the whole response."""
        with socket.create_connection(self.upstream, timeout=60) as upstream:
            upstream.sendall(request.raw)
            reader = _Reader(upstream)
            head = reader.until(b"\r\n\r\n")
            while head.split(b" ", 2)[1].startswith(b"1"):  # 100 Continue: not the answer
                head = reader.until(b"\r\n\r\n")
            _, headers = _headers(head)
            if request.method == "HEAD" or head.split(b" ", 2)[1] in (b"204", b"304"):
                body, closes = b"", False
            else:
                body, closes = _body(reader, headers, response=True)
            closes = closes or headers.get("connection", "").lower() == "close"
            return head + body, closes
