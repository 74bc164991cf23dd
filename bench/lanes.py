"""Records per second of the view and replicate processors when every write waits a round trip.

Each of their changes is one conditional ``PutItem``: in Lambda the function waits for
DynamoDB, not for its CPU. The stub client here sleeps ``LATENCY_S`` per call (the GIL is
released while it sleeps, as it is while botocore waits on a socket), and the figure is the
wall time of ``parse_event`` + ``process()`` over the 1,000-record workload batch: one write
at a time (``workers=1``) against the default lanes (``WRITE_CONCURRENCY``), in the same run.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench import ours
from bench import workload as w
from bench.stubs import CountingClient
from handlers.versioned import WRITE_CONCURRENCY

__all__ = ["LATENCY_S", "NAMES", "measure"]

# A PutItem round trip inside a region is a few milliseconds; 2 ms is the fast end (a replica
# in another region waits tens of milliseconds, where lanes gain more, not less).
LATENCY_S = 0.002
NAMES = ("view", "replicate")


class SlowClient(CountingClient):
    """The counting stub, with a round trip of ``LATENCY_S`` per DynamoDB call."""

    def put_item(self, **params: Any) -> dict[str, Any]:
        time.sleep(LATENCY_S)
        return super().put_item(**params)

    def get_item(self, **params: Any) -> dict[str, Any]:
        time.sleep(LATENCY_S)
        return super().get_item(**params)


def _wall(name: str, workers: int, text: str) -> float:
    client = SlowClient()
    processor: Any = ours.build(name, client)
    processor.workers = workers
    event = json.loads(text)
    started = time.perf_counter()
    ours.process(processor, event, ours.Context())
    elapsed = time.perf_counter() - started
    if client.calls["PutItem"] < w.BATCH:
        raise AssertionError(f"{name} wrote {client.calls['PutItem']} items for {w.BATCH}")
    return elapsed


def measure(rounds: int = 3) -> dict[str, float]:
    """``<name>_lanes_<n>_records_per_s`` for n = 1 and the default, median of ``rounds``
    runs each, interleaved."""
    text = json.dumps(w.event(w.BATCH, "NEW_AND_OLD_IMAGES"))
    out: dict[str, float] = {}
    for name in NAMES:
        times: dict[int, list[float]] = {1: [], WRITE_CONCURRENCY: []}
        for _ in range(rounds):
            for workers in times:
                times[workers].append(_wall(name, workers, text))
        for workers, walls in times.items():
            out[f"{name}_lanes_{workers}_records_per_s"] = w.BATCH / statistics.median(walls)
    return out
