"""The local AWS endpoint: moto's server in its own process, patched by ``moto_patches``.

    python -m ddbt.local.server --port 0 --endpoint-file build/local/endpoint

Binds 127.0.0.1 (a free port unless ``--port`` is given), writes its URL to ``--endpoint-file``
once it accepts connections, and serves until SIGTERM/SIGINT. Requests are not logged unless
``--access-log`` is given; warnings and errors are. Besides moto's APIs it answers:

* ``GET /_ddbt/code/<account>/<region>/<function>[?Qualifier=N]``: the deployed zip (what
  GetFunction's ``Code.Location`` points at);
* ``GET /_ddbt/health``: ``ok``.

Connections stay open between requests (HTTP/1.1 keep-alive, as AWS's endpoints and botocore's
connection pools expect; ``KeepAliveHandler`` says how).

Lambda ``Invoke`` runs the deployed zip in worker processes (``moto_patches`` patch 7); their
unpacked code and logs (``logs/<function>.log``) live in ``--state-dir`` (default: an
``invoke`` directory next to ``--endpoint-file``, else a temporary directory).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ddbt.local import moto_patches

__all__ = [
    "KeepAliveHandler",
    "main",
    "make_app",
    "make_server_keeping_connections",
    "moto_in_thread",
]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def make_app() -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_ddbt/health":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if path.startswith(moto_patches.CODE_PATH + "/"):
            return _serve_code(path, environ.get("QUERY_STRING", ""), start_response)
        return moto_app(environ, start_response)  # type: ignore[no-any-return]

    return app


def _serve_code(path: str, query: str, start_response: StartResponse) -> Iterable[bytes]:
    from moto.awslambda.models import lambda_backends

    parts = path[len(moto_patches.CODE_PATH) + 1 :].split("/")
    qualifier = next(iter(parse_qs(query).get("Qualifier") or []), None)
    try:
        account, region, name = parts[0], parts[1], unquote("/".join(parts[2:]))
        fn = lambda_backends[account][region].get_function(name, qualifier)
        body = bytes(fn.code_bytes)
    except Exception as exc:  # any lookup failure is a 404 for the caller
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"no code for {path}: {exc}".encode()]
    if not body:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"function has no zip (image or missing S3 object)"]
    start_response(
        "200 OK", [("Content-Type", "application/zip"), ("Content-Length", str(len(body)))]
    )
    return [body]


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, with connections kept open between requests.

    werkzeug's development server ends every response with ``Connection: close``: it cannot
    tell where a request body the application left unread ends. So every AWS call paid a new
    TCP connection on both sides and a new server thread, about a fifth of the CPU of a call
    (this machine: 2.7 ms for a PutItem, client and server, against 2.2 kept open). Here a
    request's body is read whole, by its ``Content-Length``, before the application runs, and
    the response is buffered and sent with its own length, so the next request on the
    connection starts where this one ended. A request framed any other way (a chunked body)
    goes through werkzeug's own handling, which closes the connection after it.
    """

    disable_nagle_algorithm = True  # the head and body of a response are not held apart
    wbufsize = 1 << 16  # and go out together: http.server flushes after each request

    def handle_expect_100(self) -> bool:
        # "100 Continue" must reach the client now: it holds the body back until it does
        # (botocore waits a second for it on every S3 upload, then sends the body anyway).
        answered = super().handle_expect_100()
        self.wfile.flush()
        return answered

    def run_wsgi(self) -> None:
        declared = self.headers.get("Content-Length", "0").strip()
        if self.headers.get("Transfer-Encoding") or not declared.isdigit():
            super().run_wsgi()
            return
        length = int(declared)
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away within the body
            self.close_connection = True
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
        status, headers, payload = self._call_app(environ)
        code = int(status.split(None, 1)[0])
        self.send_response(code, status.partition(" ")[2])
        # HEAD keeps the application's Content-Length (the object's); 1xx, 204 and 304 have no
        # body and no length; every other response gets the length of what is sent.
        bodiless = self.command == "HEAD" or code < 200 or code in (204, 304)
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("connection", "transfer-encoding"):
                continue
            if lowered == "content-length" and self.command != "HEAD":
                continue
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:  # the client asked for it, or the application failed
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(payload)

    def _call_app(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            return started[0], started[1], b"".join(chunks)
        except Exception:
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            self.close_connection = True
            return "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"error\n"


def make_server_keeping_connections(
    host: str, port: int, app: Callable[[Environ, StartResponse], Iterable[bytes]]
) -> BaseWSGIServer:
    """A threaded werkzeug server (a thread per connection) with ``KeepAliveHandler``. Closing
    it does not wait for connections its clients still hold open."""
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.block_on_close = False  # type: ignore[attr-defined]
    return server


@contextmanager
def moto_in_thread(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """moto's own server (none of the patches ``apply()`` makes) in a thread of this process,
    for the duration, its URL yielded: the tests' and the benchmarks' endpoint. Port 0: a
    free port the system picks, so that no two servers race for one. No access log."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server_keeping_connections(
        host, port, DomainDispatcherApplication(create_backend_app)
    )
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddbt.local.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    parser.add_argument("--endpoint-file", type=Path, help="write the endpoint URL here")
    parser.add_argument(
        "--state-dir", type=Path, help="code and logs of invoked functions (see above)"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request on stderr (werkzeug's access log; off: it cost a sixth of the "
        "endpoint's CPU in the soak)",
    )
    args = parser.parse_args(argv)
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state_dir = args.state_dir or (
        args.endpoint_file.parent / "invoke" if args.endpoint_file else None
    )

    # Bind first (port 0 = free port), then tell moto the real address: it builds some URLs
    # (SQS queue URLs, our code locations) from it.
    server = make_server_keeping_connections(args.host, args.port, make_app())
    url = f"http://{args.host}:{server.server_port}"
    os.environ["MOTO_PORT"] = str(server.server_port)
    moto_patches.apply(url, state_dir)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.endpoint_file:
        args.endpoint_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.endpoint_file.with_suffix(".tmp")
        tmp.write_text(url + "\n")
        tmp.replace(args.endpoint_file)
    print(f"ddbt: local AWS endpoint {url} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever()
    finally:
        moto_patches.close()
        if args.endpoint_file and args.endpoint_file.exists():
            try:
                if args.endpoint_file.read_text().strip() == url:
                    args.endpoint_file.unlink()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
