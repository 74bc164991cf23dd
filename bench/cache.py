"""The cache processor (issue 18): CPU per record against a Powertools contender, the sink
round trips with pipelining, and the cold start with the vendored client library.

* **CPU** (``time.process_time``: this process only; the server's work is another process):
  the 1,000-record ``NEW_AND_OLD_IMAGES`` workload batch against a real Valkey/Redis server on
  127.0.0.1 (``ddbt.local.cacheserver``), ours (``CacheProcessor.process``: plan, coalesce, one
  pipelined ``EVALSHA`` per 500 entries) against ``PowertoolsCache``: Powertools'
  ``BatchProcessor`` with a ``record_handler`` doing ``SET`` (the new image as JSON) or
  ``DEL`` per record with redis-py, the way its documentation writes a handler (no ordering:
  it overwrites newer data on a redelivery, which ours never does).
* Round trips per batch: a pipeline's ``execute`` (ours) or a command (the contender). The
  wall time under the round-trip model is ``bench.latency``'s (``EVALSHA``, ``SET``, ``DEL``).
* **Cold start**: a fresh interpreter with the built ``build/handlers.zip`` first on
  ``sys.path`` (the vendored redis-py, as on Lambda): ``import handlers.cache``, build from the
  environment, make the client (``import redis``); against ``import redis`` + ``Redis()``
  alone. Median of ``rounds``, process CPU time, bytecode compiled by an untimed first run.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import imports
from bench import workload as w
from bench.powertools_contenders import PowertoolsCache
from handlers import cache
from handlers.batch import Batch, Budget
from handlers.stream import parse_event

__all__ = ["cold", "cpu"]


class _Context:
    function_name = "bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _ours(client: Any) -> cache.CacheProcessor:
    return cache.CacheProcessor(lambda: client)


def _run_ours(processor: cache.CacheProcessor, event: dict[str, Any]) -> None:
    records = parse_event(event)
    outcome = processor.process(records, Batch(records, records[0].stream_arn, Budget(_Context())))
    if outcome.done != len(records):
        raise AssertionError(f"cache stopped at {outcome}")


def cpu(rounds: int, n: int = w.BATCH) -> dict[str, float]:
    """CPU microseconds per record (median over ``rounds``) and round trips per batch."""
    import redis

    from ddbt.local.cacheserver import CacheServer

    text = w.event_text(n, "NEW_AND_OLD_IMAGES")
    with CacheServer() as server:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        counting = _Counting(client)
        ours = _ours(counting)
        contender = PowertoolsCache(counting)  # bench.powertools_contenders
        samples: dict[str, list[int]] = {"ours": [], "powertools": []}
        trips: dict[str, int] = {}
        for round_ in range(rounds + 1):
            for name in samples:
                client.flushall()
                event = json.loads(text)
                gc.collect()
                counting.trips = 0
                start = time.process_time_ns()
                if name == "ours":
                    _run_ours(ours, event)
                else:
                    contender.handler(event, _Context())
                elapsed = time.process_time_ns() - start
                trips[name] = counting.trips
                contender.release()
                if round_:
                    samples[name].append(elapsed)
        client.close()
    return {
        "cache_us_per_record": statistics.median(samples["ours"]) / 1000 / n,
        "powertools_cache_us_per_record": statistics.median(samples["powertools"]) / 1000 / n,
        "cache_round_trips": float(trips["ours"]),
        "powertools_cache_round_trips": float(trips["powertools"]),
    }


class _Counting:
    """A redis-py client that counts round trips (a pipeline's execute, or a command)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.trips = 0

    def _trip(self) -> None:
        self.trips += 1

    def pipeline(self, **kwargs: Any) -> Any:
        outer = self
        pipe = self.client.pipeline(**kwargs)

        class _Pipe:
            def __init__(self) -> None:
                self.n = 0

            def execute_command(self, *args: Any) -> None:
                self.n += 1
                pipe.execute_command(*args)

            def execute(self, raise_on_error: bool = True) -> list[Any]:
                outer._trip()
                return list(pipe.execute(raise_on_error=raise_on_error))

        return _Pipe()

    def script_load(self, script: str) -> Any:
        self._trip()
        return self.client.script_load(script)

    def set(self, *args: Any) -> Any:
        self._trip()
        return self.client.set(*args)

    def delete(self, *args: Any) -> Any:
        self._trip()
        return self.client.delete(*args)


_COLD = """
import sys, time
sys.path.insert(0, {path!r})
t0 = time.process_time()
{body}
t1 = time.process_time()
print(t1 - t0)
"""
_OURS = """
import os
import handlers.cache as m
m.build(os.environ).client()
import redis
assert redis.__file__.startswith(sys.path[0]), redis.__file__
"""
_REDIS = """
import redis
redis.Redis(host="127.0.0.1", port=6379)
"""


def cold(rounds: int, zip_path: Path) -> dict[str, float]:
    """CPU ms of a cold start with the vendored library, against redis-py alone."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update({"CACHE_ENDPOINT": "127.0.0.1:6379", "CACHE_TLS": "false"})
        kinds = {"cold_ms_cache": _OURS, "cold_ms_redis": _REDIS}
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        for round_ in range(rounds + 1):
            for kind, body in kinds.items():
                (ms,) = imports.child_ms(_COLD.format(path=tmp, body=body), env, Path(tmp))
                if round_:
                    samples[kind].append(ms)
    return {k: statistics.median(v) for k, v in samples.items()}
