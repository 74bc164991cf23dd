"""``ddbt``: the project's command line (the local cloud, and the operations commands).

Every command reports an ordinary mistake (no region or credentials, a table that does not
exist, a missing argument) in one line on stderr with exit status 2; see ``ddbt.mistakes``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["Parser", "build_parser", "main", "runner_command"]

DEFAULT_STATE_DIR = Path("build/local")
STATE_ENV = "DDBT_STATE_DIR"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: what is wrong, and where the usage is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _state_dir(args: argparse.Namespace) -> Path:
    """--state-dir, else $DDBT_STATE_DIR (which ``ddbt local up`` prints), else build/local
    in the current folder."""
    chosen = args.state_dir or os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR
    return Path(chosen).expanduser().resolve()


def _endpoint(args: argparse.Namespace) -> str | None:
    if getattr(args, "no_endpoint", False):
        return None
    if getattr(args, "endpoint_url", None):
        return str(args.endpoint_url)
    if os.environ.get("DDBT_ENDPOINT_URL"):
        return os.environ["DDBT_ENDPOINT_URL"]
    path = _state_dir(args) / "endpoint"
    if path.exists():
        return path.read_text().strip()
    raise SystemExit(
        f"ddbt: no local endpoint ({path} missing): run `ddbt local up`, set {STATE_ENV} to "
        "the folder it printed, pass --endpoint-url, or --no-endpoint to poll a real account"
    )


def _regions(args: argparse.Namespace) -> list[str]:
    """--region (comma-separated), else the AWS CLI's resolution (``ddbt.aws``); the local
    cloud falls back to us-east-1, a real account (--no-endpoint) needs one."""
    from ddbt import aws

    raw = aws.region(args.region)
    if raw is None and getattr(args, "no_endpoint", False):
        raw = aws.require_region()
    return [r.strip() for r in (raw or "us-east-1").split(",") if r.strip()]


def runner_command(url: str, state: Path, regions: Sequence[str], *extra: str) -> list[str]:
    """The command line of ``ddbt local run`` (the pollers) for the endpoint ``url`` in
    ``regions``, its state in ``state``; ``extra``: more of its options."""
    return [
        sys.executable,
        "-m",
        "ddbt.cli",
        "local",
        "run",
        "--endpoint-url",
        url,
        "--state-dir",
        str(state),
        "--region",
        ",".join(regions),
        *extra,
    ]


def _exports(url: str, region: str, state: Path) -> list[tuple[str, str]]:
    """What points the AWS CLI, SDKs, Terraform and ``ddbt`` at the local cloud (and, when
    it runs one, a root module's ``cache_endpoint`` at the local cache server)."""
    from ddbt.aws import local_env

    found = [*local_env(url, region, isolated=False).items(), (STATE_ENV, str(state))]
    cache = _cache_endpoint(state)
    if cache:
        found += [("TF_VAR_cache_endpoint", cache), ("TF_VAR_cache_tls", "false")]
    return found


def _cache_endpoint(state: Path) -> str:
    """host:port of the local cache server `up` started ('' when none runs)."""
    path = state / "cache-endpoint"
    if _read_pid(state / "cache.pid") is None or not path.exists():
        return ""
    return path.read_text().strip()


def _start_cache(state: Path) -> str:
    """The local Valkey/Redis server for the cache processor, started when one is installed
    (a line saying how to install one otherwise)."""
    from ddbt.local.cacheserver import CacheServer, CacheServerError, find

    found = _cache_endpoint(state)
    if found:
        return f"cache     {found}  (pid {_read_pid(state / 'cache.pid')}, Valkey/Redis)"
    if find() is None:
        return "cache     none: no valkey-server or redis-server (make cache-server installs one)"
    try:
        server = CacheServer(directory=state / "cache", detached=True).start()
    except CacheServerError as exc:
        return f"cache     did not start: {exc}"
    (state / "cache.pid").write_text(f"{server.pid}\n")
    (state / "cache-endpoint").write_text(f"{server.endpoint}\n")
    return f"cache     {server.endpoint}  (pid {server.pid}, log {state / 'cache' / 'server.log'})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _wait_health(url: str, timeout: float) -> bool:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_ddbt/health", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


# -- commands ---------------------------------------------------------------------------
def cmd_server(args: argparse.Namespace) -> int:
    from ddbt.local import server

    argv = [
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--endpoint-file",
        str(_state_dir(args) / "endpoint"),
    ]
    return server.main(argv)


def cmd_up(args: argparse.Namespace) -> int:
    state = _state_dir(args)
    state.mkdir(parents=True, exist_ok=True)
    server_pid = _read_pid(state / "server.pid")
    endpoint_file = state / "endpoint"
    if server_pid is None:
        for stale in ("endpoint", "checkpoints.json", "status.json", "undeliverable.jsonl"):
            (state / stale).unlink(missing_ok=True)  # a new endpoint has no old state
        log = open(state / "server.log", "ab")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ddbt.local.server",
                "--port",
                str(args.port),
                "--endpoint-file",
                str(endpoint_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (state / "server.pid").write_text(f"{proc.pid}\n")
        deadline = time.time() + 60
        while not endpoint_file.exists():
            if proc.poll() is not None or time.time() > deadline:
                print(
                    f"ddbt: the endpoint did not start; see {state / 'server.log'}", file=sys.stderr
                )
                return 1
            time.sleep(0.1)
    url = endpoint_file.read_text().strip()
    if not _wait_health(url, 30):
        print(f"ddbt: endpoint {url} does not answer", file=sys.stderr)
        return 1
    print(f"endpoint  {url}  (pid {_read_pid(state / 'server.pid')}, log {state / 'server.log'})")
    if not args.no_cache:
        print(_start_cache(state))
    if not args.no_pollers:
        runner_pid = _read_pid(state / "runner.pid")
        if runner_pid is None:
            log = open(state / "runner.log", "ab")
            proc = subprocess.Popen(
                runner_command(url, state, _regions(args)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            (state / "runner.pid").write_text(f"{proc.pid}\n")
            runner_pid = proc.pid
        print(f"pollers   pid {runner_pid}, live lines in {state / 'runner.log'}")
    pairs = [f"{k}={shlex.quote(v)}" for k, v in _exports(url, _regions(args)[0], state)]
    print("\nPoint the AWS CLI, SDKs, Terraform and ddbt (from any folder) at it:")
    print(f"  export {' '.join(pairs[:1])} \\")
    print(f"    {' '.join(pairs[1:3])} \\")
    print(f"    {' '.join(pairs[3:5])} \\")
    if len(pairs) > 6:
        print(f"    {pairs[5]} \\")
        print(f"    {' '.join(pairs[6:])}")
    else:
        print(f"    {pairs[5]}")
    return 0


def _stop(path: Path, name: str, timeout: float) -> bool:
    """Stop the process ``path`` names; False when none was running."""
    pid = _read_pid(path)
    if pid is None:
        path.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while _alive(pid) and time.time() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    print(f"stopped {name} (pid {pid})")
    return True


def _not_running(state: Path) -> str:
    return (
        f"no local cloud is running (state folder {state}): start one with `ddbt local up` or "
        f"`make up`, or point {STATE_ENV} (or --state-dir) at the folder it printed"
    )


def cmd_down(args: argparse.Namespace) -> int:
    state = _state_dir(args)
    stopped = _stop(state / "runner.pid", "pollers", 40)
    log = state / "runner.log"
    if log.exists():
        text = log.read_text(errors="replace")
        marker = text.rfind("== summary ==")
        if marker >= 0:
            print(text[marker:].rstrip())
    stopped = _stop(state / "server.pid", "endpoint", 10) or stopped
    (state / "endpoint").unlink(missing_ok=True)
    stopped = _stop(state / "cache.pid", "cache server", 10) or stopped
    (state / "cache-endpoint").unlink(missing_ok=True)
    if not stopped:
        print(f"nothing to stop: {_not_running(state)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = _state_dir(args)
    server = _read_pid(state / "server.pid")
    runner = _read_pid(state / "runner.pid")
    endpoint = (state / "endpoint").read_text().strip() if (state / "endpoint").exists() else "-"
    if server is None and runner is None:
        print(_not_running(state))
        return 0
    print(f"endpoint {endpoint} ({'pid ' + str(server) if server else 'not running'})")
    print(f"pollers  {'pid ' + str(runner) if runner else 'not running'}")
    cache = _cache_endpoint(state)
    if cache:
        print(f"cache    {cache} (pid {_read_pid(state / 'cache.pid')})")
    status = state / "status.json"
    if status.exists():
        from ddbt.local.report import problems

        data = json.loads(status.read_text())
        for uuid, m in data.get("mappings", {}).items():
            s = m.get("stats") or {}
            print(
                f"  {uuid[:8]} {m['function'].split(':', 6)[-1]}: "
                f"{s.get('invocations', 0)} invocations, {s.get('records_done', 0)} records ok, "
                f"{s.get('filtered', 0)} filtered, {s.get('to_destination', 0)} to destination"
            )
            for problem in problems(s, now=data.get("updated")):
                print(f"    {problem}")
    return 0


def wait_status(state: Path, since: float, timeout: float) -> bool:
    """True once the background pollers report they caught up with everything before
    ``since`` (every enabled mapping discovered, its shards read and idle)."""
    deadline = time.time() + timeout
    path = state / "status.json"
    while time.time() < deadline:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("discovered_at", 0) >= since and data.get("updated", 0) >= since:
            mappings = data.get("mappings", {})
            ok = all(
                m["shards"]
                and all(s["idle"] and s["caught_up_at"] >= since for s in m["shards"].values())
                for m in mappings.values()
            )
            if ok:
                return True
        time.sleep(0.2)
    return False


def cmd_wait(args: argparse.Namespace) -> int:
    state = _state_dir(args)
    if _read_pid(state / "runner.pid") is None:
        print(f"ddbt: the pollers are not running; {_not_running(state)}", file=sys.stderr)
        return 1
    since = time.time()
    if wait_status(state, since, args.timeout):
        return 0
    print(f"ddbt: not caught up after {args.timeout:g}s", file=sys.stderr)
    return 1


def cmd_env(args: argparse.Namespace) -> int:
    url = _endpoint(args)
    assert url is not None  # env has no --no-endpoint
    for name, value in _exports(url, _regions(args)[0], _state_dir(args)):
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _parse_kv(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"ddbt: {what} expects NAME=VALUE, got {value!r}")
        out[key] = rest
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from ddbt.local.model import FunctionSpec, MappingSettings
    from ddbt.local.polling import PollerOptions
    from ddbt.local.report import Report
    from ddbt.local.runtime import Runtime, RuntimeConfig

    endpoint = _endpoint(args)
    state = _state_dir(args)
    regions = _regions(args)
    static = []
    if args.stream_arn:
        if not args.handler:
            raise SystemExit("ddbt: --stream-arn needs --handler and --code")
        region = args.stream_arn.split(":")[3]
        fn_arn = f"arn:aws:lambda:{region}:000000000000:function:{args.function_name}"
        settings = MappingSettings.from_api(
            {
                "UUID": f"adhoc-{args.function_name}",
                "FunctionArn": fn_arn,
                "EventSourceArn": args.stream_arn,
                "State": "Enabled",
                "BatchSize": args.batch_size,
                "MaximumBatchingWindowInSeconds": args.batching_window,
                "StartingPosition": args.starting_position,
                "ParallelizationFactor": args.parallelization_factor,
                "BisectBatchOnFunctionError": args.bisect,
                "MaximumRetryAttempts": args.max_retries,
                "MaximumRecordAgeInSeconds": args.max_record_age,
                "FunctionResponseTypes": ["ReportBatchItemFailures"]
                if args.report_failures
                else [],
                "TumblingWindowInSeconds": args.tumbling_window,
                "DestinationConfig": {"OnFailure": {"Destination": args.destination}}
                if args.destination
                else {},
                "FilterCriteria": {"Filters": [{"Pattern": p} for p in args.filter]}
                if args.filter
                else None,
                "LastModified": time.time(),
            }
        )
        spec = FunctionSpec(
            arn=fn_arn,
            name=args.function_name,
            handler=args.handler,
            runtime="python3.12",
            timeout=args.timeout,
            memory=args.memory,
            environment=_parse_kv(args.env, "--env"),
            code_sha256="",
            code_location=None,
        )
        static.append((settings, spec))
    overrides = {k: Path(v).resolve() for k, v in _parse_kv(args.code, "--code").items()}
    if args.stream_arn and args.code_path:
        overrides[args.function_name] = Path(args.code_path).resolve()
    if endpoint is None and not args.mapping and not static:
        raise SystemExit(
            "ddbt: with --no-endpoint name the mappings to take over (--mapping UUID or "
            "function name; disable them on AWS first) or give an ad-hoc --stream-arn"
        )
    if args.fresh:
        (state / "checkpoints.json").unlink(missing_ok=True)
    options = PollerOptions(
        retry_delay=args.retry_delay,
        latest_from_mapping_time=endpoint is not None,
    )
    report = Report(out=None if args.quiet else sys.stdout)
    runtime = Runtime(
        RuntimeConfig(
            endpoint_url=endpoint,
            regions=regions,
            state_dir=state,
            options=options,
            only_mappings=set(args.mapping),
            include_disabled=endpoint is None,
            code_overrides=overrides,
            static=static,
            status_file=state / "status.json",
        ),
        report,
    )
    where = endpoint or f"AWS ({', '.join(regions)})"
    report.line(
        f"ddbt local run: polling {where}; state in {state}; function logs in {state / 'logs'}"
    )
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=runtime.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    finally:
        thread.join(10)
        runtime.close()
        print("== summary ==")
        print(report.summary(), flush=True)
    return 0


DESCRIPTION = """\
The command line of dynamodb-triggers: a local cloud that runs the deployed functions on a
laptop with Lambda's stream delivery rules (no AWS account, no Docker), and the operations
commands that work the same against it and against a real AWS account.
"""
EPILOG = """\
AWS commands use your usual credentials and region, resolved as the AWS CLI does (--region,
AWS_REGION, AWS_DEFAULT_REGION, your profile), and AWS_ENDPOINT_URL when it is set: after
`make up` (or `ddbt local up`), the export line it prints points them at the local cloud.
Run `ddbt COMMAND --help` for a command's options.
Exit status: 0 done, 1 the command ran and something failed or differs, 2 it could not run
(a one-line message says why; DDBT_DEBUG=1 adds the traceback).
"""
LOCAL = """\
A local AWS endpoint (moto, with documented patches) and pollers that deliver every table's
stream to the functions deployed on it the way Lambda does (batching, filters, retries,
bisection, partial failures, on-failure destinations, tumbling windows).

  ddbt local up          # prints the export line that points AWS tools (and ddbt) at it
  ddbt local status      # from any folder once DDBT_STATE_DIR is exported
  ddbt local down
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dynamodb-triggers")
    except PackageNotFoundError:  # run from a source tree without installing it
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(prog="ddbt", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"ddbt {_version()}")
    top = parser.add_subparsers(dest="group", required=True, metavar="COMMAND", title="commands")
    local = top.add_parser(
        "local",
        help="the local cloud: up, down, status, wait, env, server, run",
        description=LOCAL,
        formatter_class=fmt,
    )
    sub = local.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--state-dir",
            help=f"the local cloud's folder: endpoint, pids, logs, checkpoints "
            f"(default: ${STATE_ENV}, else build/local in the current folder)",
        )
        p.add_argument(
            "--region",
            help="region(s) to find event source mappings in, comma-separated (default: "
            "$AWS_REGION, $AWS_DEFAULT_REGION or your profile's, else us-east-1)",
        )
        return p

    p = common(sub.add_parser("up", help="start the endpoint and the pollers in the background"))
    p.add_argument("--port", type=int, default=0, help="endpoint port (default: a free one)")
    p.add_argument("--no-pollers", action="store_true", help="start only the endpoint")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="start no local Valkey/Redis server for the cache processor",
    )
    p.set_defaults(func=cmd_up)
    p = common(sub.add_parser("down", help="stop them (the pollers print a summary)"))
    p.set_defaults(func=cmd_down)
    p = common(sub.add_parser("status", help="what runs, the endpoint, per-mapping counters"))
    p.set_defaults(func=cmd_status)
    p = common(
        sub.add_parser("wait", help="wait until the pollers processed everything written so far")
    )
    p.add_argument("--timeout", type=float, default=120, help="seconds (default 120)")
    p.set_defaults(func=cmd_wait)
    p = common(sub.add_parser("env", help="shell exports that point AWS tools at the endpoint"))
    p.add_argument("--endpoint-url", help="this endpoint instead of the running one's")
    p.set_defaults(func=cmd_env)
    p = common(sub.add_parser("server", help="the endpoint in the foreground"))
    p.add_argument("--port", type=int, default=0, help="endpoint port (default: a free one)")
    p.set_defaults(func=cmd_server)

    p = common(
        sub.add_parser(
            "run", help="the pollers in the foreground (--no-endpoint: a real account's streams)"
        )
    )
    p.add_argument(
        "--endpoint-url", help="default: $DDBT_ENDPOINT_URL, else the running local cloud's"
    )
    p.add_argument(
        "--no-endpoint",
        action="store_true",
        help="poll a real account with the normal credential chain",
    )
    p.add_argument(
        "--mapping",
        action="append",
        default=[],
        help="only this mapping (UUID or function name); repeatable",
    )
    p.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="FUNCTION=PATH",
        help="run this zip or directory instead of the deployed code",
    )
    p.add_argument("--fresh", action="store_true", help="forget checkpoints")
    p.add_argument("--quiet", action="store_true", help="no live lines")
    p.add_argument(
        "--retry-delay",
        type=float,
        default=0.5,
        help="first retry delay in seconds, doubling up to 5 s (AWS: undocumented)",
    )
    adhoc = p.add_argument_group("ad-hoc mapping (no deployed function needed)")
    adhoc.add_argument("--stream-arn", help="the stream to read")
    adhoc.add_argument("--handler", help="the function's handler setting, e.g. app.handler")
    adhoc.add_argument("--code-path", help="zip or directory with the handler's code")
    adhoc.add_argument(
        "--function-name", default="local-function", help="its name (default local-function)"
    )
    adhoc.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable"
    )
    adhoc.add_argument("--timeout", type=float, default=30, help="seconds (default 30)")
    adhoc.add_argument("--memory", type=int, default=256, help="MB, reported only (default 256)")
    adhoc.add_argument("--batch-size", type=int, default=100, help="BatchSize (default 100)")
    adhoc.add_argument(
        "--batching-window",
        type=float,
        default=0,
        help="MaximumBatchingWindowInSeconds (default 0)",
    )
    adhoc.add_argument(
        "--starting-position",
        default="LATEST",
        choices=["LATEST", "TRIM_HORIZON"],
        help="StartingPosition (default LATEST)",
    )
    adhoc.add_argument(
        "--parallelization-factor", type=int, default=1, help="ParallelizationFactor (default 1)"
    )
    adhoc.add_argument("--bisect", action="store_true", help="BisectBatchOnFunctionError")
    adhoc.add_argument(
        "--max-retries",
        type=int,
        default=-1,
        help="MaximumRetryAttempts (default -1: until expiry)",
    )
    adhoc.add_argument(
        "--max-record-age",
        type=int,
        default=-1,
        help="MaximumRecordAgeInSeconds (default -1: the stream's 24 hours)",
    )
    adhoc.add_argument(
        "--report-failures",
        action="store_true",
        help="FunctionResponseTypes ReportBatchItemFailures",
    )
    adhoc.add_argument(
        "--tumbling-window", type=int, default=0, help="TumblingWindowInSeconds (default 0)"
    )
    adhoc.add_argument("--destination", help="on-failure destination ARN (SQS, SNS, S3)")
    adhoc.add_argument("--filter", action="append", default=[], help="a filter pattern (JSON)")
    p.set_defaults(func=cmd_run)

    from ddbt.ops.commands import add_parsers

    add_parsers(top)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an ordinary mistake is one line on stderr and exit status 2."""
    from ddbt import aws
    from ddbt.mistakes import explain

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(exc.code, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ddbt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        try:
            region = aws.region(getattr(args, "region", None))
        except Exception:
            region = None
        message = explain(exc, region)
        if message is None or os.environ.get("DDBT_DEBUG"):
            raise
        print(f"ddbt: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
