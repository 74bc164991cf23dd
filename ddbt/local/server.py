"""The local AWS endpoint: moto's server in its own process, patched by ``moto_patches``.

    python -m ddbt.local.server --port 0 --endpoint-file build/local/endpoint

Binds 127.0.0.1 (a free port unless ``--port`` is given), writes its URL to ``--endpoint-file``
once it accepts connections, and serves until SIGTERM/SIGINT. Requests are not logged unless
``--access-log`` is given; warnings and errors are. Besides moto's APIs it answers:

* ``GET /_ddbt/code/<account>/<region>/<function>[?Qualifier=N]``: the deployed zip (what
  GetFunction's ``Code.Location`` points at);
* ``GET /_ddbt/health``: ``ok``.

Lambda ``Invoke`` runs the deployed zip in worker processes (``moto_patches`` patch 7); their
unpacked code and logs (``logs/<function>.log``) live in ``--state-dir`` (default: an
``invoke`` directory next to ``--endpoint-file``, else a temporary directory).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from ddbt.local import moto_patches

__all__ = ["main", "make_app"]

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

    from werkzeug.serving import make_server

    # Bind first (port 0 = free port), then tell moto the real address: it builds some URLs
    # (SQS queue URLs, our code locations) from it.
    server = make_server(args.host, args.port, make_app(), threaded=True)
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
