"""The endpoint's HTTP handling (``ddbt.local.server.KeepAliveHandler``): connections kept open
between requests, as AWS's endpoints keep them and botocore's pools expect, with every other
framing still served."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
import urllib3.util.connection

from ddbt.local.server import make_server_keeping_connections, moto_in_thread

Environ = dict[str, Any]


def _app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echoes the request: its method and body length; /fail raises; HEAD says 1234 bytes."""
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("the application failed")
    body = environ["wsgi.input"].read()
    if environ["REQUEST_METHOD"] == "HEAD":
        start_response("200 OK", [("Content-Length", "1234")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/plain")])  # no length: the handler's
    return [f"{environ['REQUEST_METHOD']} {len(body)}".encode()]


@pytest.fixture
def port() -> Iterator[int]:
    server = make_server_keeping_connections("127.0.0.1", 0, _app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def test_one_connection_carries_many_requests(port: int) -> None:
    # werkzeug alone answers "Connection: close" and the second request finds it closed
    conn = _connection(port)
    for n in range(3):
        conn.request("POST", "/", body=b"x" * n)
        response = conn.getresponse()
        assert response.read() == f"POST {n}".encode()
        assert response.getheader("Connection") is None
        assert response.getheader("Content-Length") == str(len(f"POST {n}"))


def test_head_keeps_the_applications_length_and_sends_no_body(port: int) -> None:
    conn = _connection(port)
    conn.request("HEAD", "/object")
    head = conn.getresponse()
    assert head.getheader("Content-Length") == "1234" and head.read() == b""
    conn.request("GET", "/")  # the same connection: nothing of the HEAD was left on it
    assert conn.getresponse().read() == b"GET 0"


def test_continue_is_sent_before_the_body(port: int) -> None:
    # botocore sends an upload's body only after "100 Continue" (or after waiting 1 s for it)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"hello")
        reader = sock.makefile("rb")
        lines = []
        while not lines or lines[-1] != b"\r\n":
            lines.append(reader.readline())
        assert b"HTTP/1.1 200 OK\r\n" in lines and reader.read(5) == b"PUT 5"


def test_a_chunked_body_is_served_and_its_connection_closed(port: int) -> None:
    conn = _connection(port)
    conn.request("PUT", "/", body=iter([b"abc", b"de"]), encode_chunked=True)
    response = conn.getresponse()
    assert response.read() == b"PUT 5" and response.getheader("Connection") == "close"


def test_an_application_error_is_a_500_and_its_connection_closed(port: int) -> None:
    conn = _connection(port)
    conn.request("GET", "/fail")
    response = conn.getresponse()
    assert response.status == 500 and response.getheader("Connection") == "close"
    response.read()


def test_boto3_calls_to_moto_share_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    connect = urllib3.util.connection.create_connection

    def counted(*args: Any, **kwargs: Any) -> socket.socket:
        opened.append(args)
        return connect(*args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    with moto_in_thread() as url:
        sent: list[object] = []
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.meta.events.register("before-send", lambda **kw: sent.append(kw))
        s3.create_bucket(Bucket="kept-open")
        s3.put_object(Bucket="kept-open", Key="k", Body=io.BytesIO(b"z" * 100_000))  # Expect: 100
        assert s3.get_object(Bucket="kept-open", Key="k")["Body"].read() == b"z" * 100_000
        assert s3.head_object(Bucket="kept-open", Key="k")["ContentLength"] == 100_000
        assert len(sent) == 4 and len(opened) == 1
