"""Worker process: one Lambda execution environment running one function from its zip.

Started by ``ddbt.local.functions`` as ``python -I worker.py <code_dir> <handler> <response_fd>``
with the function's environment only. Reads one JSON request per line on stdin, answers one
JSON line per request on ``response_fd``; the function's own output (stdout, stderr, logging)
goes to the function's log file, framed by START/END/REPORT lines like CloudWatch Logs.

Standard library only, and run as a script with ``-I``: nothing from the project checkout
(editable install, cwd, PYTHONPATH) can shadow the code in the zip. ``boto3`` comes from the
interpreter's site-packages, as the Lambda Python runtime provides it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from typing import Any


class Context:
    """The subset of the Lambda context object handlers use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("DDBT_INVOKED_FUNCTION_ARN", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _isolate(code_dir: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    sys.path.insert(0, code_dir)
    # setuptools editable installs add meta-path finders that would serve the checkout's
    # packages for anything missing from the zip: drop them.
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path_hooks[:] = [
        h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")
    ]
    sys.path_importer_cache.clear()
    os.chdir(code_dir)


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[-12:],
    }


def _die_with_runtime(parent: int, interval: float = 0.05) -> None:
    """End this process as soon as the runtime that started it is gone.

    Workers run in their own session (so a timeout can kill a whole process group), so a
    runtime killed with SIGKILL would leave them running, each finishing the batch it had;
    a restarted runtime then redelivers that batch (its checkpoint did not advance) while the
    old worker still writes: two invocations of one shard at once, which Lambda never does,
    and the late, shorter batch can overwrite the new run's ETL object. Like a killed
    function, an orphaned worker stops where it is (requests already sent may still land).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(137)

    threading.Thread(target=watch, name="ddbt-runtime-watch", daemon=True).start()


def main() -> int:
    _die_with_runtime(os.getppid())
    code_dir, handler_spec, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(fd, "w", buffering=1)
    _isolate(code_dir)

    request_filter = _RequestIdFilter()
    root = logging.getLogger()
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(
        logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s")
    )
    stream.addFilter(request_filter)
    root.addHandler(stream)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())

    started = time.time()
    try:
        module_name, _, func_name = handler_spec.rpartition(".")
        if not module_name:
            raise ValueError(f"Bad handler '{handler_spec}': not enough values to unpack")
        try:
            module = importlib.import_module(module_name.replace("/", "."))
        except ImportError as exc:
            out.write(json.dumps(_error(exc, "Runtime.ImportModuleError")) + "\n")
            return 1
        handler = getattr(module, func_name, None)
        if handler is None:
            raise AttributeError(f"Handler '{func_name}' missing on module '{module_name}'")
    except Exception as exc:
        out.write(json.dumps(_error(exc, "Runtime.HandlerNotFound")) + "\n")
        return 1
    init_ms = (time.time() - started) * 1000
    out.write(json.dumps({"ready": True, "init_ms": init_ms}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        print(f"START RequestId: {request_id} Version: {version}", flush=True)
        t0 = time.time()
        try:
            payload = handler(request["event"], Context(request_id, request["deadline_ms"]))
            try:
                response: dict[str, Any] = {"ok": True, "payload": payload}
                text = json.dumps(response)
            except (TypeError, ValueError) as exc:
                text = json.dumps(_error(exc, "Runtime.MarshalError"))
        except Exception as exc:
            error = _error(exc)
            print(json.dumps({k: error[k] for k in ("errorType", "errorMessage", "stackTrace")}))
            text = json.dumps(error)
        duration = (time.time() - t0) * 1000
        print(f"END RequestId: {request_id}", flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Memory Size: {os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '')} MB",
            flush=True,
        )
        sys.stderr.flush()
        out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
