"""Sink latency: wall milliseconds per 1,000 records when every sink call waits a round trip.

Lambda bills the time a function waits for its sinks, and at parallelization factor 1 that
wait also caps a shard's records per second. The round trips are issue 14's in-region model
(``RTT_MS``). The stub client (``LatencyClient``) sleeps the round trip of each call (the GIL
is released while it sleeps, as it is while botocore waits on a socket) and lets at most
``pool`` calls be in flight at once: the connection pool of the client the handlers would make
(``handlers.aws.pool_size``, after building the processors from the environment), so
concurrency beyond the pool buys nothing here, as in Lambda.

Contenders, in one run, on the 1,000-record ``NEW_AND_OLD_IMAGES`` workload batch:

* **ours**: each processor as its entry point runs it (``run_batch``, with a checkpoint table
  on the stub: one ``GetItem`` at the batch's start, as the module configures every
  function), built from the environment with the handlers' defaults; the pipeline of the six,
  run at once. Median of ``rounds`` runs.
* **one call at a time**: the same processors with every concurrency setting 1 (and the
  ETL's objects one at a time), the pipeline's processors one after another
  (``run_batch(concurrent=False)``): the behaviour before issue 14, except that view and
  replicate still coalesce a batch's changes per item (that is not concurrency; the
  Powertools contenders show one write per change). One run (the sleeps dominate).
* **Powertools**: ``bench.powertools_contenders`` (their calls one at a time, as their
  ``record_handler`` makes them). One run.

The limit of a run: per client, its calls' round trips divided by its pool size (the wait
if every slot were always busy); the largest client's (clients wait side by side) plus the
run's CPU time (``time.process_time``: every thread's). Per 1,000 records throughout.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import ours
from bench import powertools_contenders as pt
from bench import workload as w
from bench.stubs import CountingClient

__all__ = ["NAMES", "RTT_MS", "LatencyClient", "Run", "measure"]

NAMES = ("notification", "eventbus", "view", "replicate", "etl", "analytics")
# Issue 14's round-trip model, milliseconds per call.
RTT_MS = {
    "PutObject": 40.0,
    "PublishBatch": 20.0,
    "PutEvents": 20.0,
    "PutItem": 6.0,
    "UpdateItem": 6.0,
    "GetItem": 4.0,
    "TransactWriteItems": 25.0,
}
SERVICES = {"s3": "s3", "sns": "sns", "events": "events", "dynamodb": "dynamodb"}
CHECKPOINT_TABLE = "bench-checkpoints"


class LatencyClient(CountingClient):
    """The counting stub, with each call's round trip slept and at most ``pool`` calls in
    flight at once (a call waits for a free connection first); ``most`` is the most seen."""

    def __init__(self, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.most = 0
        self._now = 0
        self._slots = threading.BoundedSemaphore(pool)

    def _note(self, operation: str, params: dict[str, Any]) -> None:
        super()._note(operation, params)
        with self._slots:
            with self._lock:
                self._now += 1
                self.most = max(self.most, self._now)
            time.sleep(RTT_MS[operation] / 1000)
            with self._lock:
                self._now -= 1

    def busy_ms(self) -> float:
        """The calls' round trips divided by the pool: this client's part of the limit."""
        return sum(RTT_MS[op] * n for op, n in self.calls.items()) / self.pool


@dataclass
class Run:
    """One contender's run: wall and CPU milliseconds, and the stub clients it used."""

    wall_ms: float
    cpu_ms: float
    clients: dict[str, LatencyClient] = field(default_factory=dict)

    def limit_ms(self) -> float:
        return max((c.busy_ms() for c in self.clients.values()), default=0.0) + self.cpu_ms


def _environment(names: tuple[str, ...], one_at_a_time: bool) -> dict[str, str]:
    partition, sort = w.VIEW_KEY
    env = {
        "AWS_REGION": w.REGION,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "CHECKPOINT_TABLE": CHECKPOINT_TABLE,
        "PROCESSORS": ",".join(names),
        "ETL_BUCKET": w.BUCKET,
        "ETL_PREFIX": w.PREFIX,
        "NOTIFY_TOPIC_ARN": w.TOPIC_ARN,
        "AGGREGATES_TABLE": w.AGGREGATES_TABLE,
        "ANALYTICS_GROUP_BY": ",".join(w.GROUP_BY),
        "EVENTBUS_NAME": w.EVENT_BUS,
        "VIEW_TABLE": w.VIEW_TABLE,
        "VIEW_PARTITION_KEY": partition,
        "VIEW_SORT_KEY": sort,
        "VIEW_ATTRIBUTES": ",".join(w.VIEW_ATTRIBUTES),
        "REPLICA_TABLE": w.REPLICA_TABLE,
    }
    if one_at_a_time:
        for name in (
            "NOTIFY_PUBLISH_CONCURRENCY",
            "EVENTBUS_PUBLISH_CONCURRENCY",
            "VIEW_WRITE_CONCURRENCY",
            "REPLICATE_WRITE_CONCURRENCY",
        ):
            env[name] = "1"
    return env


def _ours(names: tuple[str, ...], text: str, one_at_a_time: bool) -> Run:
    """The processors ``names`` built as the entry points build them, run by ``run_batch``
    over the event, every sink a ``LatencyClient`` with the pool the handlers would use."""
    from handlers import aws, pipeline, runtime
    from handlers.batch import run_batch

    runtime.reset()
    aws.reset_clients()
    try:
        env = _environment(names, one_at_a_time)
        processors = pipeline.build(env)
        if one_at_a_time:
            for processor in processors:
                if processor.name == "etl":
                    processor.workers = 1  # type: ignore[attr-defined]
        clients = {s: LatencyClient(aws.pool_size(s)) for s in SERVICES}
        for service, client in clients.items():
            aws.set_client(service, client)
        store = runtime.checkpoint_store(env, required=True)
        event = json.loads(text)
        with contextlib.redirect_stdout(io.StringIO()):
            wall, cpu = time.perf_counter(), time.process_time()
            response = run_batch(
                event, ours.Context(), processors, store, concurrent=not one_at_a_time
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        runtime.reset()
        aws.reset_clients()
    if response["batchItemFailures"]:
        raise AssertionError(f"{names}: {response['batchItemFailures'][:1]}")
    used = {s: c for s, c in clients.items() if c.calls}
    return Run(wall * 1000, cpu * 1000, used)


def _powertools(name: str, text: str) -> Run:
    client = LatencyClient(1)  # their calls are one at a time: the pool is never the limit
    contender = pt.build(name, client)
    event = json.loads(text)
    wall, cpu = time.perf_counter(), time.process_time()
    response = contender.handler(event, ours.Context())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    contender.release()
    if response["batchItemFailures"]:
        raise AssertionError(f"powertools {name}: {response['batchItemFailures'][:1]}")
    return Run(wall * 1000, cpu * 1000, {"all": client})


def _median(runs: list[Run]) -> Run:
    """The run of median wall time (its CPU and clients with it)."""
    return sorted(runs, key=lambda r: r.wall_ms)[len(runs) // 2]


def measure(rounds: int = 3) -> dict[str, Any]:
    """Every contender's ``Run`` by key (``<name>``, ``pipeline``, ``one_<name>``,
    ``one_pipeline``, ``powertools_<name>``), ours the median of ``rounds`` runs (rounds
    interleaved), plus ``distinct_items`` of the batch."""
    text = json.dumps(w.event(w.BATCH, "NEW_AND_OLD_IMAGES"))
    jobs: dict[str, Callable[[], Run]] = {}
    for name in NAMES:
        jobs[name] = lambda n=name: _ours((n,), text, False)  # type: ignore[misc]
    jobs["pipeline"] = lambda: _ours(ours.NAMES, text, False)
    samples: dict[str, list[Run]] = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, job in jobs.items():
            samples[key].append(job())
    out: dict[str, Any] = {key: _median(runs) for key, runs in samples.items()}
    for name in NAMES:
        out[f"one_{name}"] = _ours((name,), text, True)
        out[f"powertools_{name}"] = _powertools(name, text)
    out["one_pipeline"] = _ours(ours.NAMES, text, True)
    keys = {r["dynamodb"]["Keys"]["application_id"]["S"] for r in json.loads(text)["Records"]}
    out["distinct_items"] = len(keys)
    return out
