"""Functions as deployed: GetFunction, the deployed zip, and worker processes that run it.

Each concurrent invocation of a function gets its own worker process (a warm execution
environment, reused while the function's code and configuration are unchanged), started with
the function's own environment plus the endpoint settings. An invocation that exceeds the
function's timeout kills its worker and is a function error (``Sandbox.Timedout``), as on AWS.

Not reproduced: memory limits (``MemorySize`` is only reported to the handler), layers,
container images, runtimes other than the local Python, reserved/provisioned concurrency.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddbt.local.engine import InvokeResult
from ddbt.local.model import FunctionSpec

__all__ = ["FunctionRegistry", "Worker", "WorkerError", "worker_env"]

INIT_TIMEOUT = 10.0  # Lambda's init phase limit for on-demand functions
WORKER_SCRIPT = Path(__file__).with_name("worker.py")

# Variables from the poller's environment a worker may see besides its function's own.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")


class WorkerError(RuntimeError):
    """The function could not be started (not an invocation error)."""


def worker_env(
    spec: FunctionSpec,
    code_dir: Path,
    *,
    endpoint_url: str | None,
    credentials: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one execution environment of ``spec``."""
    region = spec.arn.split(":")[3]
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env.update(spec.environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/")
            + f"[{spec.version}]{uuid.uuid4().hex}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python'}",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "DDBT_INVOKED_FUNCTION_ARN": spec.arn,
        }
    )
    if endpoint_url:
        # Local endpoint: fake credentials, no user config files, every client to 127.0.0.1.
        env.update(
            {
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
    elif credentials:
        env.update(credentials)  # the poller's own (resolved, temporary) credentials
    return env


def _read_line(fd: int, buf: bytearray, deadline: float) -> bytes | None:
    """One line from ``fd`` before ``deadline`` (None on timeout); raises EOFError."""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise EOFError("worker closed its response pipe")
        buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


class Worker:
    """One execution environment (process) of one function."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, env: dict[str, str], log: Path):
        self.spec = spec
        self.fingerprint = spec.fingerprint()
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")
        read_fd, write_fd = os.pipe()
        self._fd = read_fd
        self._buf = bytearray()
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    str(WORKER_SCRIPT),
                    str(code_dir),
                    spec.handler,
                    str(write_fd),
                ],
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(code_dir),
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self.init_error: dict[str, Any] | None = None
        self.init_ms = 0.0
        try:
            line = _read_line(self._fd, self._buf, time.monotonic() + INIT_TIMEOUT)
        except EOFError:
            line = b""
        if line is None:
            self.kill()
            self.init_error = {
                "errorType": "Runtime.InitTimeout",
                "errorMessage": f"init exceeded {INIT_TIMEOUT:.0f} s",
            }
            return
        message = (
            json.loads(line)
            if line
            else {"errorType": "Runtime.ExitError", "errorMessage": "worker exited during init"}
        )
        if not message.get("ready"):
            self.kill()
            self.init_error = message
        else:
            self.init_ms = float(message.get("init_ms", 0))

    @property
    def alive(self) -> bool:
        return self.init_error is None and self.proc.poll() is None

    def invoke(self, event: dict[str, Any], timeout: float) -> InvokeResult:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        if self.init_error is not None:
            return InvokeResult(
                "error",
                error_type=self.init_error.get("errorType", ""),
                error_message=self.init_error.get("errorMessage", ""),
                request_id=request_id,
            )
        deadline_ms = int(time.time() * 1000 + timeout * 1000)
        request = (
            json.dumps({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
            + "\n"
        )
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            line = _read_line(self._fd, self._buf, started + timeout)
        except (BrokenPipeError, EOFError, OSError):
            self.kill()
            return InvokeResult(
                "error",
                error_type="Runtime.ExitError",
                error_message="the worker process exited",
                request_id=request_id,
                duration=time.monotonic() - started,
            )
        duration = time.monotonic() - started
        if line is None:
            self._log.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
                f"{request_id} Task timed out after {timeout:.2f} seconds\n".encode()
            )
            self._log.flush()
            self.kill()
            return InvokeResult(
                "timeout",
                error_type="Sandbox.Timedout",
                error_message=f"Task timed out after {timeout:.2f} seconds",
                request_id=request_id,
                duration=duration,
            )
        response = json.loads(line)
        if response.get("ok"):
            return InvokeResult(
                "ok", payload=response.get("payload"), request_id=request_id, duration=duration
            )
        return InvokeResult(
            "error",
            error_type=response.get("errorType", ""),
            error_message=response.get("errorMessage", ""),
            request_id=request_id,
            duration=duration,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        self.close()

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (subprocess.TimeoutExpired, OSError):
                pass
        self.kill()

    def close(self) -> None:
        closers: tuple[Callable[[], None], ...] = (lambda: os.close(self._fd), self._log.close)
        for closer in closers:
            try:
                closer()
            except OSError:
                pass
        self._fd = -1


@dataclass
class _Entry:
    spec: FunctionSpec | None
    error: str = ""
    checked: float = 0.0


class FunctionRegistry:
    """GetFunction results, code directories and warm workers, per invoked function ARN."""

    def __init__(
        self,
        lambda_client: Any,
        state_dir: Path,
        *,
        endpoint_url: str | None,
        credentials: Callable[[], dict[str, str]] | None = None,
        code_overrides: dict[str, Path] | None = None,
        max_workers_per_function: int = 10,
        refresh_interval: float = 2.0,
    ) -> None:
        self.client = lambda_client
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self.code_overrides = dict(code_overrides or {})
        self.max_workers = max_workers_per_function
        self.refresh_interval = refresh_interval
        self._entries: dict[str, _Entry] = {}
        self._idle: dict[str, list[Worker]] = {}
        self._busy: dict[str, int] = {}
        self._lock = threading.Condition()
        self._code_lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------
    def spec(self, arn: str, *, refresh: bool = False) -> FunctionSpec | None:
        """The function behind ``arn`` (None while it does not exist or is unusable)."""
        with self._lock:
            entry = self._entries.get(arn)
        stale = entry is None or (
            entry.checked != float("inf")
            and (refresh or time.monotonic() - entry.checked > self.refresh_interval)
        )
        if stale:
            entry = self._fetch(arn)
            with self._lock:
                self._entries[arn] = entry
        assert entry is not None
        return entry.spec

    def register(self, spec: FunctionSpec) -> None:
        """A function that is not deployed (ad-hoc runs): never looked up with GetFunction."""
        with self._lock:
            self._entries[spec.arn] = _Entry(spec, "", float("inf"))

    def error(self, arn: str) -> str:
        entry = self._entries.get(arn)
        return entry.error if entry else ""

    def _fetch(self, arn: str) -> _Entry:
        try:
            response = self.client.get_function(FunctionName=arn)
        except Exception as exc:  # ResourceNotFound, throttles, network: retried later
            return _Entry(None, f"GetFunction failed: {exc}", time.monotonic())
        spec = FunctionSpec.from_api(arn, response)
        if (spec.code_location is None and self._override(spec) is None) or not spec.handler:
            return _Entry(
                None, "function has no zip package (image functions are not run)", time.monotonic()
            )
        return _Entry(spec, "", time.monotonic())

    def _override(self, spec: FunctionSpec) -> Path | None:
        return self.code_overrides.get(spec.name) or self.code_overrides.get(spec.arn)

    # -- code ----------------------------------------------------------------------------
    def code_dir(self, spec: FunctionSpec) -> Path:
        """The function's code, unpacked (``--code`` override: used as is / unpacked)."""
        override = self._override(spec)
        if override is not None and override.is_dir():
            return override.resolve()
        with self._code_lock:
            if override is not None:
                data = override.read_bytes()
            else:
                target = self.state_dir / "code" / _sha_hex(spec.code_sha256)
                if target.is_dir():
                    return target
                assert spec.code_location is not None
                with urllib.request.urlopen(spec.code_location, timeout=30) as response:
                    data = response.read()
                actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
                if spec.code_sha256 and actual != spec.code_sha256:
                    raise WorkerError(
                        f"downloaded code of {spec.name} has CodeSha256 {actual}, "
                        f"GetFunction says {spec.code_sha256}"
                    )
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            target = self.state_dir / "code" / _sha_hex(digest)
            if not target.is_dir():
                tmp = target.with_name(target.name + f".tmp{os.getpid()}")
                shutil.rmtree(tmp, ignore_errors=True)
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(tmp)
                tmp.replace(target)
            return target

    # -- invocation ----------------------------------------------------------------------
    def invoke(self, arn: str, event: dict[str, Any]) -> InvokeResult:
        """Invoke synchronously like the event source mapping does."""
        spec = self.spec(arn)
        if spec is None:
            return InvokeResult(
                "not_invoked", error_type="ResourceNotFoundException", error_message=self.error(arn)
            )
        try:
            worker = self._acquire(spec)
        except (WorkerError, OSError, zipfile.BadZipFile) as exc:
            return InvokeResult("not_invoked", error_type="CodeUnavailable", error_message=str(exc))
        if worker is None:
            return InvokeResult(
                "not_invoked",
                error_type="TooManyRequestsException",
                error_message="all workers busy",
            )
        result = worker.invoke(event, spec.timeout)
        self._release(arn, worker)
        return result

    def _acquire(self, spec: FunctionSpec) -> Worker | None:
        fingerprint = spec.fingerprint()
        with self._lock:
            idle = self._idle.setdefault(spec.arn, [])
            stale = [w for w in idle if w.fingerprint != fingerprint or not w.alive]
            for w in stale:
                idle.remove(w)
            while idle:
                worker = idle.pop()
                self._busy[spec.arn] = self._busy.get(spec.arn, 0) + 1
                break
            else:
                worker = None
                if self._busy.get(spec.arn, 0) >= self.max_workers:
                    return None
                self._busy[spec.arn] = self._busy.get(spec.arn, 0) + 1
        for w in stale:
            w.stop()
        if worker is not None:
            return worker
        try:
            code_dir = self.code_dir(spec)
            creds = self.credentials() if self.credentials else None
            env = worker_env(spec, code_dir, endpoint_url=self.endpoint_url, credentials=creds)
            return Worker(spec, code_dir, env, self.state_dir / "logs" / f"{spec.name}.log")
        except BaseException:
            with self._lock:
                self._busy[spec.arn] -= 1
            raise

    def _release(self, arn: str, worker: Worker) -> None:
        with self._lock:
            self._busy[arn] -= 1
            if worker.alive:
                self._idle.setdefault(arn, []).append(worker)
            else:
                worker.close()

    def close(self) -> None:
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for w in workers:
            w.stop()


def _sha_hex(b64: str) -> str:
    try:
        return base64.b64decode(b64).hex()
    except ValueError:
        return hashlib.sha256(b64.encode()).hexdigest()
