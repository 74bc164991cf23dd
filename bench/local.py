"""Local-runtime figures: ``terraform apply`` of ``examples/complete`` against the local
endpoint, then 5,000 item writes through the ``ddbt`` pollers to the sinks.

Steps (state in ``build/bench-local``, removed first; nothing touches a real account):

1. ``ddbt local up``: the endpoint (moto) and the pollers, as background processes.
2. ``terraform init`` (untimed; the provider comes from the local mirror when
   ``scripts/tf-cli-config.sh`` finds one), then ``terraform apply`` of ``examples/complete``,
   timed: ``apply_s_complete``. The slowest resources are read from the apply log.
3. 5,000 ``PutItem`` calls from 4 threads (60% new applications, 40% status changes of
   earlier ones; compact items of about 200 bytes, each with a unique ``write_id``). The
   write time of a record is when its ``PutItem`` returned. Meanwhile a thread lists the ETL
   bucket every 0.2 s and reads each new object; a record's sink time is the end of the
   listing that first showed it (so lags are over-estimated by at most one poll).
   ETL runs last in the example's pipeline, so its object is the record's last sink write.
   The drain waits while records keep arriving (a slow pipeline is measured; one that makes
   no progress for 60 s is reported).
4. Then 300 new applications written by one writer at half the end-to-end rate of step 3:
   their lags. Under the burst of step 3 the lag would measure the backlog of the pipeline
   (six processors against moto process fewer records per second than moto accepts
   writes), not how quickly the runtime delivers.
5. ``ddbt local down``.

The functions run the code Terraform ships: the module's default, ``dist/handlers.zip``
(``make dist`` refreshes it from the working tree); the table says whether it matches
``build/handlers.zip``.

Figures: ``local_records_per_s`` (5,000 / first write to last sink write),
``local_writes_per_s`` (what the moto endpoint accepted: 5,000 / first to last write),
``local_paced_writes_per_s`` (the rate of step 4), ``local_lag_p50_ms`` /
``local_lag_p99_ms`` (step 4), ``local_endpoint_cpu_share`` (the endpoint process's CPU
seconds per second of the burst: near 1, one Python process's most, it is what bounds the
burst). A step that fails leaves its figures out and
says why ("not measured: ..."); never a made-up number.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["measure"]

Result = tuple[str, str, float | str, str, bool | None, str]
REGION = "us-east-1"
WRITES = 5000
WRITERS = 4
POLL_S = 0.2
PACED_WRITES = 300
DRAIN_TIMEOUT_S = 60


class _Skip(Exception):
    """A precondition or step failed: the figures it would give are not measured."""


def _run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> str:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    log.write_text(result.stdout + result.stderr)
    if result.returncode:
        raise _Skip(f"`{' '.join(cmd[:2])}` failed ({result.returncode}), see {log}")
    return result.stdout


def _ddbt(state: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "ddbt.cli", "local", *args, "--state-dir", str(state)]
    if args[0] == "up":
        cmd += ["--region", REGION]
    _run(cmd, dict(os.environ), state.parent, state / f"ddbt-{args[0]}.log")


def _tf_env(root: Path, state: Path, endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TF_DATA_DIR": str(state / "tfdata"),
            "TF_IN_AUTOMATION": "1",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    config = subprocess.run(
        ["bash", str(root / "scripts" / "tf-cli-config.sh"), str(state / "terraformrc")],
        capture_output=True,
        text=True,
        check=False,
    )
    if config.returncode == 0 and config.stdout.strip():
        env["TF_CLI_CONFIG_FILE"] = config.stdout.strip()
    return env


def _slowest(apply_log: str, count: int = 3) -> str:
    """The resources that took longest to create, from ``terraform apply`` output."""
    found = re.findall(r"([\w.\[\]\"-]+): Creation complete after (?:(\d+)m)?(\d+)s", apply_log)
    times = sorted(((int(m or 0) * 60 + int(s), name) for name, m, s in found), reverse=True)
    return ", ".join(
        f"{name.removeprefix('module.triggers.')} {seconds}s" for seconds, name in times[:count]
    )


def _unusable(root: Path) -> str:
    try:
        import ddbt.cli  # noqa: F401
    except Exception as exc:  # any import problem means the runtime is not usable
        return f"the local runtime (ddbt) does not import ({exc!r:.120})"
    if shutil.which("terraform") is None:
        return "terraform is not on PATH"
    if not (root / "examples" / "complete" / "main.tf").exists():
        return "examples/complete is missing"
    if not (root / "dist" / "handlers.zip").exists():
        return "dist/handlers.zip (the code examples/complete deploys) is missing"
    return ""


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _items(seed: int = 5) -> list[dict[str, Any]]:
    """5,000 writes: new applications, then status changes of earlier ones, interleaved."""
    rng = random.Random(seed)
    statuses = ("SCREEN", "INTERVIEW", "OFFER", "REJECTED")
    created: list[int] = []
    items = []
    for write_id in range(WRITES):
        if created and rng.random() < 0.4:
            app, status = rng.choice(created), rng.choice(statuses)
        else:
            app, status = len(created), "APPLIED"
            created.append(app)
        items.append(
            {
                "application_id": {"S": f"bench-app-{app:05d}"},
                "job_id": {"S": f"job-{app % 12:04d}"},
                "status": {"S": status},
                "candidate": {"S": f"Candidate {app}"},
                "email": {"S": f"candidate{app}@example.com"},
                "salary_expectation": {"N": f"{40_000 + app * 7}.50"},
                "skills": {"SS": ["python", "aws", "dynamodb"]},
                "write_id": {"N": str(write_id)},
            }
        )
    return items


def _writes(
    endpoint: str, table: str, bucket: str, items: list[dict[str, Any]], rate: float = 0.0
) -> tuple[dict[int, float], dict[int, float], float, float]:
    """Write ``items`` (``WRITERS`` threads as fast as the endpoint takes them, or one writer
    at ``rate`` writes/s); wait until every one is in the ETL bucket. Returns when each was
    written and first seen there (by ``write_id``), the first write's start and the last
    write's end."""
    ids = {int(item["write_id"]["N"]) for item in items}
    written: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()
    errors: list[str] = []

    def watch() -> None:
        s3 = _client("s3", endpoint)
        read: set[str] = set()
        while not stop.is_set():
            try:
                keys = [
                    o["Key"]
                    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                    for o in page.get("Contents", [])
                ]
                listed = time.time()
                for key in keys:
                    if key in read:
                        continue
                    read.add(key)
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    for line in gzip.decompress(body).splitlines():
                        image = json.loads(line).get("newImage") or {}
                        if int(image.get("write_id", -1)) in ids:
                            seen.setdefault(int(image["write_id"]), listed)
            except Exception as exc:  # keep watching; report the last problem if it stalls
                errors[:] = [repr(exc)[:200]]
            stop.wait(POLL_S)

    local = threading.local()

    def put(item: dict[str, Any]) -> None:
        ddb = getattr(local, "ddb", None)
        if ddb is None:
            ddb = local.ddb = _client("dynamodb", endpoint)
        ddb.put_item(TableName=table, Item=item)
        written[int(item["write_id"]["N"])] = time.time()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        first = time.time()
        if rate:
            for n, item in enumerate(items):
                time.sleep(max(0.0, first + n / rate - time.time()))
                put(item)
        else:
            with ThreadPoolExecutor(WRITERS) as pool:
                list(pool.map(put, items))
        last_write = max(written.values())
        # Wait while records keep arriving: give up only after DRAIN_TIMEOUT_S without one
        # (a slow pipeline is measured, a stuck one is reported).
        count, progressed = len(seen), time.time()
        while len(seen) < len(ids) and time.time() - progressed < DRAIN_TIMEOUT_S:
            time.sleep(POLL_S)
            if len(seen) != count:
                count, progressed = len(seen), time.time()
    finally:
        stop.set()
        watcher.join(timeout=30)
    if len(seen) < len(ids):
        raise _Skip(
            f"only {len(seen)} of {len(ids)} records reached the ETL bucket, none in the last "
            f"{DRAIN_TIMEOUT_S} s{' (' + errors[0] + ')' if errors else ''}"
        )
    return written, seen, first, last_write


def _cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def _stream(endpoint: str, table: str, bucket: str, server: int | None) -> dict[str, float]:
    """The burst (throughput), then paced writes at half the burst's end-to-end rate (lag:
    under a burst the pipeline's backlog, not the runtime, would decide it). ``server``: the
    endpoint's process, whose CPU over the burst says whether it bounds the throughput."""
    items = _items()
    before = _cpu_s(server)
    _, seen, first, last_write = _writes(endpoint, table, bucket, items)
    after = _cpu_s(server)
    records_per_s = WRITES / (max(seen.values()) - first)
    rate = records_per_s / 2
    written, seen, _, _ = _writes(endpoint, table, bucket, _paced_items(), rate)
    lags = sorted((seen[i] - written[i]) * 1000 for i in written)
    busy: dict[str, float] = {}
    if before is not None and after is not None:
        # One Python process: with the GIL it uses at most about one core.
        busy["local_endpoint_cpu_share"] = (after - before) / (max(seen.values()) - first)
    return {
        **busy,
        "local_records_per_s": records_per_s,
        "local_writes_per_s": WRITES / (last_write - first),
        "local_paced_writes_per_s": rate,
        "local_lag_p50_ms": lags[len(lags) // 2],
        "local_lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
    }


def _paced_items() -> list[dict[str, Any]]:
    """``PACED_WRITES`` new applications, ``write_id`` after the burst's."""
    items = _items(seed=6)[:PACED_WRITES]
    for n, item in enumerate(items):
        item["application_id"] = {"S": f"bench-paced-{n:05d}"}
        item["write_id"] = {"N": str(WRITES + n)}
    return items


def _window(endpoint: str) -> float:
    mappings = _client("lambda", endpoint).list_event_source_mappings()["EventSourceMappings"]
    return float(max((m.get("MaximumBatchingWindowInSeconds") or 0) for m in mappings))


LABELS = {
    "apply_s_complete": "terraform apply examples/complete, s",
    "local_records_per_s": f"local: {WRITES:,} writes, first write to last sink write, rec/s",
    "local_writes_per_s": "local: writes the moto endpoint accepted, writes/s",
    "local_endpoint_cpu_share": "local: the endpoint's CPU during the burst, cores",
    "local_paced_writes_per_s": f"local: then {PACED_WRITES} writes at half that rec/s, writes/s",
    "local_lag_p50_ms": "local: lag write -> ETL object (paced), p50 ms",
    "local_lag_p99_ms": "local: lag write -> ETL object (paced), p99 ms",
}


class LocalRun:
    """The local figures in two halves: ``start`` brings the local cloud up and applies the
    example in a background thread (mostly waiting on the AWS provider), so that other,
    untimed or CPU-time figures can be taken meanwhile; ``finish`` waits for it, streams the
    writes, stops the local cloud and returns the results."""

    def __init__(self, root: Path, skip: bool) -> None:
        self.root = root
        self.state = root / "build" / "bench-local"
        self.targets = dict.fromkeys(LABELS, "")
        self.notes = dict.fromkeys(LABELS, "")
        self.values: dict[str, float | str] = {}
        self.bound = 1000.0
        self.reason = "skipped (--skip-local)" if skip else _unusable(root)
        self.started = False
        self.outputs: dict[str, Any] = {}
        self.endpoint = ""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.reason:
            return
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(parents=True)
        self.started = True
        self._thread = threading.Thread(target=self._guarded, args=(self._setup,), daemon=True)
        self._thread.start()

    def _guarded(self, step: Any) -> None:
        try:
            step()
        except _Skip as exc:
            self.reason = str(exc)
        except Exception as exc:  # report, never crash the other figures
            self.reason = f"{type(exc).__name__}: {exc}"[:300]

    def _setup(self) -> None:
        state = self.state
        _ddbt(state, "up")
        self.endpoint = (state / "endpoint").read_text().strip()
        env = _tf_env(self.root, state, self.endpoint)
        example = self.root / "examples" / "complete"
        tfstate = f"-state={state / 'terraform.tfstate'}"
        _run(["terraform", "init", "-input=false", "-no-color"], env, example, state / "init.log")
        started = time.monotonic()
        log = _run(
            ["terraform", "apply", "-input=false", "-no-color", "-auto-approve", tfstate],
            env,
            example,
            state / "apply.log",
        )
        self.values["apply_s_complete"] = time.monotonic() - started
        self.targets["apply_s_complete"] = "report, explain"
        self.notes["apply_s_complete"] = f"slowest: {_slowest(log)}"
        output = _run(["terraform", "output", "-json", tfstate], env, example, state / "out.log")
        self.outputs = json.loads(output)

    def _measure(self) -> None:
        window = _window(self.endpoint)
        self.bound = (window + 1) * 1000
        self.targets["local_lag_p50_ms"] = f"< window {window:g} s + 1 s = {self.bound:.0f}"
        self.targets["local_writes_per_s"] = "the bound (moto)"
        pid = (self.state / "server.pid").read_text().strip()
        self.values.update(
            _stream(
                self.endpoint,
                self.outputs["table_name"]["value"],
                self.outputs["etl_bucket_name"]["value"],
                int(pid) if pid.isdigit() else None,
            )
        )

    def finish(self) -> list[Result]:
        """[(figure, label, value or why not measured, target, met, note)], LABELS order."""
        if self._thread is not None:
            self._thread.join()
            if not self.reason:
                self._guarded(self._measure)
        self.stop()
        results: list[Result] = []
        for key, label in LABELS.items():
            value = self.values.get(key, self.reason or "not reached")
            ok = None
            if key == "local_lag_p50_ms" and isinstance(value, float):
                ok = value < self.bound
            results.append((key, label, value, self.targets[key], ok, self.notes[key]))
        return results

    def stop(self) -> None:
        """Stop the local cloud this run started (idempotent)."""
        if self.started:
            self.started = False
            if self._thread is not None:
                self._thread.join()
            try:
                _ddbt(self.state, "down")
            except _Skip:
                pass


def measure(root: Path, skip: bool) -> list[Result]:
    """Both halves in sequence (see ``LocalRun``)."""
    run = LocalRun(root, skip)
    run.start()
    return run.finish()
